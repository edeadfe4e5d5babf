"""A supervisor's extract of the decision record, verifiable offline.

``export(engine, out, checkpointer)`` writes every record, in id order, to ``out`` (``.csv`` or
``.parquet``) and, beside it, ``out`` + ``.checkpoint.json``: a checkpoint of the chain's head
signed now, the signing key's public half (PEM) and the file's SHA-256. ``verify_export``
needs nothing else: it recomputes each record's hash and the chain, and checks that the
checkpoint was signed by that key over this exact head. Pin the key with ``public_key``
(the fingerprint ``key_id`` printed by ``scoring decisions keygen`` and at each export),
or a forger could sign a forged extract with a key of their own.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Integer
from sqlalchemy.orm import Session

from decisions import checkpoint, record
from decisions.tables import decision_records as T

FORMATS = (".csv", ".parquet")
COLUMNS = [c.name for c in T.columns]


class ExportError(ValueError):
    """An extract cannot be written or read; the message names the file."""


@dataclass
class ExportCheck:
    """What the offline check found."""

    ok: bool
    records: int
    key_id: str
    problem: str | None = None
    broken_id: int | None = None


def sidecar(out: str | Path) -> Path:
    """The checkpoint file beside an extract."""
    return Path(f"{out}.checkpoint.json")


def _format(path: Path) -> str:
    if path.suffix not in FORMATS:
        raise ExportError(f"{path}: the extract is written as .csv or .parquet, not "
                          f"{path.suffix or 'a file without suffix'!r}")
    return path.suffix


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export(engine: Engine, out: str | Path, checkpointer: checkpoint.Checkpointer
           ) -> tuple[checkpoint.Checkpoint, int]:
    """Write every record to ``out`` and its signed checkpoint beside it; (checkpoint,
    records). ExportError when the chain is broken or shorter than its last checkpoint."""
    out = Path(out)
    kind = _format(out)
    with Session(engine) as session:
        v = checkpoint.against(record.verify(session), checkpointer.last, checkpointer.public,
                               lambda i: (record.get(session, i) or {}).get("record_hash"))
        if not v.ok:
            raise ExportError(f"the record does not verify, nothing exported: {v.problem}")
        rows = list(record._walk(session, 2_000))
    out.parent.mkdir(parents=True, exist_ok=True)
    (_write_csv if kind == ".csv" else _write_parquet)(rows, out)
    cp = checkpointer.write(v.records, v.head)
    sidecar(out).write_text(json.dumps({
        "checkpoint": json.loads(cp.to_json()),
        "public_key": checkpoint.public_pem(checkpointer.public),
        "file": out.name, "sha256": _sha256(out), "columns": COLUMNS}, indent=2) + "\n")
    return cp, len(rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same float
    return str(value)


def _write_csv(rows: list[dict[str, Any]], out: Path) -> None:
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_cell(row[c]) for c in COLUMNS])


def _arrow_schema():
    import pyarrow as pa

    kinds = {"INTEGER": pa.int64(), "BIGINT": pa.int64(), "FLOAT": pa.float64(),
             "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}
    return pa.schema([(c.name, kinds.get(str(c.type).split("(")[0], pa.string()))
                      for c in T.columns])


def _write_parquet(rows: list[dict[str, Any]], out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=_arrow_schema()), out)


def _parse(column: str, text: str) -> Any:
    """A CSV cell back to the value that was hashed."""
    if text == "":
        return None
    kind = T.c[column].type
    if isinstance(kind, Integer):
        return int(text)
    name = str(kind).split("(")[0]
    if name in ("FLOAT", "DOUBLE"):
        return float(text)
    if name == "BOOLEAN":
        return text == "true"
    return text


def read_extract(path: str | Path) -> Iterator[dict[str, Any]]:
    """The records of an extract, as they were hashed."""
    path = Path(path)
    if _format(path) == ".parquet":
        import pyarrow.parquet as pq

        yield from pq.read_table(path).to_pylist()
        return
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != COLUMNS:
            raise ExportError(f"{path}: the columns are not those of the decision record "
                              f"({', '.join(COLUMNS)})")
        for line in reader:
            yield {c: _parse(c, v) for c, v in zip(COLUMNS, line, strict=True)}


def verify_export(path: str | Path, public_key: str | None = None) -> ExportCheck:
    """Check an extract offline with its ``.checkpoint.json``: the chain of its records and
    the signed checkpoint of its head (by ``public_key``, a PEM, when given)."""
    path = Path(path)
    try:
        meta = json.loads(sidecar(path).read_text())
        cp = checkpoint.Checkpoint.from_json(json.dumps(meta["checkpoint"]))
        public = checkpoint.load_public(public_key or meta["public_key"])
    except (OSError, ValueError, KeyError) as err:
        raise ExportError(f"{sidecar(path)}: cannot read the extract's checkpoint "
                          f"({err})") from None
    kid = checkpoint.key_id(public)

    def failed(problem: str, records: int = 0, broken: int | None = None) -> ExportCheck:
        return ExportCheck(False, records, kid, problem, broken)

    if public_key and checkpoint.key_id(checkpoint.load_public(meta["public_key"])) != kid:
        return failed(f"the extract was signed with another key "
                      f"({meta['checkpoint'].get('key_id')}) than the one given ({kid})")
    if _sha256(path) != meta.get("sha256"):
        return failed(f"{path.name}: its SHA-256 is not the one written at export (the "
                      "file was changed)")
    v = record.check_chain(read_extract(path))
    if not v.ok:
        return failed(v.problem or "broken chain", v.records, v.broken_id)
    if not checkpoint.signature_ok(public, cp):
        return failed("the checkpoint's signature does not match the key", v.records)
    if (v.records, v.head) != (cp.records, cp.head):
        return failed(f"the extract ends at record {v.records} but its checkpoint signed "
                      f"{cp.records} records ending with {cp.head[:12]}…", v.records,
                      v.records + 1 if v.records < cp.records else None)
    return ExportCheck(True, v.records, kid)
