"""Advisor dashboard speed at full Kaggle size, measured in the browser (Debian's Chromium).

```
.venv/bin/python benchmarks/bench_dashboard.py             # 356,255 clients
.venv/bin/python benchmarks/bench_dashboard.py --clients 20000 --pages 3 --switches 5
```

Needs a feature store of the full population: reuses ``benchmarks/.cache/full/features`` when
present, else builds it from ``benchmarks/.cache/homecredit-356255`` (another benchmark's
cache) or from ``scoring generate --applications 356255 --out benchmarks/.cache/full``. A
model is trained once on a subsample (``--train-clients``; the dashboard's speed does not
depend on the model's training size) into ``benchmarks/.cache/full/mlruns`` and promoted.

Then it starts the stock model server and ``panel serve dashboard/app.py`` (as ``scoring
dashboard`` does, with ``--warm``), waits until the scored sample of the bivariate plot is
ready, and measures, each in a fresh browser page:

- first render: from navigation until the client search and the page navigation are drawn;
- switching client: from pressing Enter on a new id until its decision, reasons and profile
  are drawn (on the client page, then with the comparisons page open, which redraws the
  population histogram and the rasterized bivariate plot);
- recourse: from the decision drawn until what could change it is drawn (one batch request
  of 45 variants to the model server);

and two references measured in the same run: an empty Panel page served the same way, and a
bare ``/invocations`` call for one client (the floor of any switch). Peak memory is the panel
server's peak RSS (``VmHWM``). For the page loads it also gives, from the browser, the moment
the text was drawn by the page's own clock (Playwright sees it later, by a lag that grows with
the machine's load), the first contentful paint, and the requests and bytes received. Last,
the server side of a switch (lookup, score, views, the patch, the recourse) is timed in this
process (``server_breakdown``). Goals: first render < 2 s, switching < 300 ms (median),
recourse within 1 s after the decision.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results import record  # noqa: E402  (benchmarks/ is this script's folder)

from testkit import VENV_BIN, free_port, running, serve_command, server_env  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
EMPTY_APP = 'import panel as pn\npn.pane.Markdown("Empty page").servable(title="empty")\n'


def _run(*args: str) -> None:
    subprocess.run([str(VENV_BIN / "scoring"), *args], check=True, cwd=ROOT,
                   env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})


def full_store(clients: int, raw: Path | None = None) -> Path:
    """The feature store of ``clients`` clients, built (from ``raw``, else generated) when
    missing."""
    folder = CACHE / ("full" if clients == 356_255 else f"dashboard-{clients}")
    store = folder / "features"
    if (store / "clients.parquet").is_file():
        return store
    raw = raw or CACHE / f"homecredit-{clients}"
    if not any((raw / f"application_train.{ext}").is_file() for ext in ("parquet", "csv")):
        raw = folder
        _run("generate", "--applications", str(clients), "--out", str(raw),
             "--format", "parquet")
    _run("features", "--data-dir", str(raw), "--out", str(store))
    return store


def trained_model(store: Path, train_clients: int) -> str:
    """A tracking URI whose registry has a champion trained on a subsample of the store."""
    import polars as pl

    from scoring.store import write_store

    root = store.parent / "mlruns"
    uri = f"sqlite:///{root / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_DISABLE_TELEMETRY": "true"}
    if (root / "champion").is_file():
        return uri
    root.mkdir(parents=True, exist_ok=True)
    sub = store.parent / f"train-{train_clients}"
    frame = pl.read_parquet(store / "clients.parquet")
    write_store(frame.sample(min(train_clients, frame.height), seed=0), sub)
    del frame
    for args in (["train", "--store", str(sub), "--trials", "0", "--threads", "2"],
                 ["promote", "--store", str(sub)]):
        subprocess.run([str(VENV_BIN / "scoring"), *args], check=True, cwd=ROOT, env=env)
    (root / "champion").write_text("trained on a subsample of the full store\n")
    return uri


def _loopback_only(route) -> None:
    if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


def _page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.route("**/*", _loopback_only)
    return context, page


#: Notes, in the page's own clock, when a text first shows up, shadow roots included (Panel
#: draws each pane in one): Playwright's polling of the same text, from this process, comes
#: later by a varying lag on a loaded machine.
DRAWN_PROBE = """
(() => {
  const want = %s;
  const found = (root) => root.textContent.includes(want) || [...root.querySelectorAll('*')]
    .some((el) => el.shadowRoot && found(el.shadowRoot));
  const poll = () => {
    if (document.body && found(document.body)) { window.__drawn = performance.now(); return; }
    setTimeout(poll, 10);
  };
  poll();
})();
"""


@dataclass
class Load:
    """One page load: seconds until the text is seen by Playwright and in the page, first
    contentful paint, requests and bytes received."""

    seconds: float
    drawn: float
    first_paint: float
    requests: int
    kib: float


def time_load(browser, url: str, ready_text: str) -> Load:
    """Seconds from navigation until ``ready_text`` is drawn, in a fresh page."""
    context, page = _page(browser)
    page.add_init_script(DRAWN_PROBE % json.dumps(ready_text))
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))
    start = time.perf_counter()
    page.goto(url)
    page.get_by_text(ready_text).first.wait_for(timeout=60_000)
    seconds = time.perf_counter() - start
    page.wait_for_function("() => window.__drawn !== undefined", timeout=60_000)
    drawn, paint = page.evaluate("""() => [window.__drawn, (performance.getEntriesByName(
        'first-contentful-paint')[0] || {startTime: NaN}).startTime]""")
    sizes = [request.sizes() for request in finished]
    context.close()
    return Load(seconds, drawn / 1000, paint / 1000, len(sizes),
                sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes) / 1024)


READY = "clients. Type a few digits"


def time_switches(browser, url: str, ids: list[int], page_key: str | None
                  ) -> tuple[list[float], list[float]]:
    """Seconds per client switch (Enter to decision, reasons and profile drawn) and, on the
    client page, seconds from the decision drawn to the recourse drawn."""
    context, page = _page(browser)
    page.goto(url)
    page.get_by_text(READY).wait_for(timeout=60_000)
    if page_key:
        page.locator(f".nav-{page_key} button").click()
    box = page.locator(".client-search input")
    out, recourse = [], []
    for client_id in ids:
        box.fill(str(client_id))
        start = time.perf_counter()
        box.press("Enter")
        if page_key:
            page.get_by_text(f"Client {client_id} (orange star)").or_(page.get_by_text(
                f"Client {client_id} has no value")).first.wait_for(timeout=60_000)
            out.append(time.perf_counter() - start)
            continue
        page.get_by_role("heading", name=f"Client {client_id}").wait_for(timeout=60_000)
        page.locator(".decision p").first.wait_for(timeout=60_000)
        page.get_by_text(f"Application of client {client_id}").wait_for(timeout=60_000)
        shown = time.perf_counter()
        out.append(shown - start)
        page.locator(".recourse li").first.wait_for(timeout=60_000)
        recourse.append(time.perf_counter() - shown)
    context.close()
    return out, recourse


def bare_invocation(model_url: str, store: Path, ids: list[int]) -> list[float]:
    """Seconds of one ``/invocations`` call per client (lookup excluded), as the app asks."""
    from scoring.store import read_clients
    from serving.client import ScoringClient

    client = ScoringClient(model_url, timeout=30)
    rows = read_clients(ids, store).drop(columns=["TARGET", "DATASET"])
    out = []
    for i in range(len(rows)):
        start = time.perf_counter()
        client.score(rows.iloc[[i]], explain="top-k", top_k=10)
        out.append(time.perf_counter() - start)
    return out


def server_breakdown(model_url: str, store: Path, ids: list[int]) -> dict[str, float]:
    """Median milliseconds of each server-side step of a switch, in this process: the client
    page of one session built in a Bokeh document, then for each id the store's lookup, score
    and views (``ClientScore.timings``), the patch the session would send (its events
    serialized, as the server does before writing it to the websocket), and what runs after
    it (the recourse's variants scored and drawn)."""
    from bokeh.document import Document
    from bokeh.protocol import Protocol

    from dashboard.app import Config, Dashboard
    from dashboard.i18n import language

    board = Dashboard(Config(model_url=model_url, store=str(store), sample=0, lang="en"),
                      language("en"))
    doc = Document()
    board.template().server_doc(doc)
    board.show("client")
    events, later = [], []
    doc.callbacks.on_change(events.append)
    board.later = later.append  # what the session runs once the switch's patch is sent
    steps: dict[str, list[float]] = {}
    for client_id in ids:
        events.clear()
        board.chosen.client_id = client_id
        start = time.perf_counter()
        Protocol().create("PATCH-DOC", list(events))
        patched = time.perf_counter()
        while later:
            later.pop(0)()
        for name, ms in {**board.chosen.timings, "patch": 1000 * (patched - start),
                         "recourse": 1000 * (time.perf_counter() - patched)}.items():
            steps.setdefault(name, []).append(ms)
    return {name: _median(values) for name, values in steps.items()}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=356_255)
    parser.add_argument("--train-clients", type=int, default=30_000)
    parser.add_argument("--sample", type=int, default=20_000,
                        help="clients scored once for the bivariate plot")
    parser.add_argument("--pages", type=int, default=5, help="fresh page loads measured")
    parser.add_argument("--switches", type=int, default=10, help="client switches measured")
    parser.add_argument("--raw", type=Path, default=None,
                        help="a Kaggle-format folder of that size to build the store from")
    args = parser.parse_args()
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from playwright.sync_api import sync_playwright

    from scoring.store import client_ids

    load_before = os.getloadavg()[0]
    store = full_store(args.clients, args.raw)
    uri = trained_model(store, args.train_clients)
    env = server_env(uri)
    ids = client_ids(store)
    step = len(ids) // (2 * args.switches + 1)
    picks = [ids[step * (i + 1)] for i in range(2 * args.switches)]
    mport, dport, eport = free_port(), free_port(), free_port()
    model_url = f"http://127.0.0.1:{mport}"
    app_url = f"http://127.0.0.1:{dport}/app"
    panel = [str(VENV_BIN / "panel"), "serve", "--address", "127.0.0.1"]
    dashboard = panel + [str(ROOT / "dashboard" / "app.py"), "--port", str(dport),
                         "--allow-websocket-origin", f"127.0.0.1:{dport}", "--warm",
                         "--args", "--model-url", model_url, "--store", str(store),
                         "--sample", str(args.sample), "--lang", "en"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        empty = tmp / "empty.py"
        empty.write_text(EMPTY_APP)
        empty_cmd = panel + [str(empty), "--port", str(eport),
                             "--allow-websocket-origin", f"127.0.0.1:{eport}"]
        with running(serve_command("models:/credit-scoring@champion", mport),
                     f"{model_url}/ping", env, tmp / "model.log", timeout=300), \
                running(empty_cmd, f"http://127.0.0.1:{eport}/empty", env, tmp / "empty.log"):
            started = time.perf_counter()
            with running(dashboard, app_url, env, tmp / "panel.log", timeout=600) as proc, \
                    sync_playwright() as pw:
                startup = time.perf_counter() - started
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                first_load = time_load(browser, app_url, READY)
                context, page = _page(browser)
                page.goto(app_url)
                page.get_by_text(READY).wait_for(timeout=60_000)
                page.locator(".nav-compare button").click()
                page.get_by_text("sampled clients; correlation").wait_for(timeout=600_000)
                sample_ready = time.perf_counter() - started
                context.close()
                loads = [time_load(browser, app_url, READY) for _ in range(args.pages)]
                empties = [time_load(browser, f"http://127.0.0.1:{eport}/empty", "Empty page")
                           for _ in range(args.pages)]
                switches, recourse = time_switches(browser, app_url, picks[:args.switches],
                                                   None)
                compare, _ = time_switches(browser, app_url, picks[args.switches:], "compare")
                bare = bare_invocation(model_url, store, picks[:args.switches])
                peak = peak_rss_mib(proc.pid)
                browser.close()
            os.environ["MLFLOW_TRACKING_URI"] = uri
            steps = server_breakdown(model_url, store, picks[:args.switches])
    empty_s, bare_s = _median([e.seconds for e in empties]), _median(bare)
    rows = [
        ("first page render, first session after start", first_load.seconds, empty_s, 2.0),
        ("first page render, fresh session (median)", _median([x.seconds for x in loads]),
         empty_s, 2.0),
        ("switch client, client page (median)", _median(switches), bare_s, 0.3),
        ("switch client, client page (worst)", max(switches), bare_s, None),
        ("recourse drawn after the decision (median)", _median(recourse), bare_s, 1.0),
        ("recourse drawn after the decision (worst)", max(recourse), bare_s, 1.0),
        ("switch client, comparisons page open (median)", _median(compare), bare_s, 0.3),
        ("switch client, comparisons page open (worst)", max(compare), bare_s, None),
        ("reference: empty Panel page (median)", empty_s, empty_s, None),
        ("reference: bare /invocations, one client (median)", bare_s, bare_s, None),
    ]
    print(f"\n{len(ids):,} clients in {store}; sample of {args.sample:,} scored for the "
          f"bivariate plot\n")
    print("| measure | seconds | x reference | goal |")
    print("|---|---|---|---|")
    for name, seconds, ref, goal in rows:
        verdict = "" if goal is None else f"< {goal:g} s: {'met' if seconds < goal else 'MISSED'}"
        print(f"| {name} | {seconds:.3f} | {seconds / ref:.1f} | {verdict} |")
    print("\n| page load (median) | seen by Playwright s | drawn, page clock s | first paint s "
          "| requests | KiB |\n|---|---|---|---|---|---|")
    for name, runs in (("dashboard, fresh session", loads), ("empty Panel page", empties)):
        print(f"| {name} | {_median([r.seconds for r in runs]):.3f} | "
              f"{_median([r.drawn for r in runs]):.3f} | "
              f"{_median([r.first_paint for r in runs]):.3f} | "
              f"{_median([r.requests for r in runs]):.0f} | "
              f"{_median([r.kib for r in runs]):,.0f} |")
    print("\nserver side of a switch, median ms (this process, one session): " + ", ".join(
        f"{name} {ms:.0f}" for name, ms in steps.items()))
    print(f"\npanel server: ready {startup:.1f} s after start (with --warm), scored sample "
          f"ready after {sample_ready:.1f} s, peak RSS {peak:,.0f} MiB; load average "
          f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    record("bench_dashboard", [
        {"measure": name, "seconds": round(seconds, 3), "x reference": round(seconds / ref, 1),
         "goal": "" if goal is None else f"< {goal:g} s"} for name, seconds, ref, goal in rows],
        script=__file__, notes=f"{len(ids):,} clients, Chromium; panel server peak RSS "
        f"{peak:,.0f} MiB; load average {load_before:.1f} at the start")


if __name__ == "__main__":
    main()
