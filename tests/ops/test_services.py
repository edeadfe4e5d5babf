"""The running services: status, load, prediction log, faults, zero-downtime reload, drift.

One deployment (``scoring up`` on free ports) serves the whole module; tests run in file
order, so the load test's predictions are in the log when the drift test reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import mlflow
import psutil
import pytest
import requests
from mlflow import MlflowClient
from typer.testing import CliRunner

from cli import app
from ops import deploy, models, render, settings, supervisor
from ops.settings import ServiceError
from serving.predlog import read_log
from testkit import JSON, run_load, traffic


def _pid(settings, name: str) -> int:
    return supervisor.rpc(settings.run).supervisor.getProcessInfo(name)["pid"]


def _wait(condition, timeout: float, step: float = 0.2) -> float:
    """Seconds until ``condition()`` holds; fails the test after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met in {timeout:.0f} s")
        time.sleep(step)
    return time.monotonic() - start


def test_status_shows_every_service_running_and_healthy(deployment):
    result = CliRunner().invoke(app, ["status", "--run-dir", str(deployment.run)])
    assert result.exit_code == 0, result.output
    for name in ("tracking", "model-1", "model-2", "proxy", "healthcheck"):
        line = next(line for line in result.output.splitlines() if line.startswith(name))
        assert "RUNNING" in line
    assert f":{deployment.model_port}/invocations" in result.output
    assert requests.get(f"{deployment.url(deployment.tracking_port)}/health", timeout=5).ok
    # the tracking program is the uvicorn server itself, not `mlflow server` waiting for it
    tracking = psutil.Process(_pid(deployment, "tracking"))
    assert "uvicorn" in tracking.cmdline() and not tracking.children()
    conf = (deployment.run / "supervisord.conf").read_text()
    assert conf.count("autorestart=true") >= 5
    assert (deployment.run / "logs" / "model-1.log").is_file()


def test_short_load_has_no_errors(deployment, bodies):
    dashboard = (deployment.url(deployment.dashboard_port) + "/app"
                 if settings.dashboard_enabled(deployment) else None)
    results = run_load(deployment.url(deployment.model_port), bodies, seconds=8, clients=8,
                       dashboard_url=dashboard, dashboard_clients=2 if dashboard else 0,
                       think=0.5)
    for r in results:
        print(f"{r.name}: {r.requests} requests, {r.errors} errors, p50 {r.p50_ms:.0f} ms, "
              f"p95 {r.p95_ms:.0f} ms, {r.per_second:.1f}/s")
        assert r.requests > 0
        assert r.errors == 0, r.error_samples


def test_prediction_log_holds_each_scored_application(deployment, bodies):
    before = len(read_log(deployment.prediction_log)) if any(
        Path(deployment.prediction_log).glob("part-*.parquet")) else 0
    response = requests.post(f"{deployment.url(deployment.model_port)}/invocations",
                             data=bodies[0], headers={"Content-Type": "application/json"},
                             timeout=30)
    assert response.ok
    _wait(lambda: len(read_log(deployment.prediction_log)) > before, timeout=15)
    log = read_log(deployment.prediction_log)
    # Other clients (the dashboard's sample) may score meanwhile: find this application.
    client_id = json.loads(bodies[0])["inputs"][0]["SK_ID_CURR"]
    last = log[log["SK_ID_CURR"] == client_id].sort_values("scored_at").iloc[-1]
    expected = response.json()["predictions"][0]
    assert last["probability"] == pytest.approx(expected["probability"])
    assert last["decision"] == expected["decision"]
    assert last["model_version"] == models.replica_version(deployment, "model-1")
    assert {"SK_ID_CURR", "AMT_CREDIT", "threshold", "scored_at"} <= set(log.columns)


