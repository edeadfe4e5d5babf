"""Our whole ``scoring features`` against the public kernel recipe and our pandas twin.

On the same generated Kaggle-format CSV files (``scoring generate --seed 0 --format csv``,
cached in ``benchmarks/.cache/``), runs in separate child processes, alternating ``--repeat``
times and keeping each one's fastest run:

- **ours**: the ``scoring features`` command itself (CLI start-up, scan, aggregate, write the
  store), its per-family progress lines kept;
- **kernel**: ``kernel_reference.py``, the "LightGBM with simple features" recipe in pandas
  (read every CSV file, one-hot, aggregate, join; its frame stays in memory, unwritten);
- **pandas twin**: ``pandas_reference.py`` (the same features as ours, in pandas, written to
  Parquet), as ``bench_features.py`` runs it;
- **parse floor**: ``read_floor.py``, a process that only parses, with ours' reader, the
  columns ours needs from the eight files (start-up included): what no build of these
  features from CSV can beat.

Each child's wall time, CPU time (user + system) and peak RSS come from ``os.wait4``; the
1-minute load average is recorded because the machine is shared.

    .venv/bin/python benchmarks/bench_kernel.py                      # 120,000 clients
    .venv/bin/python benchmarks/bench_kernel.py --sizes 120000 356255 --repeat 2

Goals: ours at least 3x faster than the kernel with no more peak memory at 120,000 clients,
at least 4x at full Kaggle size (356,255).
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
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_features import dataset  # noqa: E402

KINDS = ("ours", "kernel", "pandas twin", "parse floor")


def _command(kind: str, data_dir: Path, out: Path) -> list[str]:
    if kind == "ours":
        return [str(ROOT / ".venv" / "bin" / "scoring"), "features", "--data-dir",
                str(data_dir), "--out", str(out)]
    if kind == "kernel":
        return [sys.executable, __file__, "--child", str(data_dir)]
    if kind == "parse floor":
        return [sys.executable, str(ROOT / "benchmarks" / "read_floor.py"), str(data_dir)]
    return [sys.executable, str(ROOT / "benchmarks" / "bench_features.py"), "--child",
            "pandas", str(data_dir), str(out / "reference.parquet")]


def run(kind: str, data_dir: Path, out: Path) -> dict:
    """One run: a wrapper process starts the child and reports its wall and CPU seconds, peak
    RSS and output."""
    wrapper = [sys.executable, __file__, "--measure", kind, str(data_dir), str(out)]
    load = os.getloadavg()[0]
    result = subprocess.run(wrapper, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{kind} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]) | {"load_1min": load}


def measure(kind: str, data_dir: Path, out: Path) -> dict:
    """In a wrapper process: start the child, wait for it with ``wait4`` (its own rusage).

    Every child gets the polars allocator setting that ``scoring features`` gives itself.
    """
    from cli.data import POLARS_ALLOCATOR

    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(_command(kind, data_dir, out), stdout=log, stderr=err,
                                 text=True, env=os.environ | POLARS_ALLOCATOR)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - t0
        log.seek(0)
        err.seek(0)
        if status:
            raise RuntimeError(f"{kind} failed:\n{err.read()[-3000:]}")
        report = log.read()
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024, "report": report}


def kernel_child(data_dir: Path) -> None:
    """The kernel recipe in this process; prints its step timings as JSON."""
    from kernel_reference import kernel_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' fragmentation warnings, as on Kaggle
        frame, timings = kernel_features(data_dir)
    print(json.dumps({"shape": list(frame.shape), "steps": timings}))


def bench(data_dir: Path, repeat: int, kinds: tuple[str, ...]) -> dict:
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            for kind in kinds:
                runs[kind].append(run(kind, data_dir, Path(tmp)))
    best = {k: min(r, key=lambda x: x["seconds"]) for k, r in runs.items()}
    return {"data": str(data_dir), "best": best, "runs": runs}


def _ours_steps(report: str) -> str:
    steps = re.findall(r"^(\S[^:]*):.*\((\d+\.\d) s\)$", report, flags=re.M)
    return ", ".join(f"{name} {s} s" for name, s in steps)


def report(res: dict) -> None:
    best = res["best"]
    print(f"\n{res['data']}")
    for kind, r in best.items():
        print(f"  {kind:12}: {r['seconds']:7.1f} s wall  {r['cpu_seconds']:7.1f} s CPU  "
              f"peak RSS {r['peak_rss_mib']:7.0f} MiB  (load {r['load_1min']:.1f})")
    ours = best["ours"]
    for kind in best:
        if kind not in ("ours", "parse floor"):
            r = best[kind]
            print(f"  ours vs {kind}: {r['seconds'] / ours['seconds']:.2f}x wall, "
                  f"{r['cpu_seconds'] / ours['cpu_seconds']:.2f}x CPU, peak "
                  f"{ours['peak_rss_mib'] / r['peak_rss_mib']:.2f} of its")
    if "parse floor" in best:
        f = best["parse floor"]
        print(f"  ours / parse floor: {ours['seconds'] / f['seconds']:.2f}x wall, "
              f"{ours['cpu_seconds'] / f['cpu_seconds']:.2f}x CPU" + "".join(
                  f"; {k} / parse floor: {best[k]['seconds'] / f['seconds']:.2f}x wall, "
                  f"{best[k]['cpu_seconds'] / f['cpu_seconds']:.2f}x CPU"
                  for k in best if k not in ("ours", "parse floor")))
    print(f"  ours, steps: {_ours_steps(ours['report'])}")
    if "kernel" in best:
        k = json.loads(best["kernel"]["report"].strip().splitlines()[-1])
        steps = ", ".join(f"{n} {s:.1f} s" for n, s in k["steps"].items())
        print(f"  kernel, {k['shape'][1]} columns, steps: {steps}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[120_000])
    parser.add_argument("--data-dir", type=Path, help="an existing folder of CSV files")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kernel_child(args.child)
        return
    if args.measure:
        kind, data_dir, out = args.measure
        print(json.dumps(measure(kind, Path(data_dir), Path(out))))
        return
    folders = [args.data_dir] if args.data_dir else [dataset(n, "csv") for n in args.sizes]
    results = []
    for folder in folders:
        results.append(bench(folder, args.repeat, tuple(args.kinds)))
        report(results[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
