"""The latest figures of each benchmark: one JSON file per benchmark in ``benchmarks/results/``.

A script ends with ``record("bench_x", rows, script=__file__)``; the documentation's
"Latest results" page shows each file's table with its machine and date. A run replaces the
file: earlier figures stay in git's history, not in prose.

    from results import markdown, record   # benchmarks/ is on sys.path when a script runs
    rows = [{"path": "served", "p50 ms": 12.8, "x bare": 1.67}]
    print(markdown(rows))
    record("bench_x", rows, script=__file__, notes="2 shared cores; quote the ratios")
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """What the figures were measured on: CPU, cores, memory, load average, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": f"{memory:.0f} GiB",
            "load average": round(os.getloadavg()[0], 1),
            "python": platform.python_version()}


def record(name: str, rows: list[dict], *, script: str, notes: str = "",
           machine_facts: dict | None = None, date: str | None = None, source: str = "",
           folder: Path = RESULTS) -> Path:
    """Write ``folder/<name>.json``: the rows (one dict per table row, column -> value), the
    script, the machine (``machine()`` unless given), the UTC date (now unless given), where
    the figures come from when they were not measured by this call, and a short note."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"benchmark name {name!r}: letters, digits and _ only")
    if not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{name}: rows must be a non-empty list of dicts")
    bad = [(k, v) for r in rows for k, v in r.items()
           if not isinstance(v, str | int | float | bool | None)]
    if bad:
        raise ValueError(f"{name}: column {bad[0][0]!r} holds {bad[0][1]!r}, not a number "
                         "or text")
    result = {"benchmark": name, "script": Path(script).name,
              "date": date or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": machine_facts or machine(), "source": source, "notes": notes,
              "rows": rows}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return path


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table (the columns of every row, in order of appearance)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (cell(row.get(c, "")) for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cell(value: object) -> str:
    """One table cell: thousands separated, floats to 4 significant digits."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, int) or abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    return " ".join(str(value).split()).replace("|", "\\|")
