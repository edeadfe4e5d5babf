"""The cost curve of the data steps by portfolio size (issue 24): time, CPU and peak memory of
``generate``, ``convert``, ``validate`` and ``features`` (one piece and by client partition,
from CSV and from Parquet), against the bare parse of the same files (``read_floor.py``).

    .venv/bin/python benchmarks/bench_scale.py                       # 120,000 clients
    .venv/bin/python benchmarks/bench_scale.py --sizes 356255 1068765 3562550 --cache /big/disk

Each step is the real command in its own child process, timed with ``os.wait4`` (wall, user +
system CPU, peak RSS of the process). Generated data is kept under ``--cache`` (CSV and the
Parquet conversion). Per-client figures compare sizes; ratios compare steps of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_WAIT_POLICY": "PASSIVE"}


def measure(command: list[str]) -> dict[str, float]:
    """Wall s, CPU s and peak RSS (MiB) of ``command`` run to its end; fails loudly."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output.decode()[-2000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_mib": round(usage.ru_maxrss / 1024)}


def scoring(*args: str) -> list[str]:
    return [str(BIN / "scoring"), *args]


def steps(size: int, cache: Path, partitions: int) -> dict[str, dict[str, float]]:
    """Every step at ``size`` clients; the data is generated once into ``cache``."""
    csv, parquet = cache / f"csv-{size}", cache / f"parquet-{size}"
    out: dict[str, dict[str, float]] = {}
    if not (csv / "application_train.csv").is_file():
        out["generate csv"] = measure(scoring("generate", "--applications", str(size),
                                              "--out", str(csv), "--format", "csv"))
    out["parse floor csv"] = measure([sys.executable, str(ROOT / "benchmarks/read_floor.py"),
                                      str(csv)])
    out["convert"] = measure(scoring("convert", "-d", str(csv), "--out", str(parquet)))
    out["parse floor parquet"] = measure([sys.executable,
                                          str(ROOT / "benchmarks/read_floor.py"), str(parquet)])
    out["validate parquet"] = measure(scoring("validate", "-d", str(parquet)))
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        out["features csv"] = measure(scoring("features", "-d", str(csv), "--out", tmp,
                                              "--partitions", "1"))
        out["features parquet"] = measure(scoring("features", "-d", str(parquet), "--out", tmp,
                                                  "--partitions", "1"))
        out[f"features parquet, {partitions} partitions"] = measure(scoring(
            "features", "-d", str(parquet), "--out", tmp, "--partitions", str(partitions)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[120_000])
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    results = {}
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| clients | step | wall s | CPU s | peak MiB | wall / parse floor csv | "
          "CPU us per client |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        results[size] = steps(size, args.cache, args.partitions)
        floor = results[size]["parse floor csv"]["wall_s"]
        for step, m in results[size].items():
            print(f"| {size:,} | {step} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | "
                  f"{m['peak_mib']:,} | {m['wall_s'] / floor:.2f}x | "
                  f"{m['cpu_s'] / size * 1e6:.0f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
