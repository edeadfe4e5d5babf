"""The served dashboard in Debian's headless Chromium, against the real model server.

``panel serve dashboard/app.py`` runs as a subprocess on a free port, fed by the session's
trained system (feature store, MLflow registry) and the ``model_server`` fixture. Requests to
any host but loopback are aborted, so nothing leaves the machine (Google Fonts included).
Every page is audited with axe-core in both languages, and captured in ``tests/artifacts/``.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dashboard.i18n import language
from dashboard.words import reason_sentence
from scoring.store import client_ids, read_clients
from serving.client import ScoringClient
from testkit import (
    CHROMIUM,
    ROOT,
    VENV_BIN,
    free_port,
    running,
    serve_command,
    server_env,
)

ARTIFACTS = ROOT / "tests" / "artifacts"
#: Page key -> text that shows the page is drawn, per language.
PAGES = {"client": {"fr": "Principales raisons", "en": "Principal reasons"},
         "compare": {"fr": "clients échantillonnés ; corrélation",
                     "en": "sampled clients; correlation"},
         "whatif": {"fr": "Comment la probabilité varie", "en": "How the probability moves"},
         "model": {"fr": "Contributions d'un client à l'autre",
                   "en": "Contributions across clients"},
         "about": {"fr": "Services et données", "en": "Services and data"}}
NAV = {"client": {"fr": "Client", "en": "Client"},
       "compare": {"fr": "Comparaisons", "en": "Comparisons"},
       "whatif": {"fr": "Simulation", "en": "What if"},
       "model": {"fr": "Fiche du modèle", "en": "Model card"},
       "about": {"fr": "À propos", "en": "About"}}

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian's chromium is not installed (/usr/bin/chromium): "
                              "apt-get install -y chromium, or make setup"),
    pytest.mark.timeout(900),
]


ADVISOR, PASSWORD = "alice", "alice-pw"


@pytest.fixture(scope="module")
def decision_service(system, model_server, tmp_path_factory) -> Iterator[str]:
    """The decision service (uvicorn, as its README starts it) on a fresh SQLite file."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder = tmp_path_factory.mktemp("decisions")
    env = {**server_env(system.tracking_uri), "DECISIONS_DB_URL":
           f"sqlite:///{folder / 'decisions.db'}", "DECISIONS_MODEL_URL": model_server,
           "DECISIONS_STORE": str(system.store), "DECISIONS_ADVISORS": f"{ADVISOR}={PASSWORD}"}
    command = [str(VENV_BIN / "uvicorn"), "--factory", "decisions.app:create_app",
               "--host", "127.0.0.1", "--port", str(port)]
    with running(command, f"{url}/health", env, folder / "decisions.log"):
        yield url


