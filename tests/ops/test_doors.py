"""Every door of `scoring up` locked: the refusal beyond loopback, the credentials written,
and nginx itself (TLS, security headers, login throttling, the MLflow UI's basic auth) on
loopback with nothing behind it."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3
from typer.testing import CliRunner

from cli import app
from ops import doors, render, settings, supervisor
from testkit import free_port


def _settings(tmp_path, **changes) -> settings.Settings:
    values = {"tracking_uri": f"sqlite:///{tmp_path}/mlruns/mlflow.db",
              "run_dir": str(tmp_path / "run"), **changes}
    return settings.Settings(**values)


def test_loopback_opens_with_nothing_asked(tmp_path):
    assert doors.open_doors(_settings(tmp_path, login="none")) == []


def test_beyond_loopback_every_open_door_is_named(tmp_path):
    s = _settings(tmp_path, host="0.0.0.0", login="none")
    problems = " | ".join(doors.open_doors(s, env={}))
    assert "no login" in problems and "nobody can log in" in problems
    assert "no TLS" in problems
    oidc = " | ".join(doors.open_doors(_settings(tmp_path, host="0.0.0.0", login="oidc"),
                                       env={"PANEL_OAUTH_KEY": "k"}))
    assert "PANEL_OAUTH_SECRET, PANEL_OAUTH_EXTRA_PARAMS" in oidc


def test_up_beyond_loopback_refuses_before_starting_anything(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["up", "--host", "0.0.0.0", "--run-dir", str(run),
                                      "--login", "none"])
    assert result.exit_code == 1
    assert "refusing to serve on 0.0.0.0" in result.output and "no TLS" in result.output
    assert not (run / "supervisord.conf").exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7"])
def test_model_server_alone_refuses_beyond_loopback(host):
    result = CliRunner().invoke(app, ["serve", "--host", host])
    assert result.exit_code == 1
    assert f"--host {host}" in result.output and "no login" in result.output


def test_self_signed_pair_names_the_server_and_stays_private(tmp_path):
    from cryptography import x509

    s = _settings(tmp_path, server_name="scoring.bank.test")
    cert, key = doors.self_signed(s)
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "scoring.bank.test" in names.get_values_for_type(x509.DNSName)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_dashboard_command_logs_people_in_by_the_user_file_or_oidc(tmp_path):
    (tmp_path / "app.py").write_text("")
    s = _settings(tmp_path, dashboard_app=str(tmp_path / "app.py"), tls_cert="c", tls_key="k",
                  server_name="scoring.bank.test")
    conf = render.supervisord_conf(s, "nginx", cookie_secret="s3cret")
    assert f"--auth-module {render.LOGIN_MODULE}" in conf
    assert 'PANEL_COOKIE_SECRET="s3cret"' in conf and "DASHBOARD_USERS_FILE" in conf
    assert f"--address 127.0.0.1 --port {s.dashboard_backend_port}" in conf
    s.login = "oidc"
    oidc = render.supervisord_conf(s, "nginx", cookie_secret="s3cret")
    assert "--oauth-provider generic" in oidc and "--auth-module" not in oidc
    assert f"--oauth-redirect-uri https://scoring.bank.test:{s.dashboard_port}/login" in oidc
    assert "--allow-websocket-origin scoring.bank.test:" in oidc


@pytest.fixture
def nginx_doors() -> Iterator[settings.Settings]:
    """The rendered nginx alone on loopback (TLS with a self-signed pair, the MLflow UI
    locked), with nothing behind its doors. Its run folder is one nginx's workers may enter
    (they run as ``nobody`` when the tests run as root; pytest's folders are private)."""
    folder = Path(tempfile.mkdtemp(prefix="doors-"))
    folder.chmod(0o755)
    s = _settings(folder, model_port=free_port(), decisions_port=free_port(),
                  decisions_backend_port=free_port(), dashboard_port=free_port(),
                  dashboard_backend_port=free_port(), tracking_port=free_port(),
                  tracking_backend_port=free_port())
    s.tls_cert, s.tls_key = map(str, doors.self_signed(s))
    for sub in ("nginx", "logs"):
        (s.run / sub).mkdir(parents=True, exist_ok=True)
    doors.tracking_htpasswd(s)
    (s.run / "nginx.conf").write_text(render.nginx_conf(s, json_guard=False,
                                                        tracking_locked=True))
    (s.run / "upstream.conf").write_text(render.upstream_conf(s, [free_port()], []))
    proc = subprocess.Popen([supervisor.find_nginx(), "-c", str(s.run / "nginx.conf"),
                             "-p", str(s.run / "nginx")], stderr=subprocess.PIPE)
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    try:
        deadline = time.monotonic() + 10
        while not _answers(s.public_url(s.dashboard_port)):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.1)
        yield s
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2, verify=False)
        return True
    except requests.RequestException:
        return False


def test_nginx_throttles_login_attempts_with_429_per_address(nginx_doors):
    s = nginx_doors
    url = s.public_url(s.dashboard_port) + "/login"
    codes = [requests.post(url, data={"username": "x", "password": "guess"}, timeout=5,
                           verify=False).status_code for _ in range(render.LOGIN_BURST + 4)]
    assert codes[0] != 429 and codes[-1] == 429, codes  # 502 first: nothing behind nginx
    assert codes.count(429) >= 3, codes
    assert requests.get(url, timeout=5, verify=False).status_code != 429  # the page itself
    assert requests.get(s.public_url(s.dashboard_port) + "/liveness", timeout=5,
                        verify=False).status_code == 404  # the health check: loopback only


def test_every_public_door_speaks_tls_with_security_headers(nginx_doors):
    s = nginx_doors
    for port in (s.dashboard_port, s.decisions_port, s.tracking_port):
        headers = requests.get(s.public_url(port) + "/", timeout=5, verify=False).headers
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Referrer-Policy"] == "same-origin"
        clear = requests.get(f"http://127.0.0.1:{port}/", timeout=5)  # no clear-text door
        assert clear.status_code == 400 and "HTTPS port" in clear.text
    board = requests.get(s.public_url(s.dashboard_port) + "/", timeout=5, verify=False)
    assert "script-src 'self'" in board.headers["Content-Security-Policy"]


def test_mlflow_ui_asks_for_its_password(nginx_doors):
    s = nginx_doors
    url = s.public_url(s.tracking_port) + "/"
    assert requests.get(url, timeout=5, verify=False).status_code == 401
    user, password = (s.run / "tracking.password").read_text().strip().split(": ")
    assert requests.get(url, auth=(user, "wrong"), timeout=5, verify=False).status_code == 401
    # the right password passes nginx: 502, nothing behind it in this test
    assert requests.get(url, auth=(user, password), timeout=5, verify=False).status_code == 502
    assert stat.S_IMODE((s.run / "tracking.password").stat().st_mode) == 0o600


def test_loopback_start_creates_a_first_advisor_and_supervisor_once(tmp_path):
    from decisions.users import load_users

    s = _settings(tmp_path)
    created = doors.prepare_users(s)
    assert set(created) == {"advisor", "supervisor"}
    users = load_users(s.users_file)
    for name, password in created.items():
        assert users.verify(name, password).role == name
    assert doors.prepare_users(s) == {}  # never again, nor a new password
    data = json.loads(s.users_file.read_text())
    assert data["api_keys"]["dashboard"]["act_for_users"] is True
    assert data["api_keys"]["dashboard"]["key"].startswith("sha256:")
    for path in (s.users_file, s.dashboard_key_file, s.run / "first-logins.txt"):
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
