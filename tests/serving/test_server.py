"""The served model, through the real `mlflow models serve` of the champion."""

from __future__ import annotations

import json
import socket
import threading

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests

from scoring.request import pack_history
from scoring.store import client_ids, read_clients
from serving.client import (
    ScoringClient,
    ScoringError,
    from_response,
    parse_error,
    score_params,
    to_payload,
)

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def rows(system) -> pd.DataFrame:
    """Five test clients as the served model expects them (no TARGET, no DATASET)."""
    ids = client_ids(system.store, "test")[:5]
    return read_clients(ids, system.store).drop(columns=["TARGET", "DATASET"])


@pytest.fixture(scope="module")
def local_model(system):
    return mlflow.pyfunc.load_model("models:/credit-scoring@champion")


def post(url: str, body: str | bytes) -> requests.Response:
    return requests.post(f"{url}/invocations", data=body, headers=JSON, timeout=30)


def test_server_matches_the_model_in_process(model_server, rows, local_model):
    served = ScoringClient(model_server).score(rows, top_k=5)
    local = local_model.predict(pack_history(rows), params={"top_k": 5})
    np.testing.assert_allclose([s.probability for s in served], local["probability"],
                               rtol=1e-9)
    for score, expected in zip(served, local["reasons"], strict=True):
        assert [r["feature"] for r in score.reasons] == [r["feature"] for r in expected]


def test_output_fields_are_consistent(model_server, rows):
    for s in ScoringClient(model_server).score(rows, top_k=4):
        assert 0.0 <= s.probability <= 1.0
        assert s.decision == ("refused" if s.probability >= s.threshold else "granted")
        assert s.distance == pytest.approx(s.probability - s.threshold)
        assert len(s.reasons) == 4
        sizes = [abs(r["contribution"]) for r in s.reasons]
        assert sizes == sorted(sizes, reverse=True)
        assert all(r["label"] for r in s.reasons)


def test_explain_all_adds_up_to_the_log_odds(model_server, rows):
    client = ScoringClient(model_server)
    full = client.score(rows.head(2), explain="all")
    again = client.score(rows.head(2), explain="none")
    assert all(s.reasons == [] for s in again)
    base = [s.probability for s in again]
    for s, p in zip(full, base, strict=True):
        assert len(s.reasons) > 100
        total = sum(r["contribution"] for r in s.reasons)
        # Contributions plus a constant bias give the log-odds: differences must agree.
        assert np.isfinite(total)
        assert s.probability == pytest.approx(p)
    logit = [np.log(p / (1 - p)) for p in base]
    totals = [sum(r["contribution"] for r in s.reasons) for s in full]
    assert logit[0] - logit[1] == pytest.approx(totals[0] - totals[1], abs=1e-6)


def test_threshold_param_overrides_the_decision(model_server, rows):
    client = ScoringClient(model_server)
    assert {s.decision for s in client.score(rows, explain="none", threshold=0.0)} == {
        "refused"}
    assert {s.decision for s in client.score(rows, explain="none", threshold=1.0)} == {
        "granted"}


def test_history_may_be_missing(model_server, rows):
    application_only = rows[[c for c in rows.columns if not c.isupper() or "_" not in c
                             or c.split("_")[0] not in {"BURO", "PREV", "POS", "INST", "CC"}]]
    assert application_only.shape[1] < rows.shape[1]
    scores = ScoringClient(model_server).score(application_only.head(1))
    assert 0.0 <= scores[0].probability <= 1.0


def _body(rows: pd.DataFrame, **changes) -> str:
    edited = rows.head(1).copy()
    for column, value in changes.items():
        edited[column] = edited[column].astype(object)
        edited.loc[edited.index[0], column] = value
    return to_payload(edited)


def _history_body(rows: pd.DataFrame, history: dict) -> str:
    request = pack_history(rows.head(1))
    request["history"] = [history]
    return to_payload(request)


