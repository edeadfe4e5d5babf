"""People log in to the served dashboard, in Debian's headless Chromium, through nginx as
`scoring up` renders it (its content-security policy, its login throttle), against the real
decision service and model server.

Two advisors in two sessions record decisions that name each of them; a supervisor confirms
another advisor's override; a client reads their own file and nothing else; wrong passwords
are refused, and a guessing loop meets 429.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ops import doors, render, settings, supervisor
from scoring.store import client_ids
from testkit import CHROMIUM, ROOT, VENV_BIN, free_port, running, server_env

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                       "(/usr/bin/chromium): apt-get install -y chromium, or make setup"),
    pytest.mark.timeout(900),
]


@dataclass
class Accounts:
    """The user file of the tests, its people's passwords and the dashboard's key."""

    file: Path
    key_file: Path
    passwords: dict[str, str]
    own_client: int
    other_client: int


@dataclass
class Door:
    """The dashboard's URL through nginx, and ``panel serve``'s own behind it."""

    url: str
    backend: str


@pytest.fixture(scope="module")
def accounts(system, tmp_path_factory) -> Accounts:
    from decisions.users import add_user

    folder = tmp_path_factory.mktemp("people")
    s = settings.Settings(tracking_uri=system.tracking_uri, run_dir=str(folder))
    doors.prepare_users(s)  # the dashboard's key; on loopback a first advisor and supervisor
    own, other = client_ids(system.store, "train")[30:32]
    roles = {"alice": ("advisor", None), "bob": ("advisor", None),
             "sam": ("supervisor", None), "carla": ("client", own)}
    passwords = {}
    for name, (role, client) in roles.items():
        passwords[name] = secrets.token_urlsafe(12)
        add_user(s.users_file, name, role, passwords[name], client_id=client)
    return Accounts(s.users_file, s.dashboard_key_file, passwords, own, other)


@pytest.fixture(scope="module")
def service(system, model_server, accounts, tmp_path_factory) -> Iterator[str]:
    """The decision service on the test user file; every override waits for a supervisor."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder = tmp_path_factory.mktemp("decisions-login")
    env = {**server_env(system.tracking_uri),
           "DECISIONS_DB_URL": f"sqlite:///{folder / 'decisions.db'}",
           "DECISIONS_MODEL_URL": model_server, "DECISIONS_STORE": str(system.store),
           "DECISIONS_USERS_FILE": str(accounts.file)}
    command = [str(VENV_BIN / "uvicorn"), "--factory", "decisions.app:create_app",
               "--host", "127.0.0.1", "--port", str(port)]
    with running(command, f"{url}/health", env, folder / "decisions.log"):
        yield url


@pytest.fixture(scope="module")
def door(system, model_server, service, accounts, tmp_path_factory) -> Iterator[Door]:
    """``panel serve`` with the login module, behind nginx's rendered dashboard door."""
    folder = tmp_path_factory.mktemp("door")
    s = settings.Settings(tracking_uri=system.tracking_uri, run_dir=str(folder),
                          tracking_ui=False, dashboard_port=free_port(),
                          dashboard_backend_port=free_port(), model_port=free_port(),
                          decisions_port=free_port(), decisions_backend_port=free_port())
    for sub in ("nginx", "logs"):
        (s.run / sub).mkdir()
    (s.run / "nginx.conf").write_text(render.nginx_conf(s, json_guard=False))
    (s.run / "upstream.conf").write_text(render.upstream_conf(s, [free_port()], []))
    backend = f"http://127.0.0.1:{s.dashboard_backend_port}"
    command = [str(VENV_BIN / "panel"), "serve", str(ROOT / "dashboard" / "app.py"),
               "--port", str(s.dashboard_backend_port), "--address", "127.0.0.1",
               "--allow-websocket-origin", f"127.0.0.1:{s.dashboard_port}",
               "--auth-module", str(render.LOGIN_MODULE), "--cookie-secret",
               secrets.token_urlsafe(24), "--use-xheaders", "--args",
               "--model-url", model_server, "--store", str(system.store), "--sample", "300",
               "--health-seconds", "2", "--decisions-url", service]
    env = {**server_env(system.tracking_uri), "DASHBOARD_USERS_FILE": str(accounts.file),
           "DASHBOARD_DECISIONS_KEY_FILE": str(accounts.key_file)}
    with running(command, f"{backend}/login", env, folder / "panel.log"):
        nginx = subprocess.Popen([supervisor.find_nginx(), "-c", str(s.run / "nginx.conf"),
                                  "-p", str(s.run / "nginx")])
        try:
            url = f"http://127.0.0.1:{s.dashboard_port}"
            _wait_answer(f"{url}/login")
            yield Door(url, backend)
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


