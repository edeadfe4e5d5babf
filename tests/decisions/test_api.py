"""The decision service's routes against the real model server and a real SQLite file."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from fastapi.testclient import TestClient

from decisions.app import create_app
from tests.conftest import free_port
from tests.decisions.conftest import ALICE, SUE, SYSTEM, service_settings

pytestmark = pytest.mark.server
CATALOGUE_PROTECTED = {"protected"}


def test_profile_and_unknown_client(service, scored_ids):
    cid = scored_ids["granted"][0]
    answer = service.get(f"/clients/{cid}", headers=SYSTEM)
    assert answer.status_code == 200
    body = answer.json()
    assert body["client_id"] == cid and body["dataset"] == "test"
    assert "Credit amount" in " ".join(body["profile"]) and body["profile"]["Age"].endswith(
        "years")
    missing = service.get("/clients/1", headers=SYSTEM)
    assert missing.status_code == 404 and "SK_ID_CURR 1" in missing.json()["detail"]


def test_score_of_a_refused_client(service, scored_ids, system):
    cid = scored_ids["refused"][0]
    body = service.get(f"/clients/{cid}/score", auth=ALICE).json()
    assert body["decision"] == "refused" and body["probability"] >= body["threshold"]
    assert body["model"] == {"name": "credit-scoring", "version": str(system.champion),
                             "alias": "champion"}
    assert len(body["inputs_hash"]) == 64
    assert 1 <= len(body["reasons"]) <= 4
    assert not {r["group"] for r in body["reasons"]} & CATALOGUE_PROTECTED
    sizes = [r["contribution"] for r in body["reasons"]]
    assert sizes == sorted(sizes, reverse=True) and min(sizes) > 0
    assert all(r["en"] and r["fr"] for r in body["reasons"])


def test_the_score_answer_is_a_score_out_and_documented(service, scored_ids):
    """The score route writes its answer itself (no pydantic on the way out): it is what
    ``ScoreOut`` gives, for granted and refused clients, and the OpenAPI page still says
    how to call it (credentials, X-Acting-For)."""
    from decisions.schemas import ScoreOut

    for cid in [*scored_ids["refused"][:5], *scored_ids["granted"][:5]]:
        answer = service.get(f"/clients/{cid}/score", headers=SYSTEM)
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert ScoreOut.model_validate(body).model_dump(mode="json") == body
    paths = service.get("/openapi.json").json()["paths"]
    score, profile = paths["/clients/{client_id}/score"]["get"], paths["/clients/{client_id}"][
        "get"]
    assert score["security"] == profile["security"]
    assert {p["name"] for p in score["parameters"]} == {"client_id", "recourse", "X-Acting-For"}
    assert score["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScoreOut"}


def test_recourse_proposals_are_granted_and_touch_only_amounts(service, scored_ids):
    """Each proposal, sent back as a new application, is granted by the model server."""
    from scoring.store import read_clients

    proposals = []
    for cid in scored_ids["refused"][:8]:
        body = service.get(f"/clients/{cid}/score", headers=SYSTEM).json()
        proposals += [(cid, p) for p in body["recourse"]]
        if body["recourse"]:
            assert len(body["recourse"]) <= 3 and body["recourse_note"] is None
    assert proposals, "no refused client of the sample got a recourse proposal"
    cid, proposal = proposals[0]
    assert set(proposal["fields"]) <= {"AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE"}
    assert all(c["proposed"] < c["current"] for c in proposal["fields"].values())
    row = read_clients([cid], service.app.state.settings.store).iloc[0]
    application = _application(row)
    for name, change in proposal["fields"].items():
        application[name] = change["proposed"]
    again = service.post("/applications/score", json=application, headers=SYSTEM).json()
    assert again["decision"] == "granted"
    assert again["probability"] == pytest.approx(proposal["probability"])


def _application(row) -> dict:
    """A stored client as the body of POST /applications/score."""
    import pandas as pd

    from scoring.features import HISTORY_FEATURES
    from scoring.schema import APPLICATION_TEST

    def plain(v):
        return None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)

    body = {c.name: plain(row[c.name]) for c in APPLICATION_TEST.columns}
    body["history"] = {f: plain(row[f]) for f in HISTORY_FEATURES if f in row.index}
    return body


def test_new_application_and_malformed_bodies(service, scored_ids, system):
    from scoring.store import read_clients

    row = read_clients([scored_ids["granted"][0]], system.store).iloc[0]
    application = _application(row)
    stored = service.get(f"/clients/{scored_ids['granted'][0]}/score", headers=SYSTEM).json()
    fresh = service.post("/applications/score", json=application, headers=SYSTEM)
    assert fresh.status_code == 200
    assert fresh.json()["probability"] == pytest.approx(stored["probability"])

    def problem(changes: dict, drop: str | None = None) -> tuple[int, str]:
        body = {**application, **changes}
        body.pop(drop, None)
        answer = service.post("/applications/score", json=body, headers=SYSTEM)
        return answer.status_code, str(answer.json()["detail"])

    code, detail = problem({}, drop="AMT_CREDIT")
    assert code == 422 and "AMT_CREDIT" in detail
    code, detail = problem({"CODE_GENDER": "Q"})
    assert code == 422 and "CODE_GENDER" in detail
    code, detail = problem({"AMT_INCOME_TOTAL": "a lot"})
    assert code == 422 and "AMT_INCOME_TOTAL" in detail
    code, detail = problem({"DAYS_BIRTH": 5000})  # the model server's plausibility check
    assert code == 422 and "DAYS_BIRTH" in detail
    code, detail = problem({"history": {"NOT_A_FEATURE": 1.0}})
    assert code == 422 and "NOT_A_FEATURE" in detail
    for changes, field in (({"AMT_CREDIT": True}, "AMT_CREDIT"),
                           ({"CNT_CHILDREN": False}, "CNT_CHILDREN"),
                           ({"history": {"BURO_COUNT": True}}, "BURO_COUNT")):
        code, detail = problem(changes)  # a JSON boolean is not the number 1
        assert code == 422 and field in detail and "boolean" in detail


def test_large_inputs_are_never_echoed_and_a_huge_id_is_a_4xx(service, scored_ids, system):
    from scoring.store import read_clients

    application = _application(read_clients([scored_ids["granted"][0]], system.store).iloc[0])
    big = "x" * 1_000_000
    for changes in ({"CODE_GENDER": big}, {"AMT_CREDIT": big}, {"NOT_A_FIELD": big},
                    {"history": {"BURO_COUNT": big}}):
        answer = service.post("/applications/score", json={**application, **changes},
                              headers=SYSTEM)
        assert answer.status_code == 422 and len(answer.content) < 5_000, answer.text[:300]
    for path in ("/clients/99999999999999999999999/score", "/clients/-5/score",
                 "/clients/99999999999999999999999"):
        answer = service.get(path, headers=SYSTEM)
        assert answer.status_code == 404, (path, answer.text[:300])


def test_decisions_follow_override_list_and_filters(service, scored_ids):
    refused, granted = scored_ids["refused"][0], scored_ids["granted"][0]
    follow = service.post(f"/clients/{refused}/decisions", json={"action": "follow"},
                          auth=ALICE)
    assert follow.status_code == 201, follow.text
    assert follow.json()["final_decision"] == "refused" == follow.json()["model_decision"]
    assert follow.json()["advisor"] == "alice"

    no_reason = service.post(f"/clients/{granted}/decisions", json={"action": "override"},
                             auth=("bob", "bob-pw"))
    assert no_reason.status_code == 422 and "reason_code" in str(no_reason.json())
    bad_code = service.post(f"/clients/{granted}/decisions", auth=("bob", "bob-pw"),
                            json={"action": "override", "reason_code": "I_FEEL_LIKE_IT",
                                  "reason_text": "x"})
    assert bad_code.status_code == 422 and "reason_code" in str(bad_code.json())
    override = service.post(f"/clients/{granted}/decisions", auth=("bob", "bob-pw"),
                            json={"action": "override", "reason_code": "FRAUD_SUSPICION",
                                  "reason_text": "identity documents do not match"})
    assert override.status_code == 201, override.text
    stored = override.json()
    assert (stored["model_decision"], stored["final_decision"]) == ("granted", "refused")
    assert stored["previous_hash"] == follow.json()["record_hash"]

    def listed(**params) -> list[int]:
        body = service.get("/decisions", params=params, auth=SUE).json()
        return [d["id"] for d in body["decisions"]]

    assert listed() == [2, 1]
    assert listed(advisor="bob") == [2] and listed(client_id=refused) == [1]
    assert listed(overrides_only=True) == [2]
    assert listed(since=follow.json()["recorded_at"]) == [2, 1]
    assert listed(until="2000-01-01T00:00:00Z") == []
    assert service.get("/decisions/verify", auth=SUE).json()["ok"] is True


def test_verify_names_a_row_edited_in_the_database(service, scored_ids, tmp_path):
    for cid in scored_ids["refused"][:3]:
        assert service.post(f"/clients/{cid}/decisions", json={"action": "follow"},
                            auth=ALICE).status_code == 201
    with sqlite3.connect(tmp_path / "decisions.db") as conn:
        conn.execute("DROP TRIGGER decision_records_no_update")
        conn.execute("UPDATE decision_records SET advisor='mallory' WHERE id=2")
    body = service.get("/decisions/verify", auth=SUE).json()
    assert body["ok"] is False and body["broken_id"] == 2 and "altered" in body["problem"]


def test_auth(service, scored_ids):
    cid = scored_ids["refused"][0]
    assert service.get(f"/clients/{cid}").status_code == 401
    assert service.get(f"/clients/{cid}", headers={"X-API-Key": "wrong"}).status_code == 401
    assert service.get(f"/clients/{cid}", auth=("alice", "wrong")).status_code == 401
    # a system reads but does not record decisions: those carry an advisor
    answer = service.post(f"/clients/{cid}/decisions", json={"action": "follow"},
                          headers=SYSTEM)
    assert answer.status_code == 403 and "advisor" in answer.json()["detail"]
    assert service.get("/health").status_code == 200
    assert service.get("/docs").status_code == 200


def test_model_server_down_is_503_and_nothing_is_stored(system, scored_ids, users_json,
                                                        tmp_path):
    settings = service_settings(tmp_path / "d.db", f"http://127.0.0.1:{free_port()}",
                                system.store, users_json, model_timeout=2.0)
    with TestClient(create_app(settings)) as down:
        cid = scored_ids["refused"][0]
        answer = down.get(f"/clients/{cid}/score", headers=SYSTEM)
        assert answer.status_code == 503 and "model server" in answer.json()["detail"]
        answer = down.post(f"/clients/{cid}/decisions", json={"action": "follow"},
                           auth=ALICE)
        assert answer.status_code == 503
        assert down.get("/decisions", auth=SUE).json()["total"] == 0
        health = down.get("/health")  # the service itself stays healthy
        assert health.status_code == 200 and health.json()["model_server"] == "failing"


def test_a_failed_write_is_503_never_201(system, model_server, scored_ids, users_json,
                                        tmp_path):
    path = tmp_path / "d.db"
    settings = service_settings(path, model_server, system.store, users_json, db_timeout=0.5)
    with TestClient(create_app(settings)) as service:
        locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        locker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
        try:
            answer = service.post(f"/clients/{scored_ids['refused'][0]}/decisions",
                                  json={"action": "follow"}, auth=ALICE)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert answer.status_code == 503 and "NOT stored" in answer.json()["detail"]
        assert service.get("/decisions", auth=SUE).json()["total"] == 0
        again = service.post(f"/clients/{scored_ids['refused'][0]}/decisions",
                             json={"action": "follow"}, auth=ALICE)
        assert again.status_code == 201


def test_concurrent_decisions_through_the_api_keep_the_chain(service, scored_ids):
    ids = scored_ids["refused"][:4] + scored_ids["granted"][:4]
    codes: list[int] = []

    def post(cid: int) -> None:
        for _ in range(3):
            codes.append(service.post(f"/clients/{cid}/decisions", json={"action": "follow"},
                                      auth=ALICE).status_code)

    threads = [threading.Thread(target=post, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [201] * 24
    verify = service.get("/decisions/verify", auth=SUE).json()
    assert verify["ok"] and verify["records"] == 24


def test_metrics(service, scored_ids):
    service.get(f"/clients/{scored_ids['refused'][0]}/score?recourse=false", headers=SYSTEM)
    service.post(f"/clients/{scored_ids['granted'][0]}/decisions", auth=ALICE,
                 json={"action": "override", "reason_code": "DATA_ERROR",
                       "reason_text": "income typed without a zero"})
    text = service.get("/metrics").text
    assert 'decisions_http_requests_total{method="GET",route="/clients/{client_id}/score",' \
           'status="200"} 1.0' in text
    assert "decisions_refusals_total 1.0" in text
    assert 'decisions_overrides_total{reason_code="DATA_ERROR"} 1.0' in text
    assert 'decisions_http_request_duration_seconds_bucket' in text
