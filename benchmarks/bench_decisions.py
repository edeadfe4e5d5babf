"""The decision service under load: recourse speed, score route + decision writers, a kill.

Targets a running service (``scoring up`` starts it on :5007, or uvicorn standalone):

    python benchmarks/bench_decisions.py --url http://127.0.0.1:5007 --key KEY \
        --advisor alice:PASSWORD --supervisor sue:PASSWORD --seconds 60 --clients 50 \
        --writers 5 --run-dir run --kill

1. Recourse: for refused clients, ``GET /clients/{id}/score`` with and without recourse, and
   the reference in the same script: the bare ``/invocations`` call with every contribution.
2. Load: ``--clients`` loops on the score route while ``--writers`` loops record decisions
   (follow, every third an override); errors, p50 / p95 / p99, throughput.
3. ``--kill``: half-way through, SIGKILL the service (its pid from supervisord in
   ``--run-dir``); supervisord restarts it. Requests cut by the kill are counted apart.
Afterwards every acknowledged decision (201) must be in ``GET /decisions`` with the same hash,
and ``GET /decisions/verify`` must pass.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import requests


@dataclass
class Loop:
    """What one kind of client saw."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cut: int = 0  # connection failures while the service was down (the kill)
    acknowledged: dict[int, str] = field(default_factory=dict)  # record id -> hash

    def summary(self, seconds: float) -> dict:
        ms = np.array(self.latencies) * 1000 if self.latencies else np.array([np.nan])
        return {"target": self.name, "requests": len(self.latencies), "errors": len(self.errors),
                "cut_by_kill": self.cut, "p50_ms": round(float(np.percentile(ms, 50)), 1),
                "p95_ms": round(float(np.percentile(ms, 95)), 1),
                "p99_ms": round(float(np.percentile(ms, 99)), 1),
                "per_second": round(len(self.latencies) / seconds, 1),
                "error_samples": self.errors[:3]}


class Service:
    def __init__(self, url: str, key: str, advisor: tuple[str, str],
                 supervisor: tuple[str, str] | None = None) -> None:
        self.url, self.key, self.advisor = url.rstrip("/"), key, advisor
        self.supervisor = supervisor

    def session(self, advisor: bool = False, supervisor: bool = False) -> requests.Session:
        """A session as the system (API key), the advisor or the supervisor (who alone
        lists every decision and verifies the record)."""
        s = requests.Session()
        if supervisor:
            s.auth = self.supervisor
        elif advisor:
            s.auth = self.advisor
        else:
            s.headers["X-API-Key"] = self.key
        return s


def pick_clients(svc: Service, ids: list[int], want: int) -> tuple[list[int], list[int]]:
    """(refused, granted) client ids among ``ids``, ``want`` refused at most."""
    refused, granted, s = [], [], svc.session()
    for cid in ids:
        r = s.get(f"{svc.url}/clients/{cid}/score", params={"recourse": "false"}, timeout=30)
        r.raise_for_status()
        (refused if r.json()["decision"] == "refused" else granted).append(cid)
        if len(refused) >= want and granted:
            break
    return refused, granted


def recourse_timing(svc: Service, refused: list[int], model_url: str, store: str,
                    repeats: int) -> dict:
    """p50 of one client's score route with and without recourse, and of the bare model
    call (the reference)."""
    from scoring.store import read_clients
    from serving.client import to_payload

    s, with_r, without, bare, proposals = svc.session(), [], [], [], []
    model = requests.Session()
    rows = read_clients(refused, store).drop(columns=["TARGET", "DATASET"])
    for _ in range(repeats):
        for i, cid in enumerate(refused):
            t = time.perf_counter()
            body = s.get(f"{svc.url}/clients/{cid}/score", timeout=30).json()
            with_r.append(time.perf_counter() - t)
            proposals.append(len(body["recourse"]))
            t = time.perf_counter()
            s.get(f"{svc.url}/clients/{cid}/score", params={"recourse": "false"}, timeout=30)
            without.append(time.perf_counter() - t)
            t = time.perf_counter()
            model.post(f"{model_url}/invocations", data=to_payload(rows.iloc[[i]],
                       {"explain": "all"}), headers={"Content-Type": "application/json"},
                       timeout=30).raise_for_status()
            bare.append(time.perf_counter() - t)
    p50 = {k: statistics.median(v) * 1000 for k, v in
           (("score_with_recourse", with_r), ("score_without_recourse", without),
            ("bare_invocations_explain_all", bare))}
    return {"clients": len(refused), "repeats": repeats,
            **{f"{k}_p50_ms": round(v, 1) for k, v in p50.items()},
            "recourse_alone_p50_ms": round(p50["score_with_recourse"]
                                           - p50["score_without_recourse"], 1),
            "route_vs_bare_ratio": round(p50["score_with_recourse"]
                                         / p50["bare_invocations_explain_all"], 1),
            "proposals_per_client_mean": round(float(np.mean(proposals)), 2)}


