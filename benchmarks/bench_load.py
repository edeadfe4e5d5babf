"""Load test of the running services: concurrent clients on /invocations and the dashboard.

Each model client posts one application per request (explained: top 10 reasons) in a loop on
its own keep-alive session; each dashboard client loads the app page, then waits ``--think``
seconds as a person would. Reports, per target: requests, errors, p50 / p95 / p99 latency and
throughput. Targets must be local (loopback); every loop stops after ``--seconds``.

    scoring up
    python benchmarks/bench_load.py --seconds 60 --clients 50 --dashboard-clients 10

The tests (``tests/ops``) run a short bounded version through ``run_load``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import requests

JSON = {"Content-Type": "application/json"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5001", help="model URL (nginx)")
    parser.add_argument("--dashboard-url", default="http://127.0.0.1:5006/app")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--dashboard-clients", type=int, default=10)
    parser.add_argument("--think", type=float, default=1.0,
                        help="pause of a dashboard client between page loads, seconds")
    parser.add_argument("--store", default="data/features", help="feature store folder")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = run_load(args.url, payloads(args.store), args.seconds, args.clients,
                       args.dashboard_url, args.dashboard_clients, args.think)
    print(f"{'target':<12}{'clients':>8}{'requests':>10}{'errors':>8}{'p50 ms':>9}"
          f"{'p95 ms':>9}{'p99 ms':>9}{'req/s':>8}")
    for r in results:
        print(f"{r.name:<12}{r.clients:>8}{r.requests:>10}{r.errors:>8}{r.p50_ms:>9.0f}"
              f"{r.p95_ms:>9.0f}{r.p99_ms:>9.0f}{r.per_second:>8.1f}")
        for sample in r.error_samples:
            print(f"    {sample}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
