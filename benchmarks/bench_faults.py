"""Model-server faults: how long a replica killed with SIGKILL takes to serve again.

Against the services of ``--run-dir`` (``scoring up`` first), while ``--clients`` post one
application each in a loop through nginx, each round kills one replica (alternately) with
SIGKILL and times kill -> restarted by supervisord -> ``/ping`` -> one application scored by
that replica directly. Rounds alternate two kills (two rounds each): the replica's whole
process group (``group``), and only its biggest process (``biggest``, what an out-of-memory
kill picks: the uvicorn server, which a ``mlflow models serve`` parent outlived by seconds).
Before the rounds, in the same script and on a free port, cold starts:

* reference: a fresh Python process that imports mlflow and loads the replica's copy of the
  model (``mlflow.pyfunc.load_model``): the least any restart has to do;
* ``mlflow models serve -m models:/NAME/VERSION``, the stock command as a user types it;
* the replica's own command (``run/model-1.json``: the server command of ``mlflow models
  serve`` on its local copy, without the waiting parent).

Before the kills, with the traffic on, ``--watch`` seconds of ``/ping`` to each replica, one a
second: the slowest answer, and how many took more than 10 s, the timeout after which
superlance's ``httpok`` restarts a program (at its first failed check).

Reports times and their ratio to the reference, failed requests through nginx (goal 0), the
restarted replica's peak RSS and whether the installed packages hold compiled bytecode (without
it every start compiles mlflow, pandas... again).

    scoring up
    python benchmarks/bench_faults.py --kills 6 --clients 8
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results import record  # noqa: E402  (benchmarks/ is this script's folder)

from ops import settings, supervisor  # noqa: E402
from scoring.names import DEFAULT_STORE  # noqa: E402
from testkit import JSON, free_port, payloads  # noqa: E402

BIN = Path(sys.executable).parent


def wait_until(condition, timeout: float, step: float = 0.05) -> float:
    """Seconds until ``condition()`` holds; raises after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not met in {timeout:.0f} s")
        time.sleep(step)
    return time.monotonic() - start


def reference_load(model: str, env: dict[str, str]) -> float:
    """Seconds a fresh process takes to import mlflow and load the model."""
    code = ("import time; t = time.perf_counter(); import mlflow.pyfunc; "
            f"mlflow.pyfunc.load_model({model!r}); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env=env)
    return float(out.stdout.split()[-1])


def cold_start(command: list[str], env: dict[str, str], port: int) -> float:
    """Seconds from spawning ``command`` to its first 200 on ``/ping``."""
    start = time.monotonic()
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: supervisor.healthy(f"http://127.0.0.1:{port}/ping", timeout=1), 120)
        return time.monotonic() - start
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def cold_starts(s: settings.Settings, repeats: int) -> dict[str, float]:
    """Median seconds of the reference and of both server commands."""
    replica = json.loads((s.run / "model-1.json").read_text())
    env = {**os.environ, "MLFLOW_TRACKING_URI": s.tracking_uri,
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}

    def stock(port: int) -> float:
        return cold_start([str(BIN / "mlflow"), "models", "serve", "-m", replica["model_uri"],
                           "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                          env, port)

    def own(port: int) -> float:
        command = [str(BIN / replica["command"][0]), *replica["command"][1:]]
        command[command.index("--port") + 1] = str(port)
        return cold_start(command, {**env, **replica.get("env", {})}, port)

    runs = {"reference": lambda: reference_load(replica.get("model_path",
                                                            replica["model_uri"]), env),
            "mlflow models serve -m models:/...": lambda: stock(free_port())}
    runs["replica command (local copy)"] = lambda: own(free_port())
    return {name: statistics.median(run() for _ in range(repeats)) for name, run in runs.items()}


class Traffic:
    """Clients posting applications through nginx until ``stop``."""

    def __init__(self, url: str, bodies: list[str], clients: int) -> None:
        self.ok, self.failures, self._stop = 0, [], threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, args=(url, bodies, k), daemon=True)
                        for k in range(clients)]
        for thread in self.threads:
            thread.start()

    def _loop(self, url: str, bodies: list[str], k: int) -> None:
        session, i = requests.Session(), k
        while not self._stop.is_set():
            try:
                r = session.post(f"{url}/invocations", data=bodies[i % len(bodies)],
                                 headers=JSON, timeout=60)
                problem = None if r.status_code == 200 else f"{r.status_code} {r.text[:120]}"
            except requests.RequestException as err:
                problem = repr(err)[:160]
            with self._lock:
                if problem:
                    self.failures.append(problem)
                else:
                    self.ok += 1
            i += len(self.threads)

    def stop(self) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(70)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def watch_pings(s: settings.Settings, seconds: float) -> list[float]:
    """Seconds each replica took to answer ``/ping``, once a second for ``seconds``."""
    urls = [s.url(port) + "/ping" for _, port in s.replica_set]
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for url in urls:
            start = time.monotonic()
            with contextlib.suppress(requests.RequestException):
                requests.get(url, timeout=60)
            times.append(time.monotonic() - start)
        time.sleep(1)
    return times


