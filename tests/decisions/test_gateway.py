"""decisions/gateway.py: a score with recourse in one request, and the same from older models.

An older model is the session's champion with the newer params taken out of its signature,
served by MLflow's scoring server app: MLflow drops the params a signature does not declare,
as it does for a model logged before they existed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from decisions.gateway import Gateway, inputs_text, recourse_body, score_body
from decisions.recourse import candidates, load_rules
from testkit import free_port
from tests.decisions.conftest import service_settings

#: Params each older model lacks: before ``params.recourse``, before ``params.variants``.
OLDER = {"before_recourse": {"recourse", "reasons_shape"},
         "before_variants": {"recourse", "reasons_shape", "variants"}}


def _older_copy(source: Path, target: Path, without: set[str]) -> Path:
    """A copy of the model at ``source`` whose signature lacks the params ``without``."""
    import json

    import yaml

    shutil.copytree(source, target)
    meta = yaml.safe_load((target / "MLmodel").read_text())
    params = json.loads(meta["signature"]["params"])
    meta["signature"]["params"] = json.dumps([p for p in params if p["name"] not in without])
    (target / "MLmodel").write_text(yaml.safe_dump(meta))
    return target


def _serve(model_path: Path) -> tuple[str, object, threading.Thread]:
    """MLflow's scoring server app of ``model_path`` on a free port, in a thread."""
    import mlflow
    import uvicorn
    from mlflow.pyfunc import scoring_server

    port = free_port()
    app = scoring_server.init(mlflow.pyfunc.load_model(str(model_path)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def older_models(system, tmp_path_factory) -> Iterator[dict[str, str]]:
    """URLs of the older models, by name."""
    import mlflow

    source = Path(mlflow.artifacts.download_artifacts("models:/credit-scoring@champion"))
    folder = tmp_path_factory.mktemp("older")
    serving_flag = os.environ.get("_MLFLOW_IS_IN_SERVING_ENVIRONMENT")
    started = {name: _serve(_older_copy(source, folder / name, without))
               for name, without in OLDER.items()}
    if serving_flag is None:  # set by the scoring server's init, for this process
        os.environ.pop("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", None)
    yield {name: url for name, (url, _, _) in started.items()}
    for _, server, thread in started.values():
        server.should_exit = True
        thread.join(10)


def test_one_request_and_older_models_give_the_same_assessment(system, model_server,
                                                                scored_ids, older_models,
                                                                tmp_path):
    """The current model answers a refused application and its changes in one request, a
    granted one without its changes; older models give the same scores, reasons, changes'
    scores and inputs hash through the gateway's fallbacks."""
    def gateway(url: str) -> Gateway:
        return Gateway(service_settings(tmp_path / "d.db", url, system.store))

    from serving.client import ScoringClient

    current, rules = gateway(model_server), load_rules()
    others = {name: gateway(url) for name, url in older_models.items()}
    answered = {}  # results an older model gives to the one request of a refused client
    for cid in [*scored_ids["refused"][:2], scored_ids["granted"][0]]:
        application = current.application(cid)
        changes = [c for _, _, c in candidates(application, rules)]
        assert len(changes) > 1
        expected = current.score_with_recourse(application, changes)
        refused = expected.score.decision == "refused"
        assert refused == (cid in scored_ids["refused"])
        assert len(expected.variants or []) == (len(changes) if refused else 0)
        assert expected.score.reasons and expected.score.client_id == cid
        # the record's inputs hash is the application's own body, as before recourse travelled
        assert expected.inputs_hash == hashlib.sha256(
            score_body([application], "positive").encode()).hexdigest()
        for name, other in others.items():
            if refused:
                body = recourse_body(inputs_text([application]), changes, "positive")
                count = len(ScoringClient(older_models[name]).post(body))
                answered[name] = {len(changes): "one per change", 1: "one"}.get(count, count)
            got = other.score_with_recourse(application, changes)
            assert got.inputs_hash == expected.inputs_hash, name
            assert (got.score.probability, got.score.reasons) == (
                expected.score.probability, expected.score.reasons), name
            assert [(v.probability, v.decision) for v in got.variants or []] == [
                (v.probability, v.decision) for v in expected.variants or []], name
    # the older models ignored what they did not know: the fallbacks were taken
    assert answered == {"before_recourse": "one per change", "before_variants": "one"}


def _asked_together(gateway: Gateway, asked: dict, changes: dict) -> tuple[dict, list[int]]:
    """Each application assessed from its own thread, all at once, through ``gateway``
    sharing requests: {id: Assessed or Refused} and the sizes of the shared requests."""
    from decisions.gateway import Refused

    sizes: list[int] = []
    together = gateway._score_together
    gateway._score_together = lambda waiting: sizes.append(len(waiting)) or together(waiting)
    gateway.start_sharing()
    got: dict = {}
    start = threading.Barrier(len(asked))

    def ask(cid: int) -> None:
        start.wait()
        try:
            got[cid] = gateway.score_shared(asked[cid], changes[cid])
        except Refused as err:
            got[cid] = err

    threads = [threading.Thread(target=ask, args=(cid,)) for cid in asked]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    gateway.stop_sharing()
    return got, sizes


def test_concurrent_scores_share_requests_and_get_the_same_answers(system, model_server,
                                                                   scored_ids, older_models,
                                                                   tmp_path):
    """Scores asked together go in shared model requests and get what each gets alone:
    score, reasons, changes' scores (a refused one asks them after) and inputs hash; an
    application the model refuses gets its own 4xx and leaves the others theirs; a model
    before ``params.variants`` answers the same through the shared requests."""
    from decisions.gateway import Refused

    rules = load_rules()
    alone = Gateway(service_settings(tmp_path / "d.db", model_server, system.store))
    ids = [*scored_ids["refused"][:6], *scored_ids["granted"][:6]]
    asked = {cid: alone.application(cid) for cid in ids}
    asked[-1] = {**asked[ids[0]], "AMT_CREDIT": -5.0}  # refused by the model: a bad amount
    changes = {cid: [c for _, _, c in candidates(a, rules)] for cid, a in asked.items()}
    expected = {cid: alone.score_with_recourse(asked[cid], changes[cid]) for cid in ids}

    for url in (model_server, older_models["before_variants"]):
        shared = Gateway(service_settings(tmp_path / "d.db", url, system.store,
                                          model_batch=8, model_senders=1))
        got, sizes = _asked_together(shared, asked, changes)
        assert sizes and max(sizes) > 1, url  # some went together
        assert isinstance(got[-1], Refused) and "AMT_CREDIT" in str(got[-1]), url
        for cid in ids:
            want, have = expected[cid], got[cid]
            assert have.inputs_hash == want.inputs_hash, (url, cid)
            assert (have.score.client_id, have.score.probability, have.score.reasons) == (
                cid, want.score.probability, want.score.reasons), (url, cid)
            assert [(v.probability, v.decision) for v in have.variants or []] == [
                (v.probability, v.decision) for v in want.variants or []], (url, cid)
