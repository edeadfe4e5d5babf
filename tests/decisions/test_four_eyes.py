"""Four eyes: an override waits for a supervisor who is not its advisor; the review is a
record of the chain pointing at the override. The access log and login throttling."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from decisions.app import create_app
from tests.decisions.conftest import (
    ALICE,
    BOB,
    CLIENT_LOGIN,
    SAM,
    SUE,
    acting_for,
    service_settings,
    users_file,
)

pytestmark = pytest.mark.server
OVERRIDE = {"action": "override", "reason_code": "DATA_ERROR",
            "reason_text": "income typed without a zero"}


def _override(service, cid: int, auth=ALICE) -> dict:
    answer = service.post(f"/clients/{cid}/decisions", json=OVERRIDE, auth=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_an_override_waits_for_another_supervisor(service, scored_ids, users_json, tmp_path):
    first = _override(service, scored_ids["granted"][0])
    second = _override(service, scored_ids["granted"][1], auth=BOB)
    assert first["status"] == "pending" and first["needs_review"] is True
    pending = service.get("/decisions", params={"status": "pending"}, auth=SUE).json()
    assert [d["id"] for d in pending["decisions"]] == [second["id"], first["id"]]

    url = f"/decisions/{first['id']}/review"
    assert service.post(url, json={"verdict": "reject"}, auth=SUE).status_code == 422
    review = service.post(url, json={"verdict": "reject", "comment": "no payslip attached"},
                          auth=SUE)
    assert review.status_code == 201, review.text
    body = review.json()
    assert body["review_of"] == first["id"] and body["advisor"] == "sue"
    assert body["final_decision"] == first["model_decision"]  # the model's decision holds
    assert body["previous_hash"] == second["record_hash"]  # a record of the chain
    again = service.post(url, json={"verdict": "confirm"}, auth=SAM)
    assert again.status_code == 409 and "already reviewed by sue" in again.text
    # the dashboard, acting for sam, confirms bob's override
    confirm = service.post(f"/decisions/{second['id']}/review", json={"verdict": "confirm"},
                           headers=acting_for("sam"))
    assert confirm.status_code == 201 and confirm.json()["via"] == "dashboard"
    assert confirm.json()["final_decision"] == second["final_decision"]

    listed = {d["id"]: d for d in service.get("/decisions", auth=SUE).json()["decisions"]}
    assert listed[first["id"]]["status"] == "rejected"
    assert listed[first["id"]]["reviewed_by"] == body["id"]
    assert listed[second["id"]]["status"] == "confirmed"
    assert listed[body["id"]]["status"] == "review"
    assert service.get("/decisions", params={"status": "pending"}, auth=SUE).json()[
        "total"] == 0
    assert service.get("/decisions", params={"overrides_only": True}, auth=SUE).json()[
        "total"] == 2  # the reviews are not overrides
    assert service.get("/decisions/verify", auth=SUE).json()["ok"]
    follow = service.post(f"/clients/{scored_ids['refused'][0]}/decisions",
                          json={"action": "follow"}, auth=ALICE).json()
    assert service.post(f"/decisions/{follow['id']}/review", json={"verdict": "confirm"},
                        auth=SUE).status_code == 409


def test_a_supervisor_never_reviews_their_own_override(system, model_server, scored_ids,
                                                       tmp_path):
    """Someone who is both (two logins of one person are one name) is refused."""
    path = users_file(tmp_path / "users.json", scored_ids["refused"][0])
    data = json.loads(path.read_text())
    data["users"]["alice"]["role"] = "supervisor"  # alice overrode as an advisor, then...
    settings = service_settings(tmp_path / "d.db", model_server, system.store, path)
    with TestClient(create_app(settings)) as service:
        override = _override(service, scored_ids["granted"][0])
        path.write_text(json.dumps(data))  # ...was made a supervisor
        time.sleep(1.1)  # the service reads the file again within a second
        own = service.post(f"/decisions/{override['id']}/review",
                           json={"verdict": "confirm"}, auth=ALICE)
        assert own.status_code == 403 and "four eyes" in own.json()["detail"]


def test_four_eyes_above_an_amount_or_off(system, model_server, scored_ids, users_json,
                                          tmp_path):
    from scoring.store import read_clients

    granted = scored_ids["granted"][:6]
    amounts = read_clients(granted, system.store).set_index("SK_ID_CURR")["AMT_CREDIT"]
    limit = float(amounts.median())
    for setting, expected in ((f"above:{limit}", {c: amounts[c] > limit for c in granted}),
                              ("off", dict.fromkeys(granted, False))):
        db = tmp_path / f"{setting.replace(':', '_')}.db"
        with TestClient(create_app(service_settings(db, model_server, system.store,
                                                    users_json, four_eyes=setting))) as s:
            got = {c: _override(s, c)["status"] == "pending" for c in granted}
        assert got == expected, setting
    with pytest.raises(ValueError, match="DECISIONS_FOUR_EYES"):
        service_settings(tmp_path / "x.db", model_server, system.store, four_eyes="some")


def test_every_read_of_a_client_is_in_the_access_log(service, scored_ids):
    own, other = scored_ids["refused"][0], scored_ids["granted"][0]
    service.get(f"/clients/{own}/score?recourse=false", auth=ALICE)
    service.get(f"/clients/{own}", headers=acting_for("bob"))
    service.get(f"/decisions?client_id={own}", auth=CLIENT_LOGIN)
    service.post("/access", json={"client_id": other, "what": "letter"},
                 headers=acting_for("alice"))
    log = service.get("/access", params={"client_id": own}, auth=SUE).json()
    seen = [(r["person"], r["via"], r["what"]) for r in log["reads"]]
    assert seen == [("carla", None, "decisions"), ("bob", "dashboard", "profile"),
                    ("alice", None, "score")]
    assert all(r["at"].endswith("Z") for r in log["reads"])
    alice = service.get("/access", params={"person": "alice"}, auth=SUE).json()
    assert [(r["client_id"], r["what"]) for r in alice["reads"]] == [
        (other, "letter"), (own, "score")]
    assert service.get("/access", auth=ALICE).status_code == 403


def test_failed_logins_are_throttled_per_user_and_per_address(system, model_server,
                                                               users_json, scored_ids,
                                                               tmp_path):
    settings = service_settings(tmp_path / "d.db", model_server, system.store, users_json,
                                login_failures_per_user=3, login_failures_per_address=6,
                                trusted_proxies=("testclient",))
    cid = scored_ids["refused"][0]
    with TestClient(create_app(settings)) as service:
        url = f"/clients/{cid}"
        codes = [service.get(url, auth=("alice", f"guess-{i}")).status_code for i in range(4)]
        assert codes == [401, 401, 401, 429]
        blocked = service.get(url, auth=ALICE)  # even the right password, for now
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        assert service.get(url, auth=BOB).status_code == 200  # another user may
        # one address trying many names: the address is stopped
        codes = [service.get(url, auth=(f"user{i}", "x")).status_code for i in range(4)]
        assert codes == [401, 401, 401, 429]
        assert service.get(url, auth=SUE).status_code == 429
        # behind nginx, the caller's address comes from X-Real-IP (the peer is trusted)
        other = service.get(url, auth=SUE, headers={"X-Real-IP": "10.1.2.3"})
        assert other.status_code == 200
