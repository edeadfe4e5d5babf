"""The read floor of the feature build: polars only reading, from every table, the columns
``scoring features`` needs (every application column, the side-table columns the features
use), through the build's own reader (``scoring.tables.scan_table``: the schema's types, no
inference), one table at a time, each parsed on every core. Nothing is computed or written.

    .venv/bin/python benchmarks/read_floor.py DATA_DIR     # prints one JSON line

``bench_features.py`` and ``bench_kernel.py`` run it in a child process. It imports neither
pandas nor numpy, so as a whole process (start-up included) it is the least any build of these
features from the same files can cost.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def needed_columns() -> dict[str, list[str]]:
    """The columns our path reads from each table: all of an application table (the store
    holds them), and the side-table columns without which a family's output changes."""
    from scoring import features as F
    from scoring.schema import TABLES
    from scoring.tables import polars_schema

    def empty(name: str) -> pl.LazyFrame:
        return pl.LazyFrame(schema=polars_schema(TABLES[name]))

    out = {name: TABLES[name].names for name in ("application_train", "application_test")}
    for family in F.FAMILIES.values():
        full = family.compute(*[empty(n) for n in family.tables]).collect_schema()
        for table in family.tables:
            out[table] = []
            for col in TABLES[table].names:
                inputs = [empty(n).drop(col) if n == table else empty(n) for n in family.tables]
                try:
                    same = family.compute(*inputs).collect_schema() == full
                except pl.exceptions.PolarsError:  # a column the query cannot do without
                    same = False
                if not same:
                    out[table].append(col)
    return out


def read_floor(data_dir: Path) -> dict:
    """Read the needed columns of every table; seconds, peak RSS, rows and columns read."""
    from scoring.tables import scan_table

    columns = needed_columns()
    t0 = time.perf_counter()
    rows = sum(scan_table(data_dir, name).select(cols).collect().height
               for name, cols in columns.items())
    return {"seconds": time.perf_counter() - t0, "rows": rows,
            "columns": sum(map(len, columns.values())),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


if __name__ == "__main__":
    print(json.dumps(read_floor(Path(sys.argv[1]))))