def test_replicas_run_mlflows_server_on_a_local_copy_of_the_version(deployment):
    """The command `mlflow models serve -m COPY` runs, as one process (no waiting parent)."""
    version = models.replica_version(deployment, "model-1")
    copy = models.model_dir(deployment, version)
    assert (copy / "MLmodel").is_file()
    server = psutil.Process(_pid(deployment, "model-1"))
    assert server.cmdline()[-1] == "mlflow.pyfunc.scoring_server.app:app"
    assert server.environ()["__pyfunc_model_path__"] == copy.as_uri()
    assert server.children() == []
    assert os.getpriority(os.PRIO_PROCESS, _pid(deployment, "model-1")) >= \
        deployment.model_nice
    result = CliRunner().invoke(app, ["status", "--run-dir", str(deployment.run)])
    assert f"v{version}" in result.output


def _replica_killed(deployment, bodies, old: int, kill):
    """Call ``kill`` on replica model-1 (process ``old``) while clients send requests; returns
    the seconds until supervisord restarted it, until it answered again, and the traffic."""
    ping = settings.health_urls(deployment)["model-1"]
    with traffic(deployment.url(deployment.model_port), bodies) as seen:
        time.sleep(2)
        kill()
        killed = time.monotonic()
        restarted = _wait(lambda: _pid(deployment, "model-1") not in (0, old), timeout=10)
        _wait(lambda: supervisor.healthy(ping, timeout=1), timeout=120, step=0.1)
        serving = time.monotonic() - killed
        time.sleep(1)
    return restarted, serving, seen


def test_killed_model_server_costs_no_request_and_serves_again(deployment, bodies):
    """SIGKILL of a replica: nginx retries elsewhere; it answers /ping again
    (benchmarks/bench_faults.py measures how soon: a model load on a busy machine)."""
    old = _pid(deployment, "model-1")
    # `mlflow models serve` and its uvicorn server
    restarted, serving, seen = _replica_killed(deployment, bodies, old,
                                               lambda: os.killpg(old, signal.SIGKILL))
    print(f"model-1 restarted by supervisord after {restarted:.1f} s, answering "
          f"{serving:.1f} s after the kill; {seen.ok} requests served")
    assert seen.failures == []
    assert seen.ok > 0


def test_killed_biggest_process_costs_no_request_and_serves_again(deployment, bodies):
    """SIGKILL of only the replica's biggest process, the uvicorn server (what an
    out-of-memory kill picks): it is the program itself, which supervisord starts again at
    once (with `mlflow models serve`, a waiting parent outlived it for seconds)."""
    program = psutil.Process(_pid(deployment, "model-1"))
    biggest = max([program, *program.children(recursive=True)],
                  key=lambda p: p.memory_info().rss)
    assert "uvicorn" in " ".join(biggest.cmdline())
    restarted, serving, seen = _replica_killed(deployment, bodies, program.pid, biggest.kill)
    print(f"model-1 restarted by supervisord after {restarted:.1f} s, answering "
          f"{serving:.1f} s after the kill of its uvicorn server; {seen.ok} requests served")
    assert seen.failures == []
    assert seen.ok > 0


def test_deeply_nested_body_is_refused_with_400_by_nginx(deployment, bodies):
    """MLflow's JSON parser answers 500 (RecursionError) near 1,000 levels; nginx refuses
    such a body first, and the replicas keep serving."""
    if not supervisor.json_guard_available():
        pytest.skip("nginx's Lua module is not installed (libnginx-mod-http-lua)")
    _wait(lambda: supervisor.healthy(settings.health_urls(deployment)["model-1"]), timeout=180)
    nested = "[" * 10_000 + "]" * 10_000
    url = deployment.url(deployment.model_port) + "/invocations"
    direct = deployment.url(deployment.replica_ports[0]) + "/invocations"
    assert requests.post(direct, data=nested, headers=JSON, timeout=30).status_code == 500
    refused = requests.post(url, data=nested, headers=JSON, timeout=30)
    assert refused.status_code == 400
    assert refused.json() == {"error_code": "BAD_REQUEST", "message": "the JSON body is "
                              f"nested more than {render.JSON_MAX_DEPTH} levels deep"}
    # A body just under the limit, with brackets inside a string, goes through to MLflow.
    shallow = '{"a": "' + "[" * 200 + '", "b": ' + "[" * 60 + "]" * 60 + "}"
    passed = requests.post(url, data=shallow, headers=JSON, timeout=30)
    assert passed.headers["X-Upstream"] and "nested more than" not in passed.text
    assert requests.post(url, data=bodies[0], headers=JSON, timeout=60).status_code == 200


