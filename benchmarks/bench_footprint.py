"""Memory footprint of the services: proportional set size (PSS) of supervisord and all its
descendants, per program, for the default stack and the small profile.

For each profile the script runs ``scoring up`` (``--small`` for the small one) on its own
ports and run folder, scores ``--requests`` applications through nginx (a replica's memory
grows with its first requests) and opens the dashboard's page once, then sums
``psutil.Process.memory_full_info().pss`` over supervisord and every process under it,
grouped by supervisor program, and runs ``scoring down``. PSS counts a page shared by N
processes as 1/N in each, so the sum is what the stack costs the host.

Reference, in the same script: a fresh Python process that loads the champion
(``mlflow.pyfunc.load_model``), the least a model server holds.

    python benchmarks/bench_footprint.py --store data/features
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results import record  # noqa: E402  (benchmarks/ is this script's folder)

from ops import settings, supervisor  # noqa: E402
from scoring.names import DEFAULT_STORE  # noqa: E402
from testkit import JSON, payloads  # noqa: E402

BIN = Path(sys.executable).parent
MIB = 1024 * 1024
PROFILES = {"default": [], "small": ["--small"]}


def pss(process: psutil.Process) -> int:
    """PSS bytes of one process and its descendants (0 for those gone meanwhile)."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def footprint(run: Path) -> dict[str, float]:
    """MiB of PSS per supervisor program, supervisord itself, and the total."""
    daemon = psutil.Process(int((run / "supervisord.pid").read_text()))
    out, counted = {}, 0
    for info in supervisor.rpc(run).supervisor.getAllProcessInfo():
        if info["pid"]:
            out[info["name"]] = pss(psutil.Process(info["pid"])) / MIB
    total = pss(daemon) / MIB
    counted = sum(out.values())
    out["supervisord"] = total - counted
    out["total"] = total
    return out


def reference_pss(model_path: str, env: dict[str, str]) -> float:
    """MiB of PSS of a fresh process that loaded the model."""
    code = ("import mlflow.pyfunc, psutil; "
            f"mlflow.pyfunc.load_model({model_path!r}); "
            "print(psutil.Process().memory_full_info().pss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env=env)
    return int(out.stdout.split()[-1]) / MIB


def measure(profile: str, args: argparse.Namespace, bodies: list[str]) -> dict[str, float]:
    """Start the profile, warm it up, measure, stop it."""
    run = args.work_dir / profile
    ports = ["--tracking-port", str(args.port), "--model-port", str(args.port + 1),
             "--dashboard-port", str(args.port + 6)]
    up = [str(BIN / "scoring"), "up", "--run-dir", str(run), "--store", str(args.store),
          "--prediction-log", "", *ports, *PROFILES[profile]]
    start = time.monotonic()
    done = subprocess.run(up, capture_output=True, text=True)
    try:
        if done.returncode != 0:
            raise RuntimeError(f"scoring up {profile} failed: {done.stdout}{done.stderr}")
        ready = time.monotonic() - start
        s = settings.Settings.load(run)
        for body in bodies[:args.requests]:
            r = requests.post(s.url(s.model_port) + "/invocations", data=body, headers=JSON,
                              timeout=120)
            r.raise_for_status()
        requests.get(s.url(s.dashboard_port) + "/app", timeout=120).raise_for_status()
        time.sleep(args.settle)
        result = footprint(run)
        result["up_seconds"] = ready
        result["reference"] = reference_pss(
            json.loads((run / "model-1.json").read_text())["model_path"],
            {**os.environ, "MLFLOW_TRACKING_URI": s.tracking_uri})
        return result
    finally:
        subprocess.run([str(BIN / "scoring"), "down", "--run-dir", str(run)],
                       capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=Path(DEFAULT_STORE))
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/bench_footprint"))
    parser.add_argument("--port", type=int, default=5100,
                        help="tracking port; model +1, replicas +11 and +12, dashboard +6")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--profiles", default="default,small")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.store = args.store.resolve()
    bodies = payloads(str(args.store), count=args.requests)
    results = {p: measure(p, args, bodies) for p in args.profiles.split(",")}
    names = sorted({n for r in results.values() for n in r} - {"total", "up_seconds",
                                                                  "reference"})
    print(f"{'PSS MiB':<14}" + "".join(f"{p:>10}" for p in results))
    for name in [*names, "total"]:
        print(f"{name:<14}" + "".join(f"{r.get(name, 0):>10.0f}" for r in results.values()))
    print(f"{'x reference':<14}" + "".join(f"{r['total'] / r['reference']:>10.1f}"
                                           for r in results.values()))
    for profile, r in results.items():
        print(f"{profile}: {r['total'] / 1024:.2f} GiB; up in {r['up_seconds']:.0f} s; "
              f"reference (one process that loaded the model) {r['reference']:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    record("bench_footprint", [
        {"program": name, **{f"{p} PSS MiB": round(r.get(name, 0)) for p, r in results.items()}}
        for name in [*names, "total", "reference"]], script=__file__,
        notes=f"after {args.requests} applications scored and one dashboard page; reference: "
        "one process that loaded the model")


if __name__ == "__main__":
    main()
