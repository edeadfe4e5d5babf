"""The served model against the model's own cost, in one run: in-process ``predict``, served
p50, saturated throughput.

Builds a store from the real Home Credit samples (``--data``; generated data with
``--clients`` when the folder is absent), trains a champion without search in a temporary
MLflow store, serves it with the stock ``mlflow models serve`` (``--workers`` uvicorn
workers), then measures one client with a credit history and the top-10 reasons:

- in process: the body parsed as MLflow's scoring server parses it, then the
  ``PythonModel.predict`` of ``serving/model.py`` on it (wall p50, CPU seconds per call), and
  the whole in-process path (parse + ``PyFuncModel.predict``); the bare booster for scale;
- served p50: ``wrk`` with one connection, against the in-process ``predict``;
- saturated throughput: ``wrk`` with ``--connections`` (50), against the in-process ceiling
  (cores / CPU seconds of one ``predict``);
- a few hundred clients through the server equal to in-process; peak RSS of the server.

    .venv/bin/python benchmarks/bench_serving.py [--seconds 15] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import wrk  # noqa: E402

from testkit import free_port, running, server_env  # noqa: E402

#: The real samples beside the checkout (a worktree sits one folder deeper).
REAL_DATA = next((p / "shared" / "data" / "homecredit" for p in (ROOT.parent, ROOT.parents[1])
                  if (p / "shared" / "data" / "homecredit").is_dir()),
                 ROOT.parent / "shared" / "data" / "homecredit")
CORES = os.cpu_count() or 1


def timed(fn, n: int) -> tuple[float, float]:
    """(wall p50 in ms, CPU seconds per call) of ``n`` calls after a warm-up."""
    fn()
    walls, cpu = [], time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
    return float(np.median(walls) * 1000), (time.process_time() - cpu) / n


def prepare(data: Path, clients: int, work: Path) -> tuple[Path, str]:
    """Store and a promoted champion in ``work``; returns (store, tracking URI)."""
    from scoring.store import build_store
    from training.promote import promote
    from training.run import TrainConfig, train

    if not (data / "application_train.csv.gz").exists():
        from synthetic.generator import generate

        data = ROOT / "benchmarks" / ".cache" / f"homecredit-{clients}"
        if not (data / "application_train.csv").exists():
            generate(clients, seed=0, out_dir=data)
    store = work / "features"
    uri = f"sqlite:///{work / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    if (work / "champion").is_file():  # prepared by an earlier run with the same --work
        return store, uri
    build_store(data, store)
    start = time.perf_counter()
    train(TrainConfig(store=store, trials=0, num_threads=2), say=lambda _: None)
    print(f"data {data}; training without search: {time.perf_counter() - start:.0f} s",
          flush=True)
    promote(store)
    (work / "champion").touch()
    return store, uri


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by the server process and its workers."""
    server = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [server, *server.children(recursive=True)])


