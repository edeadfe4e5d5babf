"""The decision service under load: recourse speed, score route + decision writers, a kill.

``--start``: the score route against the model calls it makes, in one run. Builds a store from
the real samples and a champion (as ``bench_serving.py``), starts the model server
(``--workers`` uvicorn workers) and the service (one uvicorn process, as ``scoring up``), then:
the route's p50 with recourse for refused clients against the p50 of the ``/invocations``
calls it makes (replayed from here); the saturated route with ``wrk`` (``--clients``
connections over a mix of granted and refused clients) against its ceiling, cores / CPU
seconds of the in-process ``predict`` calls one route request needs; p99 and errors. The
service shares model requests between the scores asked at the same time (up to
``DECISIONS_MODEL_BATCH`` applications, 8 by default): run with ``DECISIONS_MODEL_BATCH=1``
for one request each.

Otherwise targets a running service (``scoring up`` starts it on :5007, or uvicorn standalone):

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

from scoring.names import DEFAULT_STORE


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


def _model_calls(row: dict, refused: bool, rules) -> list[str]:
    """The ``/invocations`` bodies the score route sends for ``row``, built as the service
    builds them (``Gateway.score_with_recourse``): the application with its contributions
    toward default and its recourse variants in one request (the model scores the variants
    only when the application is refused); with one candidate change or none, the
    application alone, then (refused) the change as a row."""
    from decisions.gateway import inputs_text, recourse_body, score_body
    from decisions.recourse import candidates

    changes = [changed for _, _, changed in candidates(row, rules)]
    if len(changes) > 1:
        return [recourse_body(inputs_text([row]), changes, "positive")]
    bodies = [score_body([row], "positive")]
    if refused and changes:
        bodies.append(score_body([{**row, **changes[0]}], "none"))
    return bodies


def _two_calls(row: dict, refused: bool, rules) -> list[str]:
    """The bodies of the route before ``params.recourse`` (main at ab933f1): the application
    with its reasons as records, then (refused) its variants with ``params.variants``. Their
    in-process CPU is a second, stricter ceiling: the one-request form spends a little more
    in ``predict`` (the reasons as JSON text, the application read twice when refused)."""
    from decisions.gateway import score_body, variants_body
    from decisions.recourse import candidates

    changes = [changed for _, _, changed in candidates(row, rules)] if refused else []
    bodies = [score_body([row], "positive")]
    if len(changes) > 1:
        bodies.append(variants_body(row, changes, "none"))
    elif changes:
        bodies.append(score_body([{**row, **changes[0]}], "none"))
    return bodies


def started(args) -> None:
    """The ``--start`` run (see the module's docstring)."""
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import mlflow
    import wrk
    from bench_serving import CORES, REAL_DATA, prepare, server_cpu, server_input, timed

    from decisions.config import Settings
    from decisions.recourse import load_rules
    from ops.models import NO_ACCESS_LOG
    from scoring.store import client_ids, read_clients
    from testkit import free_port, running, server_env

    out: dict = {"cores": CORES, "load_before": os.getloadavg()[0]}
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        store, uri = prepare(args.data or REAL_DATA, 20_000, args.work or Path(tmp))
        model_port, port = free_port(), free_port()
        model_url, url = f"http://127.0.0.1:{model_port}", f"http://127.0.0.1:{port}"
        # as `scoring up` runs them: no uvicorn line per request (ops.models.NO_ACCESS_LOG)
        env = {**server_env(uri), **NO_ACCESS_LOG, "DECISIONS_MODEL_URL": model_url,
               "DECISIONS_STORE": str(store),
               "DECISIONS_DB_URL": f"sqlite:///{tmp}/decisions.db",
               "DECISIONS_API_KEYS": "bench=bench-key", "DECISIONS_ADVISORS": "alice=alice-pw"}
        serve = [str(bin_dir / "mlflow"), "models", "serve", "-m",
                 "models:/credit-scoring@champion", "--env-manager", "local", "-h", "127.0.0.1",
                 "-p", str(model_port), "--workers", str(args.workers)]
        service = [sys.executable, "-m", "uvicorn", "--factory", "decisions.app:create_app",
                   "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        with running(serve, f"{model_url}/ping", env, Path(tmp) / "model.log") as model_proc, \
                running(service, f"{url}/health", env, Path(tmp) / "service.log") as proc:
            svc = Service(url, "bench-key", ("alice", "alice-pw"))
            ids = client_ids(store, "test")[:400]
            refused, granted = pick_clients(svc, ids, want=10**9)
            rules, rows = load_rules(), read_clients(ids, store).drop(columns=["TARGET",
                                                                             "DATASET"])
            records = {int(r["SK_ID_CURR"]): {k: v for k, v in r.items() if v == v}
                       for r in rows.to_dict(orient="records")}
            model = mlflow.pyfunc.load_model("models:/credit-scoring@champion")
            python_model = model.unwrap_python_model()
            inputs = {cid: [server_input(model, b) for b in _model_calls(
                records[cid], cid in set(refused), rules)] for cid in ids[:args.cpu_clients]}
            cpu = {cid: sum(timed(lambda d=d: python_model.predict(None, *d), 3)[1]
                            for d in parsed) for cid, parsed in inputs.items()}
            out["route_cpu_in_process_ms"] = round(1000 * float(np.mean(list(cpu.values()))), 2)
            two_calls = [server_input(model, b) for cid in inputs for b in _two_calls(
                records[cid], cid in set(refused), rules)]
            two_calls_cpu = timed(lambda: [python_model.predict(None, *d) for d in two_calls],
                                  3)[1]
            out["route_cpu_in_process_two_calls_ms"] = round(1000 * two_calls_cpu / len(inputs),
                                                             2)
            ceiling = CORES / float(np.mean(list(cpu.values())))
            session, model_session = svc.session(), requests.Session()
            route, calls = [], []
            sample = refused[:20]
            for _ in range(args.repeats):
                for cid in sample:
                    t = time.perf_counter()
                    session.get(f"{url}/clients/{cid}/score", timeout=60).raise_for_status()
                    route.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    for body in _model_calls(records[cid], True, rules):
                        model_session.post(f"{model_url}/invocations", data=body, timeout=60,
                                           headers={"Content-Type": "application/json"}
                                           ).raise_for_status()
                    calls.append(time.perf_counter() - t)
            paths = [f"/clients/{cid}/score" for cid in ids]
            cpu_before = server_cpu(model_proc.pid), server_cpu(proc.pid)
            load = wrk.run(f"{url}/clients/{ids[0]}/score", args.clients, args.seconds,
                           headers={"X-API-Key": "bench-key"}, paths=paths)
            model_cpu, service_cpu = (server_cpu(model_proc.pid) - cpu_before[0],
                                      server_cpu(proc.pid) - cpu_before[1])
    route_ms, calls_ms = statistics.median(route) * 1000, statistics.median(calls) * 1000
    model_batch = int(os.environ.get("DECISIONS_MODEL_BATCH", Settings.model_batch))
    out.update({
        "refused_share": round(len(refused) / len(ids), 3),
        "route_with_recourse_p50_ms": round(route_ms, 1),
        "model_calls_p50_ms": round(calls_ms, 1),
        "route_vs_model_calls": round(route_ms / calls_ms, 2),
        "ceiling_per_second": round(ceiling, 1), "saturated_per_second": load.per_second,
        "saturated_vs_ceiling": round(load.per_second / ceiling, 3),
        "saturated_p50_ms": load.p50_ms, "saturated_p99_ms": load.p99_ms,
        "model_server_cpu_per_route_ms": round(1000 * model_cpu / max(load.requests, 1), 2),
        "service_cpu_per_route_ms": round(1000 * service_cpu / max(load.requests, 1), 2),
        "cores_used": round((model_cpu + service_cpu) / args.seconds, 2),
        # the saturated share a machine with nothing else running would reach: the served
        # route's CPU against the in-process calls' (holds when other jobs take cores)
        "cpu_share": round(float(np.mean(list(cpu.values())))
                           / ((model_cpu + service_cpu) / max(load.requests, 1)), 3),
        "cpu_share_two_calls": round(out["route_cpu_in_process_two_calls_ms"] / 1000
                                     / ((model_cpu + service_cpu) / max(load.requests, 1)), 3),
        "errors": load.errors, "connections": args.clients, "workers": args.workers,
        "model_batch": model_batch,
        "load_after": os.getloadavg()[0]})
    print(f"\nGET /clients/{{id}}/score; {CORES} cores, model server {args.workers} workers, "
          f"up to {model_batch} applications a model request, load {out['load_before']:.1f}")
    print(f"  refused, with recourse: p50 {route_ms:.1f} ms = "
          f"{out['route_vs_model_calls']:.2f}x the model calls it makes ({calls_ms:.1f} ms; "
          f"goal <= 2)")
    print(f"  saturated, {args.clients} connections over {len(ids)} clients "
          f"({out['refused_share']:.0%} refused): {load.per_second:.1f}/s = "
          f"{out['saturated_vs_ceiling']:.0%} of the ceiling {ceiling:.0f}/s (goal >= 40%); "
          f"p50 {load.p50_ms:.0f} ms, p99 {load.p99_ms:.0f} ms (goal < 1000), "
          f"{load.errors} errors")
    print(f"  CPU per route under load: model server {out['model_server_cpu_per_route_ms']} ms "
          f"(in process {out['route_cpu_in_process_ms']} ms), service "
          f"{out['service_cpu_per_route_ms']} ms; both got {out['cores_used']} of {CORES} cores")
    print(f"  in-process CPU / served CPU per route: {out['cpu_share']:.0%} (the saturated "
          "share with every core free; goal >= 40%)")
    print(f"  the same against the in-process CPU of the two calls of before params.recourse "
          f"({out['route_cpu_in_process_two_calls_ms']} ms): {out['cpu_share_two_calls']:.0%}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    _record_route(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", action="store_true",
                        help="start a model server and the service on real samples, and "
                        "measure the score route against the model calls it makes")
    parser.add_argument("--data", type=Path, help="with --start: the real samples (default: "
                        "as bench_serving.py)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="with --start: model server workers")
    parser.add_argument("--cpu-clients", type=int, default=100, help="with --start: clients "
                        "whose model calls are timed in process (the ceiling)")
    parser.add_argument("--work", type=Path, help="with --start: the store and champion of "
                        "bench_serving.py --work (else prepared here)")
    parser.add_argument("--url", default="http://127.0.0.1:5007")
    parser.add_argument("--model-url", default="http://127.0.0.1:5001")
    parser.add_argument("--key", help="a system's API key")
    parser.add_argument("--advisor", help="ID:PASSWORD of an advisor")
    parser.add_argument("--supervisor",
                        help="ID:PASSWORD of a supervisor (lists and verifies the record)")
    parser.add_argument("--store", default=DEFAULT_STORE)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--writers", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="recourse timings per client")
    parser.add_argument("--run-dir", default="run", help="run folder of `scoring up`")
    parser.add_argument("--kill", action="store_true", help="SIGKILL the service half-way")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.start:
        args.seconds = min(args.seconds, 20.0)
        return started(args)
    if not (args.key and args.advisor and args.supervisor):
        parser.error("--key, --advisor and --supervisor are needed without --start")
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
    _record_kill(results, args)


def _record_route(out: dict) -> None:
    """The ``--start`` run's figures as ``benchmarks/results/bench_decisions.json``."""
    from results import record

    served_cpu = out["model_server_cpu_per_route_ms"] + out["service_cpu_per_route_ms"]
    rows = [
        {"measure": "route with recourse p50, refused client",
         "value": f"{out['route_with_recourse_p50_ms']:.0f} ms",
         "ratio": f"{out['route_vs_model_calls']:.2f}x the model calls "
                  f"({out['model_calls_p50_ms']:.0f} ms)", "goal": "2x"},
        {"measure": "in-process predict CPU per route (the ceiling)",
         "value": f"{out['route_cpu_in_process_ms']:.1f} ms",
         "ratio": f"{out['ceiling_per_second']:.0f}/s", "goal": ""},
        {"measure": "CPU per route, model server + service",
         "value": f"{out['model_server_cpu_per_route_ms']:.0f} + "
                  f"{out['service_cpu_per_route_ms']:.0f} ms", "ratio": "", "goal": ""},
        {"measure": f"saturated, {out['connections']} connections "
                    f"({out['refused_share']:.0%} refused)",
         "value": f"{out['saturated_per_second']:.1f}/s, p50 {out['saturated_p50_ms']:.0f} ms, "
                  f"p99 {out['saturated_p99_ms']:.0f} ms",
         "ratio": f"{out['saturated_vs_ceiling']:.0%} of the ceiling",
         "goal": "40 %, p99 < 1 s"},
        {"measure": "in-process CPU / served CPU per route (the share with free cores)",
         "value": f"{out['route_cpu_in_process_ms']:.1f} / {served_cpu:.1f} ms",
         "ratio": f"{out['cpu_share']:.0%}", "goal": "40 %"},
        {"measure": "the same against the two calls of before params.recourse (stricter)",
         "value": f"{out['route_cpu_in_process_two_calls_ms']:.1f} / {served_cpu:.1f} ms",
         "ratio": f"{out['cpu_share_two_calls']:.0%}", "goal": "40 %"},
        {"measure": "errors", "value": out["errors"], "ratio": "", "goal": 0},
    ]
    record("bench_decisions", rows, script=__file__,
           notes=f"`--start`: GET /clients/{{id}}/score with recourse; model server "
                 f"{out['workers']} workers, the service one uvicorn process sharing model "
                 f"requests (DECISIONS_MODEL_BATCH={out['model_batch']}); both got "
                 f"{out['cores_used']} of {out['cores']} cores.")


def _record_kill(results: dict, args: argparse.Namespace) -> None:
    """The run against a running service as ``benchmarks/results/bench_decisions_kill.json``."""
    from results import record

    recourse, counts = results["recourse"], results["decisions"]
    rows = [
        {"measure": "score of a refused client with recourse, p50",
         "value": f"{recourse['score_with_recourse_p50_ms']:.0f} ms",
         "ratio": f"{recourse['route_vs_bare_ratio']}x the bare /invocations call"},
        {"measure": "score without recourse, p50",
         "value": f"{recourse['score_without_recourse_p50_ms']:.0f} ms", "ratio": ""},
        {"measure": "reference: bare /invocations, every contribution, p50",
         "value": f"{recourse['bare_invocations_explain_all_p50_ms']:.0f} ms", "ratio": "1.0"},
        *({"measure": f"{loop['target']}: p50 / p99, per second",
           "value": f"{loop['p50_ms']:.0f} / {loop['p99_ms']:.0f} ms, {loop['per_second']}/s",
           "ratio": f"{loop['errors']} errors, {loop['cut_by_kill']} cut by the kill"}
          for loop in results["load"]),
        {"measure": "acknowledged decisions stored / chain verified",
         "value": f"{counts['acknowledged'] - counts['acknowledged_not_stored']} of "
                  f"{counts['acknowledged']} / {'yes' if counts['chain_ok'] else 'NO'}",
         "ratio": ""},
    ]
    if "restart_seconds" in results:
        rows.append({"measure": "service back after SIGKILL",
                     "value": f"{results['restart_seconds']} s", "ratio": ""})
    record("bench_decisions_kill", rows, script=__file__,
           notes=f"Against a running service: {args.clients} score clients and "
                 f"{args.writers} decision writers for {args.seconds:g} s"
                 + (", SIGKILL half-way." if args.kill else "."))


if __name__ == "__main__":
    main()