def _wait_answer(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"{url} does not answer"
        time.sleep(0.1)


def log_in(sessions, url: str, name: str, password: str, lang: str = "en", query: str = ""):
    """A new browser session logged in as ``name``; returns its page."""
    page = sessions()
    page.goto(f"{url}/app?lang={lang}{query}", timeout=120_000)  # a loaded 2-core machine
    page.locator("#username").fill(name)
    page.locator("#password").fill(password)
    page.locator("button[type=submit]").click(no_wait_after=True)  # the page builds slowly
    return page


def _wait_text(page, text: str, timeout: float = 60_000) -> None:
    page.get_by_text(text).first.wait_for(timeout=timeout)


def test_two_advisors_record_decisions_each_under_their_name(sessions, door, service,
                                                             accounts, system):
    first, second = client_ids(system.store, "train")[20:22]
    pages = {name: log_in(sessions, door.url, name, accounts.passwords[name],
                          query=f"&client={cid}")
             for name, cid in (("alice", first), ("bob", second))}
    for name, page in pages.items():  # both sessions open at once
        _wait_text(page, f"Logged in: {name} (advisor)")
        assert page.locator(".nav-review").count() == 0  # supervisors only
        page.locator(".decision-confirm button").click()
        _wait_text(page, "Decision recorded")
    listed = requests.get(f"{service}/decisions", timeout=30,
                          auth=("sam", accounts.passwords["sam"])).json()["decisions"]
    assert {d["client_id"]: d["advisor"] for d in listed
            if d["client_id"] in (first, second)} == {first: "alice", second: "bob"}
    page = pages["alice"]
    page.locator(".logout").first.click()
    page.locator("#username").wait_for(timeout=30_000)
    page.goto(f"{door.url}/app")
    page.locator("#username").wait_for(timeout=30_000)  # logged out: the login page again


def test_a_wrong_password_is_refused(sessions, door, accounts):
    page = log_in(sessions, door.url, "alice", "not-her-password", lang="fr")
    _wait_text(page, "Nom d'utilisateur ou mot de passe incorrect.")
    assert page.locator("#username").is_visible()


def test_a_supervisor_confirms_another_advisors_override(sessions, door, service, accounts,
                                                         system):
    cid = client_ids(system.store, "train")[22]
    override = requests.post(f"{service}/clients/{cid}/decisions", timeout=60,
                             auth=("alice", accounts.passwords["alice"]),
                             json={"action": "override", "reason_code": "DATA_ERROR",
                                   "reason_text": "The income was mistyped."})
    assert override.status_code == 201, override.text
    record = override.json()["id"]
    page = log_in(sessions, door.url, "sam", accounts.passwords["sam"])
    page.locator(".nav-review button").click()
    _wait_text(page, "The income was mistyped.")
    page.locator(".review-choice select").select_option(
        label=f"record {record}: client {cid}, by alice")
    page.locator(".review-comment textarea").fill("Payslip checked.")
    page.locator(".review-confirm button").click()
    _wait_text(page, f"Override {record} confirmed.")
    pending = requests.get(f"{service}/decisions", params={"status": "pending"}, timeout=30,
                           auth=("sam", accounts.passwords["sam"])).json()["decisions"]
    assert record not in [d["id"] for d in pending]


def test_a_client_reads_their_own_file_and_no_one_elses(sessions, door, accounts):
    page = log_in(sessions, door.url, "carla", accounts.passwords["carla"], lang="fr")
    _wait_text(page, f"votre demande n° {accounts.own_client}")
    for part in ("own-reasons", "own-recourse", "own-data", "own-review"):
        page.locator(f".{part}").first.wait_for(timeout=30_000)
    assert page.locator(".nav-compare").count() == 0  # no population view
    with page.expect_download() as download:
        page.locator(".own-json button").click()
    data = json.loads(Path(download.value.path()).read_text())
    assert data["client_id"] == accounts.own_client and data["data_held"]
    page.goto(f"{door.url}/app?lang=fr&client={accounts.other_client}")
    _wait_text(page, "Vous ne pouvez voir que votre propre demande.")
    assert page.locator(".own-data").count() == 0  # nothing else is read
    assert str(accounts.other_client) not in page.locator("#main").inner_text()


def test_a_guessing_loop_gets_429_per_user_and_per_address(door):
    """Last of the module: afterwards nginx refuses logins from loopback for a while."""
    guess = {"username": "mallory", "password": "x"}
    per_user = [requests.post(f"{door.backend}/login", data=guess, allow_redirects=False,
                              timeout=10).status_code for _ in range(6)]
    assert per_user[:5] == [303] * 5 and per_user[5] == 429, per_user  # the login module
    per_address = [requests.post(f"{door.url}/login", data={"username": f"u{i}", "password": "x"},
                                 allow_redirects=False, timeout=10).status_code
                   for i in range(8)]
    assert per_address[0] == 303 and per_address[-1] == 429, per_address  # nginx
