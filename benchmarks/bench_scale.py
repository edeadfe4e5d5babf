"""The cost curve of the data steps by portfolio size (issue 24): time, CPU and peak memory of
``generate``, ``convert``, ``validate`` and ``features`` (one piece and by client partition,
from CSV and from Parquet), against the bare parse of the same files (``read_floor.py``).

    .venv/bin/python benchmarks/bench_scale.py                       # 120,000 clients
    .venv/bin/python benchmarks/bench_scale.py --sizes 356255 1068765 3562550 --parquet-only
    .venv/bin/python benchmarks/bench_scale.py --sizes 20000 --train     # + train and score

Each step is the real command in its own child process, timed with ``os.wait4`` (wall, user +
system CPU, peak RSS of the process). Generated data is kept under ``--cache`` (CSV and the
Parquet conversion). Per-client figures compare sizes; ratios compare steps of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FLOOR = ROOT / "benchmarks" / "read_floor.py"
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_WAIT_POLICY": "PASSIVE"}


def measure(command: list[str], found: dict[str, str] | None = None) -> dict[str, float]:
    """Wall s, CPU s and peak RSS (MiB) of ``command`` run to its end; fails loudly.

    ``found``: name -> regular expression; the first group of each match in the output is
    added to the result."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output.decode()[-2000:]}")
    result = {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
              "peak_mib": round(usage.ru_maxrss / 1024)}
    for name, pattern in (found or {}).items():
        result[name] = re.search(pattern, output.decode()).group(1)
    return result


def scoring(*args: str) -> list[str]:
    return [str(BIN / "scoring"), *args]


def data_steps(size: int, cache: Path, partitions: int, parquet_only: bool,
               ) -> dict[str, dict[str, float]]:
    """Every data step at ``size`` clients; the data is generated once into ``cache``."""
    csv, parquet = cache / f"csv-{size}", cache / f"parquet-{size}"
    out: dict[str, dict[str, float]] = {}
    if parquet_only:
        if not (parquet / "application_train.parquet").is_file():
            out["generate parquet"] = measure(scoring(
                "generate", "--applications", str(size), "--out", str(parquet),
                "--format", "parquet"))
    else:
        if not (csv / "application_train.csv").is_file():
            out["generate csv"] = measure(scoring("generate", "--applications", str(size),
                                                  "--out", str(csv), "--format", "csv"))
        out["parse floor csv"] = measure([sys.executable, str(FLOOR), str(csv)])
        out["convert"] = measure(scoring("convert", "-d", str(csv), "--out", str(parquet)))
    out["parse floor parquet"] = measure([sys.executable, str(FLOOR), str(parquet)])
    out["validate parquet"] = measure(scoring("validate", "-d", str(parquet)))
    store = cache / f"store-{size}"
    if not parquet_only:
        out["features csv"] = measure(scoring("features", "-d", str(csv), "--out", str(store),
                                              "--partitions", "1"))
        out["features parquet"] = measure(scoring("features", "-d", str(parquet), "--out",
                                                  str(store), "--partitions", "1"))
    out[f"features parquet, {partitions or 'auto'} partitions"] = measure(scoring(
        "features", "-d", str(parquet), "--out", str(store),
        *(["--partitions", str(partitions)] if partitions else [])))
    return out


def model_steps(size: int, cache: Path) -> dict[str, dict[str, float]]:
    """``scoring train`` (3 folds, 1 trial, one thread, not registered) on the store of
    ``size`` clients, then ``scoring score`` of its test applications with that run's model."""
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        ENV["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        out["train"] = measure(scoring(
            "train", "--store", str(cache / f"store-{size}"), "--folds", "3", "--trials", "1",
            "--threads", "1", "--no-register"),
            {"cv_rounds": r"\((\d+) CV rounds", "refit_rounds": r"for (\d+) rounds",
             "run": r"\(run (\w+)\)"})
        out["score parquet"] = measure(scoring(
            "score", "-d", str(cache / f"parquet-{size}"), "--out", f"{tmp}/scores.csv",
            "--model", f"runs:/{out['train']['run']}/model"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[120_000])
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    parser.add_argument("--partitions", type=int, default=0, help="0: automatic")
    parser.add_argument("--parquet-only", action="store_true",
                        help="generate Parquet, no CSV steps (large sizes)")
    parser.add_argument("--train", action="store_true", help="also train and score")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    results = {}
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| clients | step | wall s | CPU s | peak MiB | CPU / parse floor | "
          "CPU us per client |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        results[size] = data_steps(size, args.cache, args.partitions, args.parquet_only)
        if args.train:
            results[size].update(model_steps(size, args.cache))
        floor = results[size].get("parse floor csv", results[size]["parse floor parquet"])
        for step, m in results[size].items():
            rounds = (f" ({m['cv_rounds']} CV rounds, refit {m['refit_rounds']}: "
                      f"{m['cpu_s'] / size / int(m['cv_rounds']) * 1e6:.2f} CPU us per client "
                      f"per CV round)" if "cv_rounds" in m else "")
            print(f"| {size:,} | {step}{rounds} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | "
                  f"{m['peak_mib']:,} | {m['cpu_s'] / floor['cpu_s']:.2f}x | "
                  f"{m['cpu_s'] / size * 1e6:.0f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    from results import record

    record("bench_scale", [
        {"clients": size, "step": step, "wall s": round(m["wall_s"], 1),
         "CPU s": round(m["cpu_s"], 1), "peak MiB": m["peak_mib"],
         "CPU / parse floor": round(m["cpu_s"] / (
             steps.get("parse floor csv") or steps["parse floor parquet"])["cpu_s"], 2)}
        for size, steps in results.items() for step, m in steps.items()], script=__file__,
        notes="CPU and peaks are the figures to read; wall time follows the machine's load")


if __name__ == "__main__":
    main()
