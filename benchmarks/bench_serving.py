"""Latency and throughput of the served model against the bare booster, in one script.

Generates (or reuses) a synthetic data set, trains a model without search in a temporary MLflow
store, serves the champion with the stock `mlflow models serve`, then measures:

- one client with top-10 reasons: p50 / p95 of `/invocations` end to end (HTTP, JSON, schema
  checks, features, booster), against the bare in-process booster (`predict` + `pred_contrib`
  on the same row, as a pandas frame and as a float matrix) in this same process;
- 1,000-row batches: rows per second with and without reasons;
- peak RSS of the server process.

    .venv/bin/python benchmarks/bench_serving.py [--clients 20000] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import requests  # noqa: E402

from testkit import free_port, running, serve_command, server_env  # noqa: E402


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def timed(fn, n: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def prepare(clients: int, work: Path) -> tuple[Path, str]:
    """Data, store and a promoted champion in ``work``; returns (store, tracking URI)."""
    from scoring.store import build_store
    from synthetic.generator import generate
    from training.promote import promote
    from training.run import TrainConfig, train

    raw = ROOT / "benchmarks" / ".cache" / f"homecredit-{clients}"
    if not (raw / "application_train.csv").exists():
        generate(clients, seed=0, out_dir=raw)
    store = work / "features"
    build_store(raw, store)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    start = time.perf_counter()
    train(TrainConfig(store=store, trials=0, num_threads=2), say=lambda _: None)
    print(f"training without search on {clients:,} clients: {time.perf_counter() - start:.1f} s")
    promote(store)
    return store, uri


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()

    import mlflow

    from scoring.features import to_model_frame
    from scoring.request import pack_history
    from scoring.store import client_ids, read_clients
    from serving.client import ScoringClient, to_payload
    from serving.model import read_request

    with tempfile.TemporaryDirectory() as tmp:
        store, uri = prepare(args.clients, Path(tmp))
        ids = client_ids(store, "test")
        rows = read_clients(ids[:1000], store).drop(columns=["TARGET", "DATASET"])
        one = rows.head(1)

        model = mlflow.pyfunc.load_model("models:/credit-scoring@champion")
        python_model = model.unwrap_python_model()
        booster = python_model.booster
        frame = to_model_frame(one, booster.feature_name())
        packed = pack_history(one)
        matrix = python_model.layout.matrix(read_request(packed))
        bare_frame = timed(lambda: (booster.predict(frame, raw_score=True),
                                    booster.predict(frame, pred_contrib=True)), args.requests)
        bare_matrix = timed(lambda: (booster.predict(matrix, raw_score=True),
                                     booster.predict(matrix, pred_contrib=True)),
                            args.requests)
        in_process = timed(lambda: model.predict(packed, params={"top_k": 10}), args.requests)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with running(serve_command("models:/credit-scoring@champion", port), f"{url}/ping",
                     server_env(uri), Path(tmp) / "server.log") as proc:
            client = ScoringClient(url)
            body = to_payload(one, {"top_k": 10})
            session = requests.Session()
            headers = {"Content-Type": "application/json"}
            served = timed(lambda: session.post(f"{url}/invocations", data=body,
                                                headers=headers).raise_for_status(),
                           args.requests)
            batch = rows.head(1000)
            with_reasons = timed(lambda: client.score(batch, top_k=10), args.batches)
            without = timed(lambda: client.score(batch, explain="none"), args.batches)
            server = psutil.Process(proc.pid)
            rss = max((p.memory_info().rss for p in [server, *server.children(recursive=True)]),
                      default=0)

    ref50, ref95 = percentiles(bare_frame)
    print(f"\n/invocations, one client with top-10 reasons, {args.requests} requests")
    print(f"{'path':<44}{'p50 ms':>9}{'p95 ms':>9}{'x bare':>9}")
    for name, values in [("bare booster, pandas frame (reference)", bare_frame),
                         ("bare booster, float matrix", bare_matrix),
                         ("pyfunc predict in process", in_process),
                         ("served /invocations over HTTP", served)]:
        p50, p95 = percentiles(values)
        print(f"{name:<44}{p50:>9.2f}{p95:>9.2f}{p50 / ref50:>9.2f}")
    print(f"\n1,000-row batches, {args.batches} each")
    for name, values in [("with top-10 reasons", with_reasons), ("probability only", without)]:
        print(f"{name:<44}{1000 / statistics.median(values):>9,.0f} rows/s")
    print(f"\nmodel server peak RSS: {rss / 2**20:,.0f} MiB; "
          f"this process: {psutil.Process().memory_info().rss / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