BAD_REQUESTS = {
    "missing column": (lambda r: to_payload(r.head(1).drop(columns=["AMT_CREDIT"])),
                       "AMT_CREDIT"),
    "wrong type": (lambda r: _body(r, AMT_CREDIT="a lot"), "AMT_CREDIT"),
    "unknown category": (lambda r: _body(r, CODE_GENDER="Q"), "CODE_GENDER"),
    "missing required value": (lambda r: _body(r, AMT_INCOME_TOTAL=None), "AMT_INCOME_TOTAL"),
    "NaN value": (lambda r: _body(r).replace('"AMT_CREDIT"', '"AMT_CREDIT"')
                  .replace(str(r["AMT_CREDIT"].iloc[0]), "NaN", 1), "AMT_CREDIT"),
    "infinite value": (lambda r: _body(r).replace(str(r["AMT_CREDIT"].iloc[0]),
                                                  "Infinity", 1), "AMT_CREDIT"),
    "extreme value": (lambda r: _body(r, DAYS_BIRTH=5000), "DAYS_BIRTH"),
    "no rows": (lambda r: to_payload(r.head(0)), "no application rows"),
    "unknown history feature": (lambda r: _history_body(r, {"NOT_A_FEATURE": 1}),
                                "NOT_A_FEATURE"),
    "history value not a number": (lambda r: _history_body(r, {"BURO_COUNT": "many"}),
                                   "BURO_COUNT"),
    "empty body": (lambda r: "", "JSON"),
    "not JSON": (lambda r: "hello", "JSON"),
    "bad explain param": (lambda r: json.dumps({**json.loads(to_payload(r.head(1))),
                                                "params": {"explain": "why"}}), "explain"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_request_gets_a_4xx_naming_the_field(model_server, rows, case):
    build, field = BAD_REQUESTS[case]
    body = build(rows)
    resp = post(model_server, body)
    assert 400 <= resp.status_code < 500, resp.text[:500]
    message = resp.json()["message"]
    assert field in message
    assert "Traceback" not in resp.text
    # The server keeps serving.
    assert requests.get(f"{model_server}/ping", timeout=5).ok
    assert post(model_server, to_payload(rows.head(1))).ok


MODEL_REFUSALS = {  # refused by the model itself: a machine-readable error object
    "unknown category": ("CODE_GENDER", "unknown_level"),
    "missing required value": ("AMT_INCOME_TOTAL", "missing"),
    "extreme value": ("DAYS_BIRTH", "outside_range"),
    "history value not a number": ("history.BURO_COUNT", "not_a_number"),
    "unknown history feature": ("history", "bad_history"),
    "bad explain param": ("params.explain", "unknown_level"),
}


@pytest.mark.parametrize("case", MODEL_REFUSALS)
def test_refusal_carries_a_json_error_object(model_server, rows, case):
    field, code = MODEL_REFUSALS[case]
    resp = post(model_server, BAD_REQUESTS[case][0](rows))
    message, error = parse_error(resp.content)
    assert error is not None, resp.text[:500]
    assert (error.field, error.code) == (field, code)
    assert message == error.message and field.split(".")[-1] in message
    if code == "outside_range":
        assert error.value == 5000 and error.low < error.high <= 0


def test_fractional_integer_and_boolean_are_refused(model_server, rows):
    """The model reads the JSON itself: 1.5 children and ``true`` for a number are refused
    (MLflow's own parsing used to truncate the one and take the other as 1)."""
    for changes, field, code in [({"CNT_CHILDREN": 1.5}, "CNT_CHILDREN", "not_whole"),
                                 ({"AMT_CREDIT": True}, "AMT_CREDIT", "not_a_number"),
                                 ({"FLAG_MOBIL": False}, "FLAG_MOBIL", "not_a_number")]:
        resp = post(model_server, _body(rows, **changes))
        assert resp.status_code == 400, resp.text[:300]
        _, error = parse_error(resp.content)
        assert (error.field, error.code) == (field, code)
    resp = post(model_server, _history_body(rows, {"BURO_COUNT": True}))
    assert parse_error(resp.content)[1].field == "history.BURO_COUNT"


def test_old_dataframe_formats_get_a_400_naming_inputs(model_server, rows):
    """``dataframe_split`` / ``dataframe_records`` bodies (the format before version 21 of
    the request) get a 400 that names the ``inputs`` format."""
    record = json.loads(to_payload(rows.head(1)))["inputs"][0]
    for body in ({"dataframe_split": {"columns": list(record), "data": [list(record.values())]}},
                 {"dataframe_records": [record]}):
        resp = post(model_server, json.dumps(body))
        assert resp.status_code == 400, resp.text[:300]
        assert "'inputs'" in resp.json()["message"]


def test_unknown_field_is_refused_and_a_large_value_never_echoed(model_server, rows):
    record = json.loads(to_payload(rows.head(1)))["inputs"][0]
    resp = post(model_server, json.dumps({"inputs": [{**record, "AMT_CREDITT": 1}]}))
    assert parse_error(resp.content)[1].code == "unknown_field"
    big = "x" * 1_000_000
    for changes in ({"CODE_GENDER": big}, {"AMT_CREDIT": big}, {"history": {big: 1}}):
        resp = post(model_server, json.dumps({"inputs": [{**record, **changes}]}))
        assert resp.status_code == 400 and len(resp.content) < 2_000, resp.content[:300]


def test_few_hundred_clients_served_as_in_process(model_server, system, local_model):
    """Through the real server, the stored clients get the in-process probabilities and
    reasons."""
    ids = client_ids(system.store, "test")[:300]
    many = read_clients(ids, system.store).drop(columns=["TARGET", "DATASET"])
    served = ScoringClient(model_server).score(many, top_k=10)
    local = local_model.predict(pack_history(many), params={"top_k": 10})
    np.testing.assert_allclose([s.probability for s in served], local["probability"],
                               rtol=1e-12)
    assert [s.reasons for s in served] == [list(r) for r in local["reasons"]]


def test_client_raises_the_server_message(model_server, rows):
    with pytest.raises(ScoringError, match="CODE_GENDER") as err:
        ScoringClient(model_server).score(rows.head(1).assign(CODE_GENDER="Q"))
    assert err.value.error.field == "CODE_GENDER" and err.value.error.value == "Q"
    assert err.value.status == 400


def test_client_reports_an_unreachable_server():
    with pytest.raises(ScoringError, match="unreachable"):
        ScoringClient("http://127.0.0.1:9", timeout=2).score(pd.DataFrame({"A": [1]}))


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += conn.recv(65536)
    return body


def _answer(conn: socket.socket, text: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(text), text))


def test_a_kept_alive_connection_closed_unanswered_is_sent_once_more():
    """As nginx does to its idle connections on reload: the second request on the kept-alive
    connection is read and the connection closed without an answer."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        first, _ = listener.accept()
        received.append(_read_request(first))
        _answer(first, b'{"n": 1}')
        received.append(_read_request(first))
        first.close()
        second, _ = listener.accept()
        received.append(_read_request(second))
        _answer(second, b'{"n": 2}')
        second.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = ScoringClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=5)
    assert json.loads(client.send('{"a": 1}').data) == {"n": 1}
    assert json.loads(client.send('{"a": 2}').data) == {"n": 2}
    thread.join(5)
    listener.close()
    assert received == [b'{"a": 1}', b'{"a": 2}', b'{"a": 2}']


def test_version_and_health(model_server):
    assert requests.get(f"{model_server}/health", timeout=5).ok
    assert requests.get(f"{model_server}/version", timeout=5).text.startswith("3.")


def test_client_scores_a_stored_client_by_id(model_server, system, rows, local_model):
    from serving.client import ClientScorer

    scorer = ClientScorer(system.store, ScoringClient(model_server))
    client_id = int(rows["SK_ID_CURR"].iloc[0])
    score = scorer.get_score(client_id)
    expected = local_model.predict(pack_history(rows.head(1)), params={"explain": "none"})
    assert score.client_id == client_id
    assert score.probability == pytest.approx(expected["probability"].iloc[0], rel=1e-9)
    info = scorer.get_info_client(client_id)
    assert info["Age"].endswith("years")
    assert float(info["Age"].split()[0]) == pytest.approx(
        abs(rows["DAYS_BIRTH"].iloc[0]) / 365.25, abs=0.05)
    assert info["Credit amount"] == f"{rows['AMT_CREDIT'].iloc[0]:,.0f}"


def test_client_rejects_an_unknown_id(model_server, system):
    from serving.client import ClientScorer, UnknownClient

    with pytest.raises(UnknownClient, match="999"):
        ClientScorer(system.store, ScoringClient(model_server)).get_score(999)


def test_batch_scoring_writes_every_test_application(system, tmp_path, local_model):
    from typer.testing import CliRunner

    from cli import app
    from scoring.tables import read_table

    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", "--data-dir", str(system.raw), "--out",
                                      str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["SK_ID_CURR", "probability", "decision"]
    test_ids = read_table(system.raw, "application_test")["SK_ID_CURR"].to_list()
    assert sorted(scores["SK_ID_CURR"]) == sorted(test_ids)
    assert scores["probability"].between(0, 1).all()
    first = read_clients([int(scores["SK_ID_CURR"].iloc[0])], system.store)
    expected = local_model.predict(pack_history(first),
                                   params={"explain": "none"})["probability"].iloc[0]
    assert scores["probability"].iloc[0] == pytest.approx(expected, rel=1e-9)


def test_batch_scoring_by_client_range_gives_the_same_scores(system, monkeypatch):
    """Three client ranges, each built and scored apart: the one-piece scores, in id order."""
    import scoring.partitions
    from scoring.names import CHAMPION_URI
    from serving.batch import score_folder

    whole = score_folder(system.raw, CHAMPION_URI, say=lambda _: None).scores
    monkeypatch.setattr(scoring.partitions, "PARTITION_CLIENTS", 1_500)
    by_range = score_folder(system.raw, CHAMPION_URI, say=lambda _: None).scores
    assert scoring.partitions.auto_partitions(system.raw) == 3
    pd.testing.assert_frame_equal(by_range, whole.sort_values("SK_ID_CURR", ignore_index=True))


def test_batch_sets_a_refused_application_aside_and_scores_the_rest(system, tmp_path):
    """One application with 1,000 children in the folder: it is set aside with the model's
    reason, every other one is scored."""
    import shutil

    import polars as pl
    from typer.testing import CliRunner

    from cli import app
    from scoring.tables import find_file

    raw = tmp_path / "raw"
    shutil.copytree(system.raw, raw)
    path = find_file(raw, "application_test")
    text = pl.read_csv(path, infer_schema_length=0)  # every cell as written
    text = text.with_columns(CNT_CHILDREN=pl.when(pl.int_range(text.height) == 3)
                             .then(pl.lit("1000")).otherwise(pl.col("CNT_CHILDREN")))
    text.write_csv(path)
    table = text.select(pl.col("SK_ID_CURR").cast(pl.Int64)).to_pandas()
    out = tmp_path / "scores.csv"
    result = CliRunner().invoke(app, ["score", "--data-dir", str(raw), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 applications not scored" in result.output
    aside = pd.read_csv(tmp_path / "scores.not-scored.csv")
    assert aside["SK_ID_CURR"].tolist() == [table.loc[3, "SK_ID_CURR"]]
    assert aside["field"].tolist() == ["CNT_CHILDREN"]
    assert "plausible range" in aside["problem"].iloc[0]
    scored = pd.read_csv(out)["SK_ID_CURR"]
    assert sorted(scored) == sorted(table["SK_ID_CURR"].drop(3))


def test_excluded_protected_attributes_do_not_move_the_probability(model_server, rows):
    """Same applications with another gender and family status: the same probabilities."""
    client = ScoringClient(model_server)
    flipped = rows.assign(
        CODE_GENDER=np.where(rows["CODE_GENDER"] == "F", "M", "F"),
        NAME_FAMILY_STATUS=np.where(rows["NAME_FAMILY_STATUS"] == "Married", "Widow",
                                    "Married"))
    assert (flipped["CODE_GENDER"] != rows["CODE_GENDER"]).all()
    before = [s.probability for s in client.score(rows, explain="none")]
    after = [s.probability for s in client.score(flipped, explain="none")]
    assert before == after
    other = rows.assign(EXT_SOURCE_2=1 - rows["EXT_SOURCE_2"])  # a field the model reads
    assert [s.probability for s in client.score(other, explain="none")] != before


def test_variants_param_scores_each_change_as_rows_would(model_server, rows):
    """``params.variants``: the application sent once, one result per change, the same as
    the changed applications sent as rows; ``explain=positive`` is ``all`` cut to the
    contributions above zero; a bad change is refused naming it, never echoing it."""
    client, one = ScoringClient(model_server), rows.head(1)
    record = json.loads(to_payload(one))["inputs"][0]
    changes = [{"AMT_CREDIT": record["AMT_CREDIT"] * f} for f in (0.9, 0.5)] + [
        {"AMT_ANNUITY": 1000.0, "NAME_CONTRACT_TYPE": "Revolving loans"}]
    as_rows = client.post(json.dumps({"inputs": [{**record, **c} for c in changes],
                                      "params": {"explain": "top-k"}}))
    varied = client.post(json.dumps({"inputs": [record], "params": score_params(
        "top-k", variants=changes)}))
    assert [(s.probability, s.reasons) for s in varied] == [
        (s.probability, s.reasons) for s in as_rows]
    assert len({s.probability for s in varied}) == 3
    full, positive = (client.score(one, explain=e)[0].reasons for e in ("all", "positive"))
    assert positive == [r for r in full if r["contribution"] > 0] and positive
    for bad, field, code in [([{"AMT_CREDIT": 1.0}, {"AMT_CREDIT": True}],
                              "params.variants[1].AMT_CREDIT", "not_a_number"),
                             ([{"BURO_COUNT": 1.0}], "params.variants[0].BURO_COUNT",
                              "unknown_field"),
                             ([{"CODE_GENDER": "x" * 100_000}],
                              "params.variants[0].CODE_GENDER", "unknown_level")]:
        resp = post(model_server, json.dumps({"inputs": [record],
                                              "params": score_params(variants=bad)}))
        assert resp.status_code == 400 and len(resp.content) < 2_000, resp.content[:300]
        assert (parse_error(resp.content)[1].field, parse_error(resp.content)[1].code) == (
            field, code)


def test_recourse_param_answers_the_application_then_its_changes_when_refused(model_server,
                                                                              rows):
    """``params.recourse``: the application's own result first (as a score alone), then one
    lean result per change only when it is refused (``threshold`` 0 refuses every
    application, 1 grants every one); ``reasons_shape`` columns and json read back as the
    records; a bad change is refused, naming it, when the changes are scored."""
    client, one = ScoringClient(model_server), rows.head(1)
    record = json.loads(to_payload(one))["inputs"][0]
    changes = [{"AMT_CREDIT": record["AMT_CREDIT"] * f} for f in (0.9, 0.5)]

    def ask(threshold: float, shape: str = "columns", variants=changes, inputs=(record,)):
        params = score_params("positive", threshold=threshold, variants=variants,
                              recourse=True, reasons_shape=shape)
        return post(model_server, json.dumps({"inputs": list(inputs), "params": params}))

    refused = from_response(ask(0.0).content)
    alone = client.score(one, explain="positive", threshold=0.0)[0]
    varied = client.post(json.dumps({"inputs": [record], "params": score_params(
        "none", threshold=0.0, variants=changes)}))
    assert len(refused) == 3 and refused[0].decision == "refused"
    assert (refused[0].probability, refused[0].reasons) == (alone.probability, alone.reasons)
    assert alone.reasons and all(r["label"] for r in alone.reasons)
    assert [(s.probability, s.reasons) for s in refused[1:]] == [
        (s.probability, []) for s in varied]
    for shape in ("records", "json"):
        assert from_response(ask(0.0, shape).content)[0].reasons == alone.reasons, shape
    assert isinstance(ask(0.0, "json").json()["predictions"][0]["reasons"], str)
    granted = ask(1.0).json()["predictions"]
    assert len(granted) == 1 and granted[0]["decision"] == "granted"
    assert set(granted[0]["reasons"]) == {"feature", "label", "value", "contribution"}
    bad = [{"AMT_CREDIT": 1.0}, {"AMT_CREDIT": True}]
    assert ask(1.0, variants=bad).status_code == 200  # not scored: not checked
    for resp, field in [(ask(0.0, variants=bad), "params.variants[1].AMT_CREDIT"),
                        (ask(0.0, inputs=(record, record)), "params.recourse"),
                        (ask(0.0, shape="rows"), "params.reasons_shape")]:
        assert resp.status_code == 400, resp.text[:300]
        assert parse_error(resp.content)[1].field == field