def _loop(loop: Loop, call, stop: threading.Event, down: threading.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        try:
            r = call()
        except requests.RequestException as err:
            if down.is_set():
                loop.cut += 1
                time.sleep(0.05)
            else:
                loop.errors.append(f"{type(err).__name__}: {str(err)[:160]}")
            continue
        if r.status_code in (200, 201):
            loop.latencies.append(time.perf_counter() - t)
            if r.status_code == 201:
                loop.acknowledged[r.json()["id"]] = r.json()["record_hash"]
        elif down.is_set() and r.status_code in (502, 503):
            loop.cut += 1
        else:
            loop.errors.append(f"{r.status_code}: {r.text[:160]}")


def load(svc: Service, ids: list[int], seconds: float, clients: int, writers: int,
         kill: Callable[[], float] | None) -> tuple[Loop, Loop]:
    """Score loops and decision writers for ``seconds``; ``kill()`` half-way when given
    (it returns once the service answers again; failures meanwhile count as cut)."""
    scores, decisions = Loop("GET /clients/{id}/score"), Loop("POST /clients/{id}/decisions")
    stop, down = threading.Event(), threading.Event()
    threads = []
    for k in range(clients):
        s, it = svc.session(), iter(range(k, 10**9, clients))
        threads.append(threading.Thread(target=_loop, args=(scores, lambda s=s, it=it: s.get(
            f"{svc.url}/clients/{ids[next(it) % len(ids)]}/score", timeout=60), stop, down)))
    for k in range(writers):
        s, it = svc.session(advisor=True), iter(range(k, 10**9, writers))

        def write(s=s, it=it) -> requests.Response:
            n = next(it)
            body = {"action": "follow"} if n % 3 else {
                "action": "override", "reason_code": "DATA_ERROR",
                "reason_text": "benchmark override"}
            return s.post(f"{svc.url}/clients/{ids[n % len(ids)]}/decisions", json=body,
                          timeout=60)
        threads.append(threading.Thread(target=_loop, args=(decisions, write, stop, down)))
    for t in threads:
        t.start()
    if kill:
        time.sleep(seconds / 2)
        down.set()
        back = kill()  # seconds until the service answers again
        down.clear()
        time.sleep(max(0.0, seconds / 2 - back))
    else:
        time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(90)
    return scores, decisions


def stored_records(svc: Service) -> dict[int, str]:
    s, out, offset = svc.session(supervisor=True), {}, 0
    while True:
        page = s.get(f"{svc.url}/decisions", params={"limit": 1000, "offset": offset},
                     timeout=60).json()
        out.update({d["id"]: d["record_hash"] for d in page["decisions"]})
        offset += 1000
        if offset >= page["total"]:
            return out


def supervisor_kill(run_dir: str, url: str, name: str = "decisions",
                    timeout: float = 120.0) -> Callable[[], float]:
    """A function that SIGKILLs the program and returns the seconds until supervisord runs a
    new one that answers ``/health``."""
    from ops.supervisor import rpc

    def pid() -> int:
        return rpc(run_dir).supervisor.getProcessInfo(name)["pid"]

    def kill() -> float:
        old, start = pid(), time.monotonic()
        os.kill(old, signal.SIGKILL)
        while time.monotonic() - start < timeout:
            try:
                if pid() not in (0, old) and requests.get(f"{url}/health", timeout=2).ok:
                    return time.monotonic() - start
            except (OSError, requests.RequestException):
                pass
            time.sleep(0.1)
        raise SystemExit(f"{name} did not come back within {timeout:.0f} s")
    return kill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5007")
    parser.add_argument("--model-url", default="http://127.0.0.1:5001")
    parser.add_argument("--key", required=True, help="a system's API key")
    parser.add_argument("--advisor", required=True, help="ID:PASSWORD of an advisor")
    parser.add_argument("--supervisor", required=True,
                        help="ID:PASSWORD of a supervisor (lists and verifies the record)")
    parser.add_argument("--store", default="data/features")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="recourse timings per client")
    parser.add_argument("--run-dir", default="run", help="run folder of `scoring up`")
    parser.add_argument("--kill", action="store_true", help="SIGKILL the service half-way")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    from scoring.store import client_ids

    svc = Service(args.url, args.key, tuple(args.advisor.split(":", 1)),
                  tuple(args.supervisor.split(":", 1)))
    ids = client_ids(args.store, "test")[:400]
    refused, _ = pick_clients(svc, ids, want=10)
    results: dict = {"recourse": recourse_timing(svc, refused, args.model_url, args.store,
                                                 args.repeats)}
    print(json.dumps(results["recourse"], indent=1), flush=True)
    before = stored_records(svc)
    kill = supervisor_kill(args.run_dir, args.url) if args.kill else None
    restart: list[float] = []
    timed_kill = (lambda: restart.append(kill()) or restart[-1]) if kill else None
    scores, decisions = load(svc, ids, args.seconds, args.clients, args.writers, timed_kill)
    if restart:
        results["restart_seconds"] = round(restart[0], 1)
    stored = stored_records(svc)
    new = {i: h for i, h in stored.items() if i not in before}
    lost = [i for i, h in decisions.acknowledged.items() if stored.get(i) != h]
    verify = svc.session(supervisor=True).get(f"{args.url}/decisions/verify",
                                              timeout=120).json()
    results["load"] = [scores.summary(args.seconds), decisions.summary(args.seconds)]
    results["decisions"] = {"acknowledged": len(decisions.acknowledged), "stored": len(new),
                            "acknowledged_not_stored": len(lost),
                            "stored_not_acknowledged": len(set(new) - set(decisions.acknowledged)),
                            "chain_ok": verify["ok"], "records": verify["records"]}
    print(json.dumps({k: results[k] for k in results if k != "recourse"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
