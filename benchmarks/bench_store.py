"""Feature-store lookup: Parquet (the chosen format) vs DuckDB, at Kaggle scale.

Builds store rows from a data folder (default: the real samples), tiles them with new ids up to
``--clients`` rows (356,255 = Kaggle train + test), writes them as the Parquet store and as a
DuckDB table with a primary key, then times:

- a cold lookup (new process state: open the file, read one client),
- warm lookups of 1 and 10 random clients (median of ``--repeats``),
- a full read of every client (what training does).

    .venv/bin/python benchmarks/bench_store.py [--data-dir DIR] [--clients 356255]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results import record  # noqa: E402  (benchmarks/ is this script's folder)

from scoring import features as F  # noqa: E402
from scoring import store  # noqa: E402
from scoring.tables import read_tables  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "homecredit"


def tiled_store_rows(data_dir: Path, clients: int) -> pl.DataFrame:
    """Store rows of ``data_dir``, repeated with shifted ids up to ``clients`` rows."""
    rows = F.build_features(read_tables(data_dir))
    copies = -(-clients // rows.height)
    step = int(rows[F.KEY].max()) + 1
    tiled = pl.concat([rows.with_columns(pl.col(F.KEY) + i * step) for i in range(copies)])
    return tiled.head(clients)


def duckdb_lookup(path: Path, ids: list[int]):
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"SELECT * FROM clients WHERE {F.KEY} IN ({','.join(map(str, ids))})"
                           ).df()


def write_duckdb(frame: pl.DataFrame, path: Path) -> None:
    import duckdb

    arrow = frame.to_arrow()  # noqa: F841 - read by DuckDB's replacement scan
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE clients AS SELECT * FROM arrow ORDER BY SK_ID_CURR")
        con.execute(f"CREATE UNIQUE INDEX clients_id ON clients ({F.KEY})")


def _median_ms(fn, ids_sets) -> float:
    times = []
    for ids in ids_sets:
        t0 = time.perf_counter()
        fn(ids)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def cold_ms(kind: str, path: Path, client: int) -> float:
    """One lookup in a fresh interpreter (imports excluded from the timing)."""
    out = subprocess.run([sys.executable, __file__, "--cold", kind, str(path), str(client)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def _cold(kind: str, path: str, client: str) -> None:
    t0 = time.perf_counter()
    if kind == "parquet":
        store.read_clients([int(client)], path)
    else:
        duckdb_lookup(Path(path), [int(client)])
    print((time.perf_counter() - t0) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REAL)
    parser.add_argument("--clients", type=int, default=356_255)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--cold", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold:
        _cold(*args.cold)
        return

    frame = tiled_store_rows(args.data_dir, args.clients)
    ids = frame[F.KEY].to_list()
    rng = random.Random(0)
    one = [[rng.choice(ids)] for _ in range(args.repeats)]
    ten = [rng.sample(ids, 10) for _ in range(args.repeats)]
    print(f"store: {frame.height:,} clients x {frame.width} columns")
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "clients.parquet"
        duck = Path(tmp) / "clients.duckdb"
        t0 = time.perf_counter()
        store.write_store(frame, parquet)
        write_parquet_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_duckdb(frame, duck)
        write_duck_s = time.perf_counter() - t0
        import duckdb

        def duck_full():
            with duckdb.connect(str(duck), read_only=True) as con:
                return con.execute("SELECT * FROM clients").df()

        results = {
            "parquet": dict(
                write_s=write_parquet_s, size_mb=parquet.stat().st_size / 2**20,
                cold_1_ms=cold_ms("parquet", parquet, one[0][0]),
                warm_1_ms=_median_ms(lambda i: store.read_clients(i, parquet), one),
                warm_10_ms=_median_ms(lambda i: store.read_clients(i, parquet), ten),
                full_read_s=_median_ms(lambda _: store.read_store(parquet), [0, 1]) / 1000),
            "duckdb": dict(
                write_s=write_duck_s, size_mb=duck.stat().st_size / 2**20,
                cold_1_ms=cold_ms("duckdb", duck, one[0][0]),
                warm_1_ms=_median_ms(lambda i: duckdb_lookup(duck, i), one),
                warm_10_ms=_median_ms(lambda i: duckdb_lookup(duck, i), ten),
                full_read_s=_median_ms(lambda _: duck_full(), [0, 1]) / 1000),
        }
    print(f"{'':10}" + "".join(f"{k:>13}" for k in results["parquet"]))
    for kind, res in results.items():
        print(f"{kind:10}" + "".join(f"{v:13.2f}" for v in res.values()))
    record("bench_store", [{"store": kind, **{k: round(v, 2) for k, v in res.items()}}
                           for kind, res in results.items()], script=__file__,
           notes=f"{frame.height:,} clients x {frame.width} columns tiled from "
           f"{args.data_dir.name}; warm lookups: median of {args.repeats}")


if __name__ == "__main__":
    main()
