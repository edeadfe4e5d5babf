"""Benchmark of ``scoring generate``: wall time, rows/s and peak memory.

    python benchmarks/bench_generate.py                      # full Kaggle size, 356,255 clients
    python benchmarks/bench_generate.py --applications 50000 --format parquet

Three runs, each in a child process of its own so that its peak RSS can be read:

1. ``generate``: the command itself (``python -m cli generate``) at the given size;
2. ``demo``: the same at the 20,000-client demo size (``make demo``);
3. ``write floor``: the time to only write as many rows per table through ``TableWriter``,
   from frames already built in memory (one generated chunk written over and over). This is
   the I/O floor: ``generate / write floor`` is the cost of generating on top of writing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from results import markdown, record  # noqa: E402  (benchmarks/ is this script's folder)

KAGGLE_CLIENTS = 307_511 + 48_744
DEMO_CLIENTS = 20_000


def peak_rss_mib() -> float:
    """Peak resident memory of this process, MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_generate(applications: int, seed: int, fmt: str, out: Path) -> dict:
    """Run the CLI command in this (child) process and measure it."""
    from typer.testing import CliRunner

    from cli import app
    from scoring.schema import TABLES

    t0 = time.perf_counter()
    result = CliRunner().invoke(app, ["generate", "--applications", str(applications),
                                      "--seed", str(seed), "--out", str(out), "--format", fmt])
    seconds = time.perf_counter() - t0
    if result.exit_code != 0:
        raise SystemExit(f"generate failed: {result.output}\n{result.exception!r}")
    counts = {}
    for table in TABLES:  # the progress bar may share a line with the first count
        found = re.search(rf"{table}\s+([\d,]+) rows", result.output)
        counts[table] = int(found[1].replace(",", "")) if found else 0
    return {"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "rows": counts}


def child_write_floor(rows: dict[str, int], fmt: str, out: Path) -> dict:
    """Write ``rows`` rows per table from one in-memory chunk; time the writes only."""
    from scoring.tables import TableWriter
    from synthetic.generator import CHUNK_CLIENTS, IdCounters, generate_chunk

    frames = generate_chunk(0, 0, 100_002, CHUNK_CLIENTS, IdCounters())
    apps = frames["application_train"]
    frames["application_test"] = apps.drop("TARGET")
    seconds = 0.0
    for table, total in rows.items():
        frame = frames[table]
        with TableWriter(out, table, fmt) as writer:
            left = total
            while left > 0 and frame.height:
                part = frame.head(left)
                t0 = time.perf_counter()
                writer.write(part)
                seconds += time.perf_counter() - t0
                left -= part.height
    return {"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "rows": rows}


def run_child(args: list[str]) -> dict:
    """Run this script in child mode and return its JSON measurement."""
    cmd = [sys.executable, __file__, *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def folder_size_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir()) / 2**20


def table(results: dict[str, dict], sizes: dict[str, float], floor: dict) -> list[dict]:
    """The result rows; the I/O-floor ratio for runs of the floor's row counts."""
    out = []
    for name, r in results.items():
        rows = sum(r["rows"].values())
        ratio = round(r["seconds"] / floor["seconds"], 2) if r["rows"] == floor["rows"] else "-"
        out.append({"run": name, "clients": r.get("clients", "-"), "rows": rows,
                    "wall s": round(r["seconds"], 1), "rows/s": round(rows / r["seconds"]),
                    "peak RSS MiB": round(r["peak_rss_mib"]),
                    "files MiB": round(sizes.get(name, 0)), "x I/O floor": ratio})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=KAGGLE_CLIENTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", dest="fmt", default="csv", choices=["csv", "csv.gz",
                                                                        "parquet"])
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where to write the files (default: a temporary folder)")
    parser.add_argument("--child", choices=["generate", "write-floor"], help=argparse.SUPPRESS)
    parser.add_argument("--rows", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "generate":
        print(json.dumps(child_generate(args.applications, args.seed, args.fmt, args.out)))
        return
    if args.child == "write-floor":
        print(json.dumps(child_write_floor(json.loads(args.rows), args.fmt, args.out)))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-generate-", dir=args.work_dir))
    common = ["--seed", str(args.seed), "--format", args.fmt]
    results, sizes = {}, {}
    try:
        for name, n in (("generate", args.applications), ("demo size", DEMO_CLIENTS)):
            out = work / name.replace(" ", "_")
            print(f"running {name} ({n:,} clients)...", file=sys.stderr)
            results[name] = run_child(["--child", "generate", "--applications", str(n),
                                       "--out", str(out), *common])
            results[name]["clients"] = n
            sizes[name] = folder_size_mib(out)
            shutil.rmtree(out)
        print("running write floor...", file=sys.stderr)
        out = work / "floor"
        results["write floor"] = run_child(["--child", "write-floor", "--out", str(out),
                                            "--rows", json.dumps(results["generate"]["rows"]),
                                            *common])
        results["write floor"]["clients"] = args.applications
        sizes["write floor"] = folder_size_mib(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = results["write floor"]
    print(f"# bench_generate: {args.applications:,} clients, format {args.fmt}, "
          f"seed {args.seed}, {os.cpu_count()} CPUs\n")
    rows = table(results, sizes, floor)
    print(markdown(rows))
    record("bench_generate", rows, script=__file__,
           notes=f"format {args.fmt}, seed {args.seed}; x I/O floor is the time against only "
           "writing as many rows (write floor)")
    gen = results["generate"]
    print(f"\nrows per table ({args.applications:,} clients): "
          + ", ".join(f"{t} {r:,}" for t, r in gen["rows"].items()))
    demo = results["demo size"]
    scale = (gen["seconds"] / demo["seconds"]) / (args.applications / DEMO_CLIENTS)
    print(f"time per client vs the demo size: {scale:.2f}x")


if __name__ == "__main__":
    main()
