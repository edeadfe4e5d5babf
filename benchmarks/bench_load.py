"""Load test of the running services: concurrent clients on /invocations and the dashboard.

Each model client posts one application per request (explained: top 10 reasons) in a loop on
its own keep-alive session; each dashboard client loads the app page, then waits ``--think``
seconds as a person would. Reports, per target: requests, errors, p50 / p95 / p99 latency and
throughput. Targets must be local (loopback); every loop stops after ``--seconds``.

    scoring up
    python benchmarks/bench_load.py --seconds 60 --clients 50 --dashboard-clients 10

The tests (``tests/ops``) run a short bounded version through ``testkit.run_load``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from results import record  # noqa: E402  (benchmarks/ is this script's folder)

from scoring.names import DEFAULT_STORE  # noqa: E402
from testkit import payloads, run_load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5001", help="model URL (nginx)")
    parser.add_argument("--dashboard-url", default="http://127.0.0.1:5006/app")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--dashboard-clients", type=int, default=10)
    parser.add_argument("--think", type=float, default=1.0,
                        help="pause of a dashboard client between page loads, seconds")
    parser.add_argument("--store", default=DEFAULT_STORE, help="feature store folder")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = run_load(args.url, payloads(args.store), args.seconds, args.clients,
                       args.dashboard_url, args.dashboard_clients, args.think)
    print(f"{'target':<12}{'clients':>8}{'requests':>10}{'errors':>8}{'p50 ms':>9}"
          f"{'p95 ms':>9}{'p99 ms':>9}{'req/s':>8}")
    for r in results:
        print(f"{r.name:<12}{r.clients:>8}{r.requests:>10}{r.errors:>8}{r.p50_ms:>9.0f}"
              f"{r.p95_ms:>9.0f}{r.p99_ms:>9.0f}{r.per_second:>8.1f}")
        for sample in r.error_samples:
            print(f"    {sample}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    record("bench_load", [{"target": r.name, "clients": r.clients, "requests": r.requests,
                           "errors": r.errors, "p50 ms": round(r.p50_ms),
                           "p95 ms": round(r.p95_ms), "p99 ms": round(r.p99_ms),
                           "per s": round(r.per_second, 1)} for r in results],
           script=__file__, notes=f"{args.seconds:.0f} s against {args.url} and "
           f"{args.dashboard_url}; dashboard clients pause {args.think} s between pages")


if __name__ == "__main__":
    main()