def biggest_process(pid: int) -> int:
    """The process of ``pid``'s tree with the largest resident memory."""
    root = psutil.Process(pid)
    return max([root, *root.children(recursive=True)], key=lambda p: p.memory_info().rss).pid


def kill_round(s: settings.Settings, name: str, body: str, target: str) -> dict[str, float]:
    """Kill replica ``name`` (its process ``group``, or only its ``biggest`` process);
    seconds until restarted, pinging and scoring; its peak RSS."""
    server = supervisor.rpc(s.run)
    old = server.supervisor.getProcessInfo(name)["pid"]
    url = s.url(s.replica_ports[settings.REPLICAS.index(name)])
    victim = biggest_process(old)
    start = time.monotonic()
    if target == "group":
        os.killpg(old, signal.SIGKILL)
    else:
        os.kill(victim, signal.SIGKILL)
    restarted = wait_until(lambda: server.supervisor.getProcessInfo(name)["pid"] not in (0, old),
                           60)
    ping = wait_until(lambda: supervisor.healthy(f"{url}/ping", timeout=1), 120)
    scored = requests.post(f"{url}/invocations", data=body, headers=JSON, timeout=60)
    serving = time.monotonic() - start
    if scored.status_code != 200:
        raise RuntimeError(f"{name} answered {scored.status_code}: {scored.text[:200]}")
    pid = server.supervisor.getProcessInfo(name)["pid"]
    return {"restarted": restarted, "ping": ping, "serving": serving, "rss": peak_rss_mib(pid)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default="run", help="run folder of `scoring up`")
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8,
                        help="clients posting through nginx during the kills")
    parser.add_argument("--repeats", type=int, default=3, help="cold starts of each kind")
    parser.add_argument("--store", default=DEFAULT_STORE, help="feature store folder")
    parser.add_argument("--pause", type=float, default=5.0,
                        help="seconds between a replica serving again and the next kill")
    parser.add_argument("--watch", type=float, default=60.0,
                        help="seconds of /ping timing under traffic before the kills")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    s = settings.Settings.load(args.run_dir)
    bodies = payloads(args.store, count=50)
    print(f"bytecode compiled: {supervisor.bytecode_compiled()}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    cold = cold_starts(s, args.repeats)
    reference = cold["reference"]
    print(f"{'cold start (median of ' + str(args.repeats) + ')':<40}{'seconds':>8}{'x ref':>7}")
    for name, seconds in cold.items():
        print(f"{name:<40}{seconds:>8.2f}{seconds / reference:>7.2f}", flush=True)

    traffic = Traffic(s.url(s.model_port), bodies, args.clients)
    rounds = []
    try:
        time.sleep(2)
        pings = watch_pings(s, args.watch)
        print(f"/ping under traffic: {len(pings)} checks, slowest {max(pings):.1f} s, "
              f"{sum(t > 10 for t in pings)} over 10 s (httpok would restart the replica)",
              flush=True)
        for k in range(args.kills):
            name, target = s.replica_names[k % s.replicas], ("group", "biggest")[k // 2 % 2]
            rounds.append({"replica": name, "target": target,
                           **kill_round(s, name, bodies[k], target)})
            r = rounds[-1]
            print(f"kill {k + 1} {name} ({target}): restarted {r['restarted']:.1f} s, /ping "
                  f"{r['ping']:.1f} s, serving {r['serving']:.1f} s, peak RSS {r['rss']:.0f} MiB",
                  flush=True)
            time.sleep(args.pause)
    finally:
        traffic.stop()
    for target in ("group", "biggest"):
        serving = [r["serving"] for r in rounds if r["target"] == target]
        if serving:
            print(f"{target} kill -> serving over {len(serving)} kills: median "
                  f"{statistics.median(serving):.1f} s, max {max(serving):.1f} s "
                  f"({statistics.median(serving) / reference:.1f} x reference)")
    print(f"with {args.clients} clients: "
          f"{traffic.ok} requests through nginx, {len(traffic.failures)} failed; peak RSS "
          f"{max(r['rss'] for r in rounds):.0f} MiB; load average {os.getloadavg()[0]:.1f}")
    for failure in traffic.failures[:5]:
        print(f"    {failure}")
    table = [{"measure": f"cold start: {name}", "seconds": round(seconds, 2),
              "x reference": round(seconds / reference, 2)} for name, seconds in cold.items()]
    for target in ("group", "biggest"):
        serving = [r["serving"] for r in rounds if r["target"] == target]
        if serving:
            median = statistics.median(serving)
            table.append({"measure": f"{target} kill -> serving, median of {len(serving)}",
                          "seconds": round(median, 1), "x reference": round(median / reference, 1)})
    record("bench_faults", table, script=__file__,
           notes=f"{args.clients} clients through nginx: {traffic.ok} requests, "
           f"{len(traffic.failures)} failed; /ping slowest {max(pings):.1f} s of {len(pings)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cold": cold, "rounds": rounds, "pings": pings,
                                         "ok": traffic.ok,
                                         "failures": traffic.failures}, indent=2))


if __name__ == "__main__":
    main()