def test_bodies_are_capped_and_errors_never_echo_a_large_body(deployment, bodies):
    """nginx refuses a body over its cap with a JSON 413, and replaces an error answer that
    quotes the request (MLflow quotes a body it cannot parse) by a short one."""
    if not supervisor.json_guard_available():
        pytest.skip("nginx's Lua module is not installed (libnginx-mod-http-lua)")
    _wait(lambda: supervisor.healthy(settings.health_urls(deployment)["model-1"]), timeout=180)
    url = deployment.url(deployment.model_port) + "/invocations"
    garbled = "not json " * 200_000  # 1.8 MB, quoted whole by MLflow
    answer = requests.post(url, data=garbled, headers=JSON, timeout=60)
    assert answer.status_code == 400 and len(answer.content) < render.ERROR_MAX_BYTES
    assert "was cut" in answer.json()["message"]
    small = requests.post(url, data="hello", headers=JSON, timeout=60)
    assert small.status_code == 400 and "valid JSON" in small.json()["message"]
    huge = requests.post(url, data=b" " * (17 * 2**20), headers=JSON, timeout=60)
    assert huge.status_code == 413 and "larger than 16 MiB" in huge.json()["message"]
    decisions = deployment.url(deployment.decisions_port) + "/applications/score"
    too_big = requests.post(decisions, data=b" " * 300_000, headers=JSON, timeout=60)
    assert too_big.status_code == 413 and "larger than 256 KiB" in too_big.json()["detail"]
    assert requests.post(url, data=bodies[0], headers=JSON, timeout=60).status_code == 200


def test_killed_dashboard_is_restarted_and_answers_again(deployment):
    """Supervisord starts it again at once; its page answers again after the warm-up."""
    if not settings.dashboard_enabled(deployment):
        pytest.skip(f"{deployment.dashboard_app} does not exist yet")
    old = _pid(deployment, "dashboard")
    os.kill(old, signal.SIGKILL)
    restarted = _wait(lambda: _pid(deployment, "dashboard") not in (0, old), timeout=10)
    print(f"dashboard restarted by supervisord after {restarted:.1f} s")
    url = settings.health_urls(deployment)["dashboard"]
    _wait(lambda: supervisor.healthy(url), timeout=180, step=1)
    page = requests.get(deployment.url(deployment.dashboard_port) + "/app", timeout=60)
    # through nginx, logged out: the login page of the dashboard's login module
    assert page.status_code == 200 and 'name="password"' in page.text


def _new_champion(system) -> str:
    """Register the champion's model again as a new version and make it champion."""
    client = MlflowClient()
    current = client.get_model_version_by_alias("credit-scoring", "champion")
    version = str(mlflow.register_model(current.source, "credit-scoring").version)
    client.set_registered_model_alias("credit-scoring", "champion", version)
    return version


def test_reload_switches_model_without_failing_a_request(deployment, bodies, system):
    version = _new_champion(system)
    with traffic(deployment.url(deployment.model_port), bodies) as seen:
        switch = deploy.reload(str(deployment.run))
        time.sleep(1)
    print(f"switched to v{version} in {switch.seconds:.0f} s; {seen.ok} requests served")
    assert switch.switched and switch.new == version
    assert seen.failures == []
    assert seen.ok > 0
    assert [models.replica_version(deployment, n) for n in settings.REPLICAS] == [
        version, version]
    assert [d.name for d in (deployment.run / "models").iterdir()] == [version]
    result = CliRunner().invoke(app, ["reload", "--run-dir", str(deployment.run)])
    assert result.exit_code == 0 and "already serving" in result.output


