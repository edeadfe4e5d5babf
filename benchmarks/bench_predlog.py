"""Overhead of the prediction log on the served model's ``predict`` (in-process).

Loads the champion twice, without and with ``SCORING_PREDICTION_LOG`` (a temporary folder),
then scores the same single applications (top 10 reasons, as the dashboard asks) alternately
with each, so both see the same machine load. Reports the median and p95 latency of each, the
difference, the cost of ``PredictionLog.append`` alone, and what the writer thread wrote.

    MLFLOW_TRACKING_URI=sqlite:///mlruns/mlflow.db python benchmarks/bench_predlog.py --calls 500
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from results import record  # benchmarks/ is this script's folder

from scoring.names import DEFAULT_STORE


def _load(model_uri: str, log_dir: str | None):
    import mlflow

    if log_dir:
        os.environ["SCORING_PREDICTION_LOG"] = log_dir
    else:
        os.environ.pop("SCORING_PREDICTION_LOG", None)
    model = mlflow.pyfunc.load_model(model_uri)
    os.environ.pop("SCORING_PREDICTION_LOG", None)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=DEFAULT_STORE)
    parser.add_argument("--model", default="models:/credit-scoring@champion")
    parser.add_argument("--calls", type=int, default=500, help="predict calls per variant")
    args = parser.parse_args()

    from scoring.request import pack_history
    from scoring.store import client_ids, read_clients
    from serving.predlog import PredictionLog, read_log
    from training import track

    track.configure()
    ids = client_ids(args.store, "test")[:50]
    rows = pack_history(read_clients(ids, args.store))
    singles = [rows.iloc[[i]] for i in range(len(rows))]
    params = {"explain": "top-k", "top_k": 10}
    with tempfile.TemporaryDirectory() as folder:
        plain, logged = _load(args.model, None), _load(args.model, folder)
        for model in (plain, logged):  # warm-up
            model.predict(singles[0], params=params)
        times: dict[str, list[float]] = {"without log": [], "with log": []}
        for i in range(args.calls):
            row = singles[i % len(singles)]
            for name, model in (("without log", plain), ("with log", logged)):
                start = time.perf_counter()
                model.predict(row, params=params)
                times[name].append(time.perf_counter() - start)
        writer = logged.unwrap_python_model().prediction_log
        writer.close()
        written = len(read_log(folder))
        files = len(list(Path(folder).glob("part-*.parquet")))
        append = PredictionLog(folder, interval=3600)
        out = plain.predict(singles[0], params=params)
        start = time.perf_counter()
        for _ in range(10_000):
            append.append(singles[0], out)
        append_us = (time.perf_counter() - start) / 10_000 * 1e6
        append.close()
    for name, values in times.items():
        ms = np.array(values) * 1000
        print(f"{name:<12} median {np.median(ms):7.2f} ms   p95 {np.percentile(ms, 95):7.2f} ms")
    delta = np.median(times["with log"]) - np.median(times["without log"])
    print(f"median overhead {delta * 1000:+.2f} ms "
          f"({delta / np.median(times['without log']):+.1%}); append alone {append_us:.1f} us")
    print(f"logged {written} of {args.calls + 1} applications in {files} Parquet files, "
          f"{writer.dropped} dropped")
    rows = [{"path": name, "median ms": round(float(np.median(v)) * 1000, 2),
             "p95 ms": round(float(np.percentile(v, 95)) * 1000, 2)} for name, v in times.items()]
    rows.append({"path": "the hook alone (a queue put)", "median ms": round(append_us / 1000, 4),
                 "p95 ms": "-"})
    record("bench_predlog", rows, script=__file__,
           notes=f"{args.calls} predict calls per variant, alternating; median overhead "
           f"{delta * 1000:+.2f} ms; {writer.dropped} records dropped")


if __name__ == "__main__":
    main()
