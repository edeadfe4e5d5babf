"""What the tests and the benchmarks share: real servers started and stopped, free ports,
request bodies, and bounded request loops against loopback services.

Tests and benchmarks import this module, never each other. Nothing starts at import.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import requests
import urllib3

from serving.client import ScoringClient

ROOT = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
JSON = {"Content-Type": "application/json"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Debian's Chromium, driven by Playwright in the browser tests (no `playwright install`).
CHROMIUM = Path("/usr/bin/chromium")


# --- servers ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(command: list[str], url: str, env: dict[str, str], log: Path,
            timeout: float = 120.0) -> Iterator[subprocess.Popen]:
    """Run a server process until ``url`` answers, yield it, and stop it afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {log.read_text()[-2000:]}")
            try:
                if requests.get(url, timeout=10).ok:  # a dashboard page on a busy machine
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{url} did not answer in {timeout:.0f} s: "
                               f"{log.read_text()[-2000:]}")
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def serve_command(model_uri: str, port: int) -> list[str]:
    """The stock MLflow model server, as a user starts it."""
    return [str(VENV_BIN / "mlflow"), "models", "serve", "-m", model_uri,
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]


def server_env(tracking_uri: str) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


# --- request bodies and load --------------------------------------------------------------------

@dataclass
class TargetResult:
    """What one target saw."""

    name: str
    clients: int
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    per_second: float = 0.0


def payloads(store: Path | str, count: int = 200, top_k: int = 10) -> list[str]:
    """``count`` request bodies, one test application each, asking for ``top_k`` reasons."""
    from scoring.store import client_ids, read_clients
    from serving.client import to_payload

    ids = client_ids(store, "test")[:count] or client_ids(store, "train")[:count]
    rows = read_clients(ids, store).drop(columns=["TARGET", "DATASET"], errors="ignore")
    return [to_payload(rows.iloc[[i]], {"explain": "top-k", "top_k": top_k})
            for i in range(len(rows))]


def _check_local(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise SystemExit(f"{url}: load tests target this machine only (loopback)")


def _worker(call, seconds: float, think: float, out: list, errors: list) -> None:
    session = requests.Session()
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        start = time.perf_counter()
        try:
            response = call(session, i)
            ok = response.status_code == 200
            problem = None if ok else f"{response.status_code}: {response.text[:160]}"
        except requests.RequestException as err:
            ok, problem = False, f"{type(err).__name__}: {str(err)[:160]}"
        out.append((time.perf_counter() - start, ok))
        if problem:
            errors.append(problem)
        i += 1
        if think:
            time.sleep(think)


def _summary(name: str, clients: int, samples: list, errors: list,
             seconds: float) -> TargetResult:
    result = TargetResult(name, clients, requests=len(samples),
                          errors=sum(not ok for _, ok in samples), error_samples=errors[:5])
    if samples:
        ms = np.array([t for t, _ in samples]) * 1000
        result.p50_ms, result.p95_ms, result.p99_ms = (float(np.percentile(ms, q))
                                                       for q in (50, 95, 99))
        result.max_ms = float(ms.max())
        result.per_second = len(samples) / seconds
    return result


def run_load(model_url: str, bodies: list[str], seconds: float = 60.0, clients: int = 50,
             dashboard_url: str | None = None, dashboard_clients: int = 0,
             think: float = 1.0, timeout: float = 30.0) -> list[TargetResult]:
    """Run both client pools at once for ``seconds``; one result per target."""
    _check_local(model_url)
    targets = [("invocations", clients, 0.0, lambda s, i: s.post(
        f"{model_url}/invocations", data=bodies[i % len(bodies)], headers=JSON,
        timeout=timeout))]
    if dashboard_url and dashboard_clients:
        _check_local(dashboard_url)
        targets.append(("dashboard", dashboard_clients, think,
                        lambda s, i: s.get(dashboard_url, timeout=timeout)))
    threads, collected = [], []
    for name, count, pause, call in targets:
        samples, errors = [], []
        collected.append((name, count, samples, errors))
        for k in range(count):
            threads.append(threading.Thread(
                target=_worker, args=(lambda s, i, c=call, k=k: c(s, i * 7919 + k), seconds,
                                      pause, samples, errors), daemon=True))
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + timeout + 5)
    elapsed = time.monotonic() - start
    return [_summary(name, count, samples, errors, elapsed)
            for name, count, samples, errors in collected]


@dataclass
class Traffic:
    """What a background request loop saw."""

    ok: int = 0
    failures: list[str] = field(default_factory=list)
    answered_by: set[str] = field(default_factory=set)


@contextmanager
def traffic(url: str, bodies: list[str], clients: int = 3,
            limit: float = 300.0) -> Iterator[Traffic]:
    """Clients posting applications to ``url`` until the block ends (``limit`` s at most), as
    the decision service does (``ScoringClient.send``: a request on a kept-alive connection
    that the server closed unanswered is sent once more)."""
    seen, stop, lock = Traffic(), threading.Event(), threading.Lock()

    def loop(k: int) -> None:
        client, end, i = ScoringClient(url, timeout=60), time.monotonic() + limit, k
        while not stop.is_set() and time.monotonic() < end:
            try:
                r = client.send(bodies[i % len(bodies)])
                problem = None if r.status == 200 else f"{r.status} {r.data[:200]!r}"
                upstream = r.headers.get("X-Upstream", "")
            except urllib3.exceptions.HTTPError as err:
                problem, upstream = repr(err)[:200], ""
            with lock:
                if problem:
                    seen.failures.append(problem)
                else:
                    seen.ok += 1
                    seen.answered_by.add(upstream)
            i += clients

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield seen
    finally:
        stop.set()
        for thread in threads:
            thread.join(70)
