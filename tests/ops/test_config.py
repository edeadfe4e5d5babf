"""Generated configuration (supervisord, nginx, systemd) and the CLI without services."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from ops import launch, models, render, settings, supervisor
from ops.systemd import units


def _settings(tmp_path, **changes) -> settings.Settings:
    values = {"tracking_uri": f"sqlite:///{tmp_path}/mlruns/mlflow.db",
              "run_dir": str(tmp_path / "run"), **changes}
    return settings.Settings(**values)


def test_supervisord_conf_has_a_restarting_program_with_a_log_per_service(tmp_path):
    s = _settings(tmp_path, dashboard_app=str(tmp_path / "app.py"))
    (tmp_path / "app.py").write_text("")
    parser = configparser.RawConfigParser()
    parser.read_string(render.supervisord_conf(s, "/usr/sbin/nginx"))
    programs = [p.removeprefix("program:") for p in parser.sections()
                if p.startswith("program:")]
    assert programs == ["tracking", "model-1", "model-2", "proxy", "dashboard", "decisions",
                        "healthcheck"]
    for name in programs:
        section = parser[f"program:{name}"]
        assert section["autorestart"] == "true"
        assert section["stdout_logfile"] == f"%(here)s/logs/{name}.log"
    assert "--liveness" in parser["program:dashboard"]["command"]
    assert "SCORING_PREDICTION_LOG" in parser["program:model-1"]["environment"]
    assert "127.0.0.1" in parser["program:tracking"]["command"]
    decisions = parser["program:decisions"]
    assert "decisions.app:create_app" in decisions["command"]
    assert f"--port {s.decisions_backend_port}" in decisions["command"]
    assert f'DECISIONS_MODEL_URL="{s.url(s.model_port)}"' in decisions["environment"]
    assert "DECISIONS_AUTH_FILE" in decisions["environment"]


def test_dashboard_is_left_out_while_its_file_is_absent(tmp_path):
    s = _settings(tmp_path, dashboard_app=str(tmp_path / "missing.py"))
    assert "[program:dashboard]" not in render.supervisord_conf(s, "nginx")
    assert not settings.dashboard_enabled(s)


def test_percent_signs_are_escaped_for_supervisord(tmp_path):
    s = _settings(tmp_path, extra_env={"A": "50%"})
    assert 'A="50%%"' in render.supervisord_conf(s, "nginx")


def test_nginx_retries_on_the_other_replica_and_binds_the_host(tmp_path):
    s = _settings(tmp_path, host="0.0.0.0", model_port=6001, replica_ports=(6011, 6012))
    conf = render.nginx_conf(s)
    assert "listen 127.0.0.1:6001;" in conf  # the model URL has no login: loopback only
    assert "proxy_next_upstream error timeout http_502 http_503 non_idempotent;" in conf
    assert f"listen 0.0.0.0:{s.decisions_port};" in conf  # the decision service
    assert f"server 127.0.0.1:{s.decisions_backend_port} max_fails=0;" in conf
    upstream = render.upstream_conf(s, [6012], [6011])
    assert "server 127.0.0.1:6012 max_fails=0;" in upstream
    assert "server 127.0.0.1:6011 max_fails=0 backup;" in upstream


def test_small_profile_runs_one_replica_and_no_tracking_ui(tmp_path):
    s = _settings(tmp_path, dashboard_app=str(tmp_path / "app.py"), replicas=1,
                  tracking_ui=False)
    (tmp_path / "app.py").write_text("")
    parser = configparser.RawConfigParser()
    parser.read_string(render.supervisord_conf(s, "/usr/sbin/nginx"))
    assert [p.removeprefix("program:") for p in parser.sections() if p.startswith("program:")
            ] == ["model-1", "proxy", "dashboard", "decisions", "healthcheck"]
    assert set(settings.health_urls(s)) == {"model-1", "proxy", "dashboard", "decisions"}


@pytest.mark.skipif(not supervisor.json_guard_available(), reason="no nginx Lua module")
@pytest.mark.parametrize("guard", [True, False])
def test_nginx_accepts_its_config_with_and_without_the_json_check(tmp_path, guard):
    s = _settings(tmp_path, model_port=6001, replica_ports=(6011, 6012))
    (s.run / "nginx").mkdir(parents=True)
    (s.run / "logs").mkdir()
    (s.run / "nginx.conf").write_text(render.nginx_conf(s, json_guard=guard))
    (s.run / "upstream.conf").write_text(render.upstream_conf(s, [6011, 6012], []))
    assert ("access_by_lua_file" in (s.run / "nginx.conf").read_text()) == guard
    check = subprocess.run([supervisor.find_nginx(), "-t", "-c", str(s.run / "nginx.conf"),
                            "-p", str(s.run / "nginx")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_systemd_units_run_supervisord_in_the_foreground(tmp_path):
    s = _settings(tmp_path, host="0.0.0.0")
    found = units(s, user="scoring")
    service = found["credit-scoring.service"]
    assert "up --foreground" in service and "--host 0.0.0.0" in service
    assert "ExecReload=" in service and "User=scoring" in service
    assert f"MLFLOW_TRACKING_URI={s.tracking_uri}" in service
    assert "OnCalendar=daily" in found["credit-scoring-drift.timer"]
    result = CliRunner().invoke(app, ["systemd", "--out", str(tmp_path / "units")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "units" / "credit-scoring.service").is_file()


def test_up_without_a_tracking_store_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/nowhere/mlflow.db")
    result = CliRunner().invoke(app, ["up", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "tracking store" in result.output and "not found" in result.output
    assert not (tmp_path / "nowhere").exists()


def test_up_with_a_corrupt_tracking_store_is_a_clear_error(tmp_path, monkeypatch):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"\x00garbage" * 500)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    result = CliRunner().invoke(app, ["up", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "cannot read the tracking store" in result.output
    assert db.read_bytes() == b"\x00garbage" * 500  # left as it was


def test_status_and_down_when_nothing_runs(tmp_path):
    result = CliRunner().invoke(app, ["status", "--run-dir", str(tmp_path)])
    assert result.exit_code == 1 and "scoring up" in result.output
    result = CliRunner().invoke(app, ["down", "--run-dir", str(tmp_path)])
    assert result.exit_code == 0 and "nothing running" in result.output


def test_waiting_for_health_accepts_an_absent_dashboard(tmp_path, monkeypatch):
    states = [settings.ServiceStatus("tracking", "RUNNING", "", "ok"),
              settings.ServiceStatus("dashboard", "ABSENT", "", "-")]
    monkeypatch.setattr(supervisor, "status", lambda run_dir: states)
    start = time.monotonic()
    assert supervisor.wait_healthy(_settings(tmp_path), timeout=30) == states
    assert time.monotonic() - start < 1


def test_launch_stops_what_is_left_of_the_previous_start_and_nothing_else(tmp_path):
    """The server child of a replica outlives its `mlflow models serve` command and would
    hold the port: the next start stops the scoring-server processes of the previous process
    group, only those; SIGTERM first (requests in flight finish), SIGKILL after the grace."""
    tag = "  # mlflow.pyfunc.scoring_server"
    left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)" + tag],
                            process_group=0)
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
         "signal.SIG_IGN); print('ready', flush=True); time.sleep(60)" + tag],
        process_group=left.pid, stdout=subprocess.PIPE, text=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             process_group=left.pid)
    try:
        assert stubborn.stdout.readline().strip() == "ready"
        pidfile = tmp_path / "model-1.pid"
        pidfile.write_text(str(left.pid))
        assert sorted(launch.leftovers(left.pid)) == sorted([left.pid, stubborn.pid])
        launch.stop_leftovers(pidfile, grace=1.0)
        assert left.wait(5) == -signal.SIGTERM
        assert stubborn.wait(5) == -signal.SIGKILL
        assert other.poll() is None
        launch.stop_leftovers(tmp_path / "absent.pid")
    finally:
        for proc in (left, stubborn, other):
            if proc.poll() is None:
                os.kill(proc.pid, 9)
                proc.wait()


def test_model_copy_reads_the_settings_store_not_mlflow_defaults(system, tmp_path):
    """`scoring up` in a shell without MLFLOW_TRACKING_URI: the version comes from the store
    of the settings, and no stray mlflow.db appears in the working folder."""
    code = ("import sys; from ops import models, settings; "
            "s = settings.Settings(tracking_uri=sys.argv[1], run_dir=sys.argv[2]); "
            "print(models.fetch_model(s, models.champion_version(s.tracking_uri)))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    out = subprocess.run([sys.executable, "-c", code, system.tracking_uri,
                          str(tmp_path / "run")], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    copy = Path(out.stdout.strip().splitlines()[-1])
    assert (copy / "MLmodel").is_file() and copy.parent.parent == tmp_path / "run"
    assert not (tmp_path / "mlflow.db").exists()


def test_a_stale_model_copy_of_another_store_is_fetched_again(system, tmp_path):
    """A run folder kept across a new tracking store holds a "version 1" of another model:
    `up` must serve the registry's version, not the stale copy."""
    s = settings.Settings(tracking_uri=system.tracking_uri, run_dir=str(tmp_path / "run"))
    version = models.champion_version(s.tracking_uri)
    stale = models.model_dir(s, version)
    stale.mkdir(parents=True)
    (stale / "MLmodel").write_text("flavors: {}\n")  # what an older store's version left
    copy = models.fetch_model(s, version)
    assert copy == stale and "python_function" in (copy / "MLmodel").read_text()
    assert system.tracking_uri in (copy / ".source").read_text()
    assert models.fetch_model(s, version) == copy  # the good copy is kept as it is
