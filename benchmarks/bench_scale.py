"""The cost curve of the data steps by portfolio size (issue 24): time, CPU and peak memory of
``generate``, ``convert``, ``validate`` and ``features`` (one piece and by client partition,
from CSV and from Parquet), against the bare parse of the same files (``read_floor.py``);
and, with ``--scales``, every step (validate, features, train, score) at 1x, 3x and 10x Kaggle.

    .venv/bin/python benchmarks/bench_scale.py                       # 120,000 clients
    .venv/bin/python benchmarks/bench_scale.py --sizes 356255 1068765 3562550 --parquet-only
    .venv/bin/python benchmarks/bench_scale.py --sizes 20000 --train     # + train and score
    .venv/bin/python benchmarks/bench_scale.py --scales 1x 3x 10x --root /work/scale \
        --steps validate features train score --max-rounds 100

``--scales``: ``<root>/<scale>/`` holds the generated Parquet tables (generated there with
``scoring generate --format parquet`` when absent: 1x = 356,255 clients). Each (scale, step)
measured is kept in ``<root>/measured.json`` and not measured again (``--again``), so the
scales can be measured in several runs (or at once, in parallel); every run prints the whole
curve and records it. Each step is the real command in its own child process, timed with
``os.wait4`` (wall, user + system CPU, peak RSS of the process). Per-client figures compare
sizes; ratios compare steps of one run.
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


#: Clients of each scale: Kaggle's 356,255 applications times the factor.
KAGGLE = 356_255
SCALE_STEPS = ("generate", "validate", "features", "train", "score")


def clients_of(scale: str) -> int:
    """``"3x"`` -> 1,068,765 clients."""
    return round(float(scale.removesuffix("x")) * KAGGLE)


def scale_step(step: str, scale: str, root: Path, max_rounds: int | None,
               model: str | None) -> dict[str, float | str]:
    """One step at one scale: the command, measured; ``score`` uses ``model`` or the model
    that ``train`` fitted at this scale."""
    folder, store = root / scale, root / f"store-{scale}"
    ENV["MLFLOW_TRACKING_URI"] = f"sqlite:///{root}/mlflow.db"
    if step == "generate":
        return measure(scoring("generate", "--applications", str(clients_of(scale)),
                               "--out", str(folder), "--format", "parquet"))
    if step == "validate":
        return measure(scoring("validate", "-d", str(folder)))
    if step == "features":
        return measure(scoring("features", "-d", str(folder), "--out", str(store)))
    if step == "train":
        capped = ["--max-rounds", str(max_rounds)] if max_rounds else []
        return measure(scoring(
            "train", "--store", str(store), "--folds", "3", "--trials", "1", "--threads", "1",
            "--no-register", *capped),
            {"cv_rounds": r"\((\d+) CV rounds", "refit_rounds": r"for (\d+) rounds",
             "run": r"\(run (\w+)\)", "labelled": r"([\d,]+) labelled clients",
             "lgbm_cv_cpu_s": r"lightgbm .*, ([\d.]+) CPU s\)"})
    if step == "score":
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            return measure(scoring("score", "-d", str(folder), "--out", f"{tmp}/scores.csv",
                                   "--model", model))
    raise ValueError(f"unknown step {step!r}")


def measured_file(root: Path) -> Path:
    return root / "measured.json"


def keep(root: Path, scale: str, step: str, result: dict) -> dict:
    """Add one measurement to ``<root>/measured.json`` (locked: runs may go in parallel)."""
    import fcntl

    with open(root / ".measured.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = measured_file(root)
        done = json.loads(path.read_text()) if path.is_file() else {}
        done.setdefault(scale, {})[step] = result
        path.write_text(json.dumps(done, indent=1))
    return done


def run_scales(args: argparse.Namespace) -> None:
    """Measure the steps not measured yet at each scale, then print and record the curve."""
    root = args.root
    root.mkdir(parents=True, exist_ok=True)
    path = measured_file(root)
    done = json.loads(path.read_text()) if path.is_file() else {}
    for scale in [] if args.report else args.scales:
        steps = [s for s in args.steps if args.again or s not in done.get(scale, {})]
        if not (root / scale / "application_train.parquet").is_file():
            steps = ["generate", *[s for s in steps if s != "generate"]]
        for step in steps:
            run = done.get(scale, {}).get("train", {}).get("run")
            model = args.model or (f"runs:/{run}/model" if run else None)
            if step == "score" and model is None:
                raise SystemExit(f"score at {scale}: give --model or run train first")
            load = os.getloadavg()[0]
            print(f"measuring {step} at {scale} (load {load:.1f})", flush=True)
            result = {**scale_step(step, scale, root, args.max_rounds, model),
                      "load": round((load + os.getloadavg()[0]) / 2, 1),
                      "max_rounds": args.max_rounds if step == "train" else None}
            done = keep(root, scale, step, result)
    rows = curve_rows(done)
    print_curve(rows)
    from results import record

    record("bench_scale", rows, script=__file__, notes=(
        "--scales run: every step at 1x, 3x and 10x Kaggle on Parquet, each in its own process "
        "at nice 19 under the load shown; CPU and peaks are the figures to read. train: 3 "
        "folds, 1 trial, one thread; rounds capped where 'max rounds' is set"))


def curve_rows(done: dict) -> list[dict]:
    """One row per (scale, step) measured: clients, time, CPU, peak, CPU per client and its
    ratio to the same step at 1x; train adds its rounds and CPU per client per CV round."""
    rows = []
    for scale in sorted(done, key=lambda s: float(s.removesuffix("x"))):
        for step in SCALE_STEPS:
            m = done[scale].get(step)
            if m is None:
                continue
            clients = (int(m["labelled"].replace(",", "")) if "labelled" in m
                       else clients_of(scale))
            per_client = m["cpu_s"] / clients * 1e6
            base = done.get("1x", {}).get(step)
            base_clients = (int(base["labelled"].replace(",", "")) if base and "labelled" in base
                            else KAGGLE)
            row = {"scale": scale, "step": step, "clients": clients,
                   "wall s": round(m["wall_s"], 1), "CPU s": round(m["cpu_s"], 1),
                   "peak MiB": m["peak_mib"], "CPU us per client": round(per_client, 1),
                   "per client vs 1x": round(per_client / (base["cpu_s"] / base_clients * 1e6),
                                             2) if base else None,
                   "load": m.get("load"), "note": m.get("note", "")}
            if "cv_rounds" in m:
                row.update({"max rounds": m.get("max_rounds"),
                            "CV rounds": int(m["cv_rounds"]),
                            "refit rounds": int(m["refit_rounds"]),
                            "CPU us per client per CV round": round(
                                per_client / int(m["cv_rounds"]), 3)})
            if "lgbm_cv_cpu_s" in m:  # LightGBM's CV alone: its Dataset, boosting and OOF
                row["LightGBM CV CPU us per client per round"] = round(
                    float(m["lgbm_cv_cpu_s"]) / clients * 1e6 / int(m["cv_rounds"]), 3)
            rows.append(row)
    return rows


def print_curve(rows: list[dict]) -> None:
    from results import markdown

    print(markdown(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[120_000])
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    parser.add_argument("--partitions", type=int, default=0, help="0: automatic")
    parser.add_argument("--parquet-only", action="store_true",
                        help="generate Parquet, no CSV steps (large sizes)")
    parser.add_argument("--train", action="store_true", help="also train and score")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--scales", nargs="*", help="e.g. 1x 3x 10x: every step at these "
                        "multiples of Kaggle's 356,255 clients (instead of --sizes)")
    parser.add_argument("--root", type=Path, default=ROOT / "benchmarks" / ".cache" / "scales",
                        help="--scales: folder of the generated data, stores and measurements")
    parser.add_argument("--steps", nargs="*", default=list(SCALE_STEPS[1:]),
                        choices=SCALE_STEPS[1:], help="--scales: the steps to measure")
    parser.add_argument("--max-rounds", type=int, help="--scales: cap on boosting rounds")
    parser.add_argument("--model", help="--scales: model URI to score with (default: the "
                        "scale's trained model)")
    parser.add_argument("--again", action="store_true", help="--scales: measure again")
    parser.add_argument("--report", action="store_true",
                        help="--scales: measure nothing, print and record what was measured")
    args = parser.parse_args()
    if args.scales:
        run_scales(args)
        return
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
