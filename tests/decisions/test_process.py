"""The service as ``scoring up`` runs it: one uvicorn process, its ``/metrics`` counting what
it answered, and none of the model's libraries loaded (the model runs in the model servers)."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
import requests

from ops.render import _decisions_command
from ops.settings import Settings as OpsSettings
from testkit import free_port, running, server_env
from tests.decisions.conftest import ALICE, API_KEY, SYSTEM

pytestmark = pytest.mark.server
#: Libraries of training and of the model that the service must not load (scipy also tells
#: an MLflow import).
MODEL_LIBRARIES = ("/lightgbm/", "/shap/", "/sklearn/", "/scipy/")


def test_one_process_counts_what_it_answered(system, model_server, scored_ids, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = _decisions_command(OpsSettings(tracking_uri=system.tracking_uri,
                                             decisions_backend_port=port,
                                             run_dir=str(tmp_path / "run")))
    env = {**server_env(system.tracking_uri),
           "DECISIONS_DB_URL": f"sqlite:///{tmp_path / 'decisions.db'}",
           "DECISIONS_MODEL_URL": model_server, "DECISIONS_STORE": str(system.store),
           "DECISIONS_API_KEYS": f"crm={API_KEY}", "DECISIONS_ADVISORS": "alice=alice-pw",
           # the version the replicas of `scoring up` report with each score
           "DECISIONS_MODEL_VERSION": str(system.champion),
           "WEB_CONCURRENCY": "3"}  # uvicorn's default worker count: ignored
    with running(command, f"{url}/health", env, tmp_path / "decisions.log") as proc:
        assert psutil.Process(proc.pid).children(recursive=True) == []
        refused, granted = scored_ids["refused"][:2], scored_ids["granted"][:1]
        for cid in refused + granted:
            answer = requests.get(f"{url}/clients/{cid}/score", headers=SYSTEM, timeout=120)
            assert answer.status_code == 200, answer.text
        answer = requests.post(f"{url}/clients/{granted[0]}/decisions", auth=ALICE, timeout=120,
                               json={"action": "override", "reason_code": "DATA_ERROR",
                                     "reason_text": "income typed without a zero"})
        assert answer.status_code == 201, answer.text
        head = answer.json()["record_hash"]
        assert requests.get(f"{url}/clients/1", headers=SYSTEM, timeout=60).status_code == 404
        text = requests.get(f"{url}/metrics", timeout=60).text
        mapped = Path(f"/proc/{proc.pid}/maps").read_text()
    assert ('decisions_http_requests_total{method="GET",route="/clients/{client_id}/score",'
            'status="200"} 3.0') in text
    assert ('decisions_http_requests_total{method="GET",route="/clients/{client_id}",'
            'status="404"} 1.0') in text
    assert "decisions_refusals_total 2.0" in text
    assert 'decisions_recorded_total{final_decision="refused"} 1.0' in text
    assert 'decisions_overrides_total{reason_code="DATA_ERROR"} 1.0' in text
    assert "process_resident_memory_bytes" in text
    # the signed head of the chain is in the service's log too, not only in its file
    log = (tmp_path / "decisions.log").read_text()
    assert "decisions.checkpoint: checkpoint" in log and f'"head": "{head}"' in log
    assert '"GET /clients/' not in log  # no uvicorn line per request (--no-access-log)
    assert [lib for lib in MODEL_LIBRARIES if lib in mapped] == []
