"""The served dashboard in Debian's headless Chromium, against the real model server.

``panel serve dashboard/app.py`` runs as a subprocess on a free port, fed by the session's
trained system (feature store, MLflow registry) and the ``model_server`` fixture. Requests to
any host but loopback are aborted, so nothing leaves the machine. Screenshots go to
``tests/artifacts/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dashboard.words import percent, reason_sentence
from scoring.store import client_ids, read_clients
from serving.client import ScoringClient
from testkit import ROOT, VENV_BIN, free_port, running, serve_command, server_env

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed (/usr/bin/chromium): "
                              "apt-get install -y chromium, or make setup"),
    pytest.mark.timeout(300),
]


@contextmanager
def dashboard(system, model_url: str, log: Path, health_seconds: float = 1.0, sample: int = 500
              ) -> Iterator[str]:
    """``panel serve`` of the app on a free loopback port; yields the app's URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/app"
    command = [str(VENV_BIN / "panel"), "serve", str(ROOT / "dashboard" / "app.py"),
               "--port", str(port), "--address", "127.0.0.1",
               "--allow-websocket-origin", f"127.0.0.1:{port}", "--args",
               "--model-url", model_url, "--store", str(system.store), "--sample", str(sample),
               "--health-seconds", str(health_seconds)]
    with running(command, url, server_env(system.tracking_uri), log):
        yield url


@pytest.fixture(scope="module")
def app_url(system, model_server, tmp_path_factory) -> Iterator[str]:
    with dashboard(system, model_server, tmp_path_factory.mktemp("panel") / "panel.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _loopback_only(route) -> None:
    if urlparse(route.request.url).hostname in LOOPBACK:
        route.continue_()
    else:  # fonts.googleapis.com, fonts.gstatic.com, any CDN: never leave the machine
        route.abort()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.route("**/*", _loopback_only)
    yield page
    context.close()


def open_app(page, url: str) -> None:
    page.goto(url)
    page.get_by_text("clients in the feature store").wait_for(timeout=30_000)


def choose(page, client_id: int | str) -> None:
    box = page.get_by_placeholder("type a client number")
    box.fill(str(client_id))
    box.press("Enter")


def text(page, css_class: str, timeout: float = 30_000) -> str:
    """The text of the first Markdown pane with this class (Panel renders it in a shadow
    root, which Playwright's CSS selectors pierce)."""
    content = page.locator(f".{css_class} :is(p, li)")
    content.first.wait_for(timeout=timeout)
    return " ".join(content.all_inner_texts())


def tab(page, name: str) -> None:
    page.locator(".bk-tab", has_text=name).first.click()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard_{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def client_id(system) -> int:
    return client_ids(system.store, dataset="train")[3]


def test_client_score_and_reasons_match_the_model_server(page, app_url, system, model_server,
                                                         client_id):
    row = read_clients([client_id], system.store).drop(columns=["TARGET", "DATASET"])
    expected = ScoringClient(model_server).score(row, explain="top-k", top_k=10)[0]
    open_app(page, app_url)
    assert page.title() == "Credit scoring – client advisor dashboard"
    choose(page, client_id)
    page.get_by_role("heading", name=f"Client {client_id}").wait_for(timeout=30_000)
    words = {"granted": "✔ Loan granted", "refused": "✖ Loan refused"}[expected.decision]
    assert words in text(page, "decision")
    distance = text(page, "distance")
    assert f"probability of default is {percent(expected.probability)}" in distance
    assert f"threshold of {percent(expected.threshold)}" in distance
    reasons = text(page, "reasons")
    for reason in expected.reasons[:6]:
        assert reason_sentence(reason).rstrip(".") in reasons
    assert page.get_by_text("About the client").is_visible()
    shot(page, "client")


def test_compare_and_model_tabs(page, app_url, client_id):
    open_app(page, app_url)
    choose(page, client_id)
    text(page, "decision")
    tab(page, "Compare with other clients")
    assert "defaulted" in text(page, "population-summary")
    page.get_by_text("sampled clients; correlation").wait_for(timeout=60_000)
    shot(page, "compare")
    tab(page, "Model")
    page.get_by_text("The champion model").wait_for(timeout=30_000)
    assert page.get_by_text(re.compile(r"ROC AUC")).first.is_visible()
    shot(page, "model")


def test_what_if_changes_the_score_and_bad_values_get_a_field_message(page, app_url,
                                                                      client_id):
    open_app(page, app_url)
    choose(page, client_id)
    text(page, "distance")
    tab(page, "What if")
    credit = page.get_by_label("Credit amount").first
    credit.wait_for(timeout=30_000)
    credit.fill(str(int(float(credit.input_value()) * 4)))
    credit.press("Tab")
    page.get_by_role("button", name="Score this application").first.click()
    result = text(page, "whatif-result")
    change = re.search(r"Before the changes: [\d.]+% \(([+-][\d.]+) points\)", result)
    assert change and float(change.group(1)) != 0.0, result
    income = page.get_by_label("Annual income").first
    income.fill("-1000")
    income.press("Tab")
    page.get_by_role("button", name="Score this application").first.click()
    error = text(page, "field-error")
    assert "Annual income" in error and "outside the plausible range" in error
    page.get_by_role("button", name="Score this application").nth(1).click()  # a new client
    assert "probability of default is" in text(page, "newclient-result")
    shot(page, "what_if")


def test_unknown_client_gets_a_clear_message(page, app_url):
    open_app(page, app_url)
    choose(page, 999_999_999)
    page.get_by_text("No client with SK_ID_CURR 999999999").wait_for(timeout=30_000)
    choose(page, "12ab")
    page.get_by_text("is not a client number").wait_for(timeout=30_000)


def test_server_down_banner_and_recovery(page, system, tmp_path, client_id):
    port = free_port()
    model_url = f"http://127.0.0.1:{port}"
    serve = serve_command("models:/credit-scoring@champion", port)
    env = server_env(system.tracking_uri)
    with dashboard(system, model_url, tmp_path / "panel.log", sample=200) as url:
        with running(serve, f"{model_url}/ping", env, tmp_path / "model1.log"):
            open_app(page, url)
            choose(page, client_id)
            text(page, "decision")
        banner = page.get_by_text("The model server is not answering")
        banner.wait_for(timeout=20_000)
        assert page.get_by_text("About the client").is_visible()  # the rest still works
        shot(page, "server_down")
        started = time.monotonic()
        with running(serve, f"{model_url}/ping", env, tmp_path / "model2.log"):
            banner.wait_for(state="detached", timeout=30_000)
            text(page, "decision")
            assert time.monotonic() - started < 90
            shot(page, "server_back")