def server_input(model, body: str):
    """What MLflow's scoring server hands the model for ``body``: (data, params)."""
    from mlflow.pyfunc.scoring_server import _parse_json_data

    parsed = _parse_json_data(body, model.metadata, model.metadata.get_input_schema())
    return parsed.data, parsed.params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REAL_DATA)
    parser.add_argument("--clients", type=int, default=20_000, help="generated, without --data")
    parser.add_argument("--calls", type=int, default=300, help="in-process calls")
    parser.add_argument("--seconds", type=float, default=15.0, help="each wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=CORES, help="uvicorn workers")
    parser.add_argument("--compare", type=int, default=300, help="clients checked served")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--work", type=Path, help="keep the store and champion here (a "
                        "later run, or bench_decisions.py --start, reuses them)")
    args = parser.parse_args()

    import mlflow
    import requests

    from scoring.store import client_ids, read_clients
    from serving.client import ScoringClient, to_payload

    out: dict = {"cores": CORES, "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        store, uri = prepare(args.data, args.clients, args.work or Path(tmp))
        rows = read_clients(client_ids(store, "test")[:args.compare], store).drop(
            columns=["TARGET", "DATASET"])
        history = [c for c in rows.columns if c.startswith("BURO_")]
        one = rows[rows[history].notna().any(axis=1)].head(1)  # a client with a history
        body = to_payload(one, {"explain": "top-k", "top_k": 10})

        model = mlflow.pyfunc.load_model("models:/credit-scoring@champion")
        python_model = model.unwrap_python_model()
        data, params = server_input(model, body)
        booster, matrix = python_model.booster, None
        if hasattr(python_model, "layout"):
            from serving import model as served

            reader = served.read_request
            matrix = python_model.layout.matrix(reader(data))
        predict_ms, predict_cpu = timed(lambda: python_model.predict(None, data, params),
                                        args.calls)
        whole_ms, _ = timed(lambda: model.predict(*server_input(model, body)), args.calls)
        bare_ms = timed(lambda: (booster.predict(matrix, raw_score=True),
                                 booster.predict(matrix, pred_contrib=True)),
                        args.calls)[0] if matrix is not None else float("nan")
        ceiling = CORES / predict_cpu
        print(f"in process: predict p50 {predict_ms:.2f} ms, CPU {predict_cpu * 1000:.2f} ms; "
              f"parse + predict {whole_ms:.2f} ms; bare booster {bare_ms:.2f} ms", flush=True)

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m",
                   "models:/credit-scoring@champion", "--env-manager", "local",
                   "-h", "127.0.0.1", "-p", str(port), "--workers", str(args.workers)]
        with running(command, f"{url}/ping", server_env(uri), Path(tmp) / "server.log") as proc:
            session = requests.Session()
            for _ in range(20):  # every worker warm
                session.post(f"{url}/invocations", data=body,
                             headers={"Content-Type": "application/json"}).raise_for_status()
            single = wrk.run(f"{url}/invocations", 1, args.seconds, body)
            before = server_cpu(proc.pid)
            saturated = wrk.run(f"{url}/invocations", args.connections, args.seconds, body)
            cpu_used = server_cpu(proc.pid) - before
            print(f"wrk: one connection {single}\nwrk: saturated {saturated}", flush=True)
            served = ScoringClient(url, timeout=300).score(rows, top_k=10)
            server = psutil.Process(proc.pid)
            rss = sum(p.memory_info().rss for p in [server, *server.children(recursive=True)])
        local = python_model.predict(None, *server_input(
            model, to_payload(rows, {"explain": "top-k", "top_k": 10})))
    if isinstance(local, list):  # the model answers a list of objects with one
        local = {name: [row[name] for row in local] for name in ("probability", "reasons")}
    gap = max(abs(s.probability - p) for s, p in zip(served, local["probability"], strict=True))
    same_reasons = all(s.reasons == list(r) for s, r in zip(served, local["reasons"],
                                                             strict=True))
    out.update({
        "predict_in_process_p50_ms": round(predict_ms, 2),
        "predict_cpu_ms": round(predict_cpu * 1000, 2),
        "parse_and_predict_in_process_p50_ms": round(whole_ms, 2),
        "bare_booster_p50_ms": round(bare_ms, 2),
        "served_p50_ms": single.p50_ms, "served_p50_vs_predict": round(single.p50_ms
                                                                       / predict_ms, 2),
        "ceiling_per_second": round(ceiling, 1),
        "saturated_per_second": saturated.per_second,
        "saturated_vs_ceiling": round(saturated.per_second / ceiling, 3),
        "saturated_p50_ms": saturated.p50_ms, "saturated_p99_ms": saturated.p99_ms,
        "server_cpu_per_request_ms": round(1000 * cpu_used / max(saturated.requests, 1), 2),
        "server_cpu_vs_predict_cpu": round(cpu_used / max(saturated.requests, 1)
                                           / predict_cpu, 2),
        "cores_the_server_got": round(cpu_used / args.seconds, 2),
        "errors": single.errors + saturated.errors, "workers": args.workers,
        "connections": args.connections, "server_rss_mib": round(rss / 2**20),
        "compared_clients": len(served), "max_probability_gap": gap,
        "same_reasons": same_reasons, "load_after": os.getloadavg()[0]})
    print(f"\none client with a history, top-10 reasons; {CORES} cores, "
          f"{args.workers} uvicorn workers, load {out['load_before']:.1f}")
    print(f"{'in process':<48}{'p50 ms':>9}{'CPU ms':>9}")
    print(f"{'  PythonModel.predict (the reference)':<48}{predict_ms:>9.2f}"
          f"{predict_cpu * 1000:>9.2f}")
    print(f"{'  server parse + PyFuncModel.predict':<48}{whole_ms:>9.2f}")
    print(f"{'  bare booster (predict + pred_contrib)':<48}{bare_ms:>9.2f}")
    print(f"served (wrk, {args.seconds:g} s each)")
    print(f"  p50, one connection: {single.p50_ms:.2f} ms = "
          f"{out['served_p50_vs_predict']:.2f}x predict (goal <= 2)")
    print(f"  saturated, {args.connections} connections: {saturated.per_second:.0f}/s = "
          f"{out['saturated_vs_ceiling']:.0%} of the ceiling {ceiling:.0f}/s (goal >= 40%); "
          f"p50 {saturated.p50_ms:.0f} ms, p99 {saturated.p99_ms:.0f} ms, "
          f"{out['errors']} errors")
    print(f"  server CPU per request under load: {out['server_cpu_per_request_ms']:.2f} ms = "
          f"{out['server_cpu_vs_predict_cpu']:.2f}x the predict's CPU; the server got "
          f"{out['cores_the_server_got']:.2f} of {CORES} cores (machine load)")
    print(f"  {len(served)} clients served = in process: max probability gap {gap:.1e}, "
          f"same reasons {same_reasons}; server RSS {out['server_rss_mib']} MiB")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    _record(out, args)


def _record(out: dict, args: argparse.Namespace) -> None:
    """The run's figures as ``benchmarks/results/bench_serving.json`` (the docs' results page)."""
    from results import record

    rows = [
        {"measure": "PythonModel.predict in process, CPU per call (the reference)",
         "value": f"{out['predict_cpu_ms']:.2f} ms", "against the reference": "1.0x", "goal": ""},
        {"measure": "PythonModel.predict in process, p50",
         "value": f"{out['predict_in_process_p50_ms']:.2f} ms", "against the reference": "",
         "goal": ""},
        {"measure": "parse + PyFuncModel.predict in process, p50",
         "value": f"{out['parse_and_predict_in_process_p50_ms']:.2f} ms",
         "against the reference": "", "goal": ""},
        {"measure": "bare booster (predict + pred_contrib), p50",
         "value": f"{out['bare_booster_p50_ms']:.2f} ms", "against the reference": "",
         "goal": ""},
        {"measure": "served p50, one connection (wrk)", "value": f"{out['served_p50_ms']:.2f} ms",
         "against the reference": f"{out['served_p50_vs_predict']:.2f}x", "goal": "2x"},
        {"measure": f"server CPU per request, {out['connections']} connections",
         "value": f"{out['server_cpu_per_request_ms']:.2f} ms",
         "against the reference": f"{out['server_cpu_vs_predict_cpu']:.2f}x", "goal": ""},
        {"measure": f"saturated throughput, {out['connections']} connections",
         "value": f"{out['saturated_per_second']:.0f}/s of {out['ceiling_per_second']:.0f}/s",
         "against the reference": f"{out['saturated_vs_ceiling']:.0%}", "goal": "40 %"},
        {"measure": "saturated p50 / p99",
         "value": f"{out['saturated_p50_ms']:.0f} / {out['saturated_p99_ms']:.0f} ms",
         "against the reference": "", "goal": ""},
        {"measure": f"{out['compared_clients']} clients served = in process",
         "value": f"gap {out['max_probability_gap']:.1e}, same reasons {out['same_reasons']}",
         "against the reference": "", "goal": "gap 0"},
        {"measure": "errors", "value": out["errors"], "against the reference": "", "goal": 0},
        {"measure": f"server RSS ({out['workers']} workers)",
         "value": f"{out['server_rss_mib']} MiB", "against the reference": "", "goal": ""},
    ]
    notes = (f"One client with a credit history and the top-10 reasons; wrk {args.seconds:g} s "
             f"per run; the server got {out['cores_the_server_got']:.2f} of {out['cores']} "
             "cores. Ratios against the in-process predict (CPU), the saturated one against "
             "its ceiling (cores / CPU seconds of one predict).")
    record("bench_serving", rows, script=__file__, notes=notes)


if __name__ == "__main__":
    main()