def test_reload_to_a_version_that_does_not_start_rolls_back(deployment, bodies, tmp_path):
    """Replica 1 cannot start the new version: it goes back to the old one, the command says
    why, and no request fails."""
    old = [models.replica_version(deployment, n) for n in settings.REPLICAS]
    broken = tmp_path / "broken"
    shutil.copytree(models.model_dir(deployment, old[0]), broken)
    for booster in (broken / "artifacts").glob("booster*"):
        booster.write_text("not a LightGBM model")
    registry = MlflowClient(deployment.tracking_uri, deployment.tracking_uri)
    version = registry.create_model_version(deployment.model_name, source=str(broken)).version
    try:
        with traffic(deployment.url(deployment.model_port), bodies) as seen:
            with pytest.raises(ServiceError, match="model-1 did not"):
                deploy.reload(str(deployment.run), version=version, timeout=120)
            time.sleep(1)
    finally:
        registry.delete_model_version(deployment.model_name, version)
        shutil.rmtree(models.model_dir(deployment, version), ignore_errors=True)
    assert [models.replica_version(deployment, n) for n in settings.REPLICAS] == old
    assert supervisor.healthy(settings.health_urls(deployment)["model-1"])
    assert seen.failures == [] and seen.ok > 0
    upstream = (deployment.run / "upstream.conf").read_text()
    assert "backup" not in upstream and upstream.count("server ") == 2


def test_unreadable_tracking_store_is_a_clear_error_and_keeps_serving(deployment, bodies,
                                                                      tmp_path):
    broken = tmp_path / "mlflow.db"
    broken.write_bytes(b"this is not an SQLite database" * 100)
    saved = (deployment.run / settings.SETTINGS_FILE).read_text()
    s = settings.Settings.load(deployment.run)
    s.tracking_uri = f"sqlite:///{broken}"
    s.save()
    try:
        result = CliRunner().invoke(app, ["reload", "--run-dir", str(deployment.run)])
    finally:
        (deployment.run / settings.SETTINGS_FILE).write_text(saved)
    assert result.exit_code == 1
    assert "cannot read the tracking store" in result.output
    assert str(broken) in result.output
    assert "Traceback" not in result.output
    with traffic(deployment.url(deployment.model_port), bodies, clients=1) as seen:
        time.sleep(1)
    assert seen.failures == [] and seen.ok > 0


def test_drift_of_the_prediction_log_is_logged_to_mlflow(deployment, system, bodies, tmp_path):
    with traffic(deployment.url(deployment.model_port), bodies, clients=2) as seen:
        time.sleep(3)  # the log holds scored applications whatever ran before
    assert seen.ok > 0
    time.sleep(1.5)  # the log's writer thread writes every second
    out = tmp_path / "drift.html"
    result = CliRunner().invoke(app, [
        "drift", "--reference", "train", "--current", "log", "--store", str(system.store),
        "--prediction-log", deployment.prediction_log, "--top", "8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000
    run_id = result.output.rsplit("MLflow run ", 1)[1].strip(" )\n")
    run = MlflowClient().get_run(run_id)
    assert 0.0 <= run.data.metrics["share_drifted_features"] <= 1.0
    assert run.data.params["current"] == "log"
    experiment = MlflowClient().get_experiment(run.info.experiment_id)
    assert experiment.name == "credit-scoring-monitoring"
    artifacts = {a.path for a in MlflowClient().list_artifacts(run_id)}
    assert {"drift.html", "drift.csv"} <= artifacts


def test_down_stops_every_service(deployment):
    result = CliRunner().invoke(app, ["down", "--run-dir", str(deployment.run)])
    assert result.exit_code == 0 and "stopped" in result.output
    assert not supervisor.supervisor_running(deployment.run)
    for url in settings.health_urls(deployment).values():
        assert not supervisor.healthy(url, timeout=1)
    result = CliRunner().invoke(app, ["status", "--run-dir", str(deployment.run)])
    assert result.exit_code == 3 and "STOPPED" in result.output