@contextmanager
def dashboard(system, model_url: str, log: Path, health_seconds: float = 1.0, sample: int = 500,
              lang: str = "fr", decisions_url: str = "") -> Iterator[str]:
    """``panel serve`` of the app on a free loopback port; yields the app's URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/app"
    command = [str(VENV_BIN / "panel"), "serve", str(ROOT / "dashboard" / "app.py"),
               "--port", str(port), "--address", "127.0.0.1",
               "--allow-websocket-origin", f"127.0.0.1:{port}", "--args",
               "--model-url", model_url, "--store", str(system.store), "--sample", str(sample),
               "--health-seconds", str(health_seconds), "--lang", lang,
               "--decisions-url", decisions_url, "--advisor", ADVISOR]
    env = {**server_env(system.tracking_uri), "DASHBOARD_ADVISOR_PASSWORD": PASSWORD}
    with running(command, url, env, log):
        yield url


@pytest.fixture(scope="module")
def app_url(system, model_server, decision_service, tmp_path_factory) -> Iterator[str]:
    with dashboard(system, model_server, tmp_path_factory.mktemp("panel") / "panel.log",
                   decisions_url=decision_service) as url:
        yield url


def open_app(page, url: str, lang: str = "fr", client: int | None = None) -> None:
    query = f"?lang={lang}" + (f"&client={client}" if client else "")
    page.goto(url + query)
    page.get_by_text({"fr": "clients. Tapez", "en": "clients. Type"}[lang]).wait_for(
        timeout=30_000)


def choose(page, client_id: int | str) -> None:
    box = page.locator(".client-search input")
    box.fill(str(client_id))
    box.press("Enter")


def text(page, css_class: str, timeout: float = 30_000) -> str:
    """The text of the first pane with this class (Panel renders it in a shadow root, which
    Playwright's CSS selectors pierce)."""
    content = page.locator(f".{css_class} :is(p, li)")
    content.first.wait_for(timeout=timeout)
    return " ".join(content.all_inner_texts())


def go(page, key: str, lang: str) -> None:
    page.locator(f".nav-{key} button").click()
    page.get_by_text(PAGES[key][lang]).first.wait_for(timeout=90_000)


def shot(page, name: str) -> None:
    """A small palette PNG of the page (tall viewport: the template scrolls inside)."""
    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("""() => Math.max(900, ...[...document.querySelectorAll('#main')]
                               .map(e => e.scrollHeight + 80))""")
    page.set_viewport_size({"width": 1280, "height": min(int(height), 4000)})
    time.sleep(0.5)
    image = Image.open(io.BytesIO(page.screenshot()))
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4))
    image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(
        ARTIFACTS / f"dashboard_{name}.png", optimize=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations of the page (bundled axe.min.js)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']}: "
            f"{[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.fixture(scope="module")
def client_id(system) -> int:
    return client_ids(system.store, dataset="train")[3]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_client_score_and_reasons_match_the_model_server(page, app_url, system, model_server,
                                                         client_id, lang):
    t = language(lang)
    row = read_clients([client_id], system.store).drop(columns=["TARGET", "DATASET"])
    expected = ScoringClient(model_server).score(row, explain="top-k", top_k=10)[0]
    open_app(page, app_url, lang)
    assert page.title() == t.gettext("Credit scoring – client advisor dashboard")
    assert page.evaluate("document.documentElement.lang") == lang
    choose(page, client_id)
    page.get_by_role("heading", name=t.gettext("Client {id}").format(id=client_id)).wait_for(
        timeout=30_000)
    words = {"granted": "✔ ", "refused": "✖ "}[expected.decision] + t.gettext(
        {"granted": "Loan granted", "refused": "Loan refused"}[expected.decision])
    assert words in text(page, "decision")
    distance = text(page, "distance")
    assert t.percent(expected.probability) in distance
    assert t.percent(expected.threshold) in distance
    reasons = text(page, "reasons")
    for reason in expected.reasons[:5]:
        assert reason_sentence(t, reason).rstrip(".") in reasons
    recourse = page.locator(".recourse li").first
    recourse.wait_for(timeout=30_000)
    assert re.search({"fr": "toutes choses égales|Aucune modification",
                      "en": "all else equal|No single change"}[lang], recourse.inner_text())
    header = page.locator(".server-state").inner_text()
    assert t.gettext("✔ model server available") in header
    assert "127.0.0.1" not in page.locator("#main").inner_text()  # no internal URL


def test_every_page_in_both_languages_is_accessible_and_captured(page, app_url, client_id):
    problems = {}
    for lang in ("fr", "en"):
        open_app(page, app_url, lang, client=client_id)
        text(page, "decision")
        for key in PAGES:
            go(page, key, lang)
            time.sleep(1)
            problems[f"{lang}/{key}"] = serious_violations(page)
            shot(page, f"{lang}_{key}")
    assert {k: v for k, v in problems.items() if v} == {}


def _focused(page) -> dict:
    return page.evaluate("""() => {
        let e = document.activeElement;
        while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
        return {tag: e ? e.tagName : '', text: e ? (e.innerText || e.value || '').trim() : '',
                placeholder: e && e.getAttribute ? (e.getAttribute('placeholder') || '') : ''};
    }""")


def tab_to(page, matches, limit: int = 80) -> dict:
    """Press Tab until the focused element matches; fails when it never does."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = _focused(page)
        if matches(focused):
            return focused
    raise AssertionError(f"Tab never reached the element; last focused: {focused}")


def _history(page) -> str:
    """The text of the earlier-decisions table (in the pane's shadow root)."""
    cells = page.locator(".decision-history td")
    cells.first.wait_for(timeout=30_000)
    return " ".join(cells.all_inner_texts())


def test_keyboard_only_find_a_client_open_each_page_and_record_a_decision(page, app_url,
                                                                         system):
    client_id = client_ids(system.store, dataset="train")[7]
    open_app(page, app_url, "fr")
    tab_to(page, lambda f: f["tag"] == "INPUT" and f["placeholder"].startswith("par ex."))
    page.keyboard.type(str(client_id))
    page.keyboard.press("Enter")
    text(page, "decision")
    for key in ("compare", "whatif", "model", "about", "client"):
        tab_to(page, lambda f, k=key: f["tag"] == "BUTTON" and f["text"] == NAV[k]["fr"])
        page.keyboard.press("Enter")
        page.get_by_text(PAGES[key]["fr"]).first.wait_for(timeout=90_000)
    page.locator(".decision-confirm button").wait_for(timeout=60_000)
    tab_to(page, lambda f: f["tag"] == "BUTTON"
           and f["text"] == "Confirmer la décision du modèle")
    page.keyboard.press("Enter")
    page.get_by_text("Décision enregistrée").wait_for(timeout=30_000)
    assert "alice" in _history(page)


def test_override_needs_a_reason_and_lists_the_earlier_decisions(page, app_url, system,
                                                                  decision_service):
    import requests

    client_id = client_ids(system.store, dataset="train")[8]
    open_app(page, app_url, "en", client=client_id)
    page.locator(".decision-override button").click()
    page.get_by_text("Choose why you override").wait_for(timeout=30_000)
    page.locator(".override-reason select").select_option(label="Guarantor or collateral")
    page.locator(".decision-override button").click()
    page.get_by_text("the reason is required").wait_for(timeout=30_000)
    page.locator(".override-text textarea").fill("A parent guarantees the loan.")
    page.locator(".decision-override button").click()
    page.get_by_text("Decision recorded").wait_for(timeout=30_000)
    assert "Guarantor or collateral: A parent guarantees the loan." in _history(page)
    stored = requests.get(f"{decision_service}/decisions", params={"client_id": client_id},
                          auth=(ADVISOR, PASSWORD), timeout=30).json()["decisions"]
    assert [d["override_reason_code"] for d in stored] == ["GUARANTOR_OR_COLLATERAL"]
    assert stored[0]["final_decision"] != stored[0]["model_decision"]


def test_letter_downloads_in_the_chosen_language(page, app_url, client_id):
    from pypdf import PdfReader

    open_app(page, app_url, "fr", client=client_id)
    text(page, "decision")
    page.locator(".letter-card").scroll_into_view_if_needed()
    with page.expect_download() as download:
        page.locator(".letter-pdf").get_by_role("button").click()
    pdf = PdfReader(download.value.path())
    words = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
    assert len(pdf.pages) == 1 and f"Demande n° {client_id}" in words
    assert "réexamen par une personne" in words
    page.locator(".letter-card select").select_option(label="English")
    with page.expect_download() as download:
        page.locator(".letter-html").get_by_role("button").click()
    html = Path(download.value.path()).read_text()
    assert f"Application number {client_id}" in html and '<html lang="en">' in html


def test_what_if_changes_the_score_and_bad_values_get_a_field_message(page, app_url,
                                                                      client_id):
    open_app(page, app_url, "en", client=client_id)
    text(page, "distance")
    go(page, "whatif", "en")
    assert text(page, "sensitivity", timeout=60_000)
    credit = page.get_by_label("Credit amount").first
    credit.wait_for(timeout=30_000)
    value = float(credit.input_value().replace(",", ""))
    credit.fill(str(int(value * 4)))
    credit.press("Tab")
    page.get_by_role("button", name="Score this application").first.click()
    result = text(page, "whatif-result")
    change = re.search(r"Before the changes: [\d.]+% \(([+-]?[\d.]+) points\)", result)
    assert change and float(change.group(1)) != 0.0, result
    income = page.get_by_label("Annual income").first
    income.fill("-1000")
    income.press("Tab")
    page.get_by_role("button", name="Score this application").first.click()
    error = text(page, "field-error")
    assert "Annual income" in error and "outside the plausible range" in error
    page.get_by_role("button", name="Score this application").nth(1).click()  # a new client
    assert "probability of default is" in text(page, "newclient-result")


def test_unknown_client_gets_a_clear_message(page, app_url):
    open_app(page, app_url, "fr")
    choose(page, 999_999_999)
    page.get_by_text("Aucun client portant le numéro 999999999").wait_for(timeout=30_000)
    choose(page, "12ab")
    page.get_by_text("n'est pas un numéro de client").wait_for(timeout=30_000)


def test_server_down_banner_and_recovery(page, system, tmp_path, client_id):
    port = free_port()
    model_url = f"http://127.0.0.1:{port}"
    serve = serve_command("models:/credit-scoring@champion", port)
    env = server_env(system.tracking_uri)
    with dashboard(system, model_url, tmp_path / "panel.log", sample=200, lang="en") as url:
        with running(serve, f"{model_url}/ping", env, tmp_path / "model1.log"):
            open_app(page, url, "en")
            choose(page, client_id)
            text(page, "decision")
        banner = page.get_by_text("The model server is not answering")
        banner.wait_for(timeout=20_000)
        assert "not answering" in page.locator(".server-state").inner_text()
        assert page.get_by_text("Application of client").is_visible()  # the rest still works
        started = time.monotonic()
        with running(serve, f"{model_url}/ping", env, tmp_path / "model2.log"):
            banner.wait_for(state="detached", timeout=30_000)
            text(page, "decision")
            assert time.monotonic() - started < 90
