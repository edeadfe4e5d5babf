"""The decision record: append with a hash chain, read with filters, verify.

Each record's hash is the SHA-256 of its canonical JSON (every column but ``record_hash``,
the previous record's hash included), so changing, removing or reordering a record breaks
the chain from there on. Writers are serialised: a lock inside the process and, across
processes, the database's write lock taken before the chain's head is read (SQLite
``BEGIN IMMEDIATE``, PostgreSQL a transaction-level advisory lock).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, text
from sqlalchemy.orm import Session

from decisions.database import WRITE_LOCK
from decisions.tables import decision_records as T

GENESIS = "0" * 64
_FIELDS = [c.name for c in T.columns if c.name != "record_hash"]
_WRITER = threading.Lock()
#: PostgreSQL advisory lock a writer holds from reading the chain's head to its commit.
PG_LOCK_KEY = 150015


def now() -> str:
    """The current UTC time as stored: ISO 8601 with microseconds and a Z (sortable)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(value: Any) -> str:
    """JSON with sorted keys and no spaces: one text for one value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def record_hash(record: dict[str, Any]) -> str:
    """The hash of a record: SHA-256 of the canonical JSON of every field but its own hash."""
    return hashlib.sha256(canonical({k: record[k] for k in _FIELDS}).encode()).hexdigest()


def append(session: Session, entry: dict[str, Any]) -> dict[str, Any]:
    """Append ``entry`` (every field but id, recorded_at, previous_hash and record_hash) and
    commit; returns the stored record. Raises SQLAlchemyError when it was not stored."""
    with _WRITER:
        conn = session.connection(execution_options={WRITE_LOCK: True})
        try:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
            head = conn.execute(select(T.c.id, T.c.record_hash)
                                .order_by(T.c.id.desc()).limit(1)).first()
            record = {**entry, "id": head.id + 1 if head else 1, "recorded_at": now(),
                      "previous_hash": head.record_hash if head else GENESIS}
            record["record_hash"] = record_hash(record)
            conn.execute(insert(T).values(**record))
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return record


@dataclass
class Filters:
    """What ``GET /decisions`` selects (None: any)."""

    client_id: int | None = None
    advisor: str | None = None
    since: str | None = None  # ISO 8601 UTC, inclusive
    until: str | None = None  # exclusive
    overrides_only: bool = False


def _where(query: Select, f: Filters) -> Select:
    if f.client_id is not None:
        query = query.where(T.c.client_id == f.client_id)
    if f.advisor is not None:
        query = query.where(T.c.advisor == f.advisor)
    if f.since is not None:
        query = query.where(T.c.recorded_at >= f.since)
    if f.until is not None:
        query = query.where(T.c.recorded_at < f.until)
    if f.overrides_only:
        query = query.where(T.c.final_decision != T.c.model_decision)
    return query


def find(session: Session, f: Filters, limit: int = 100,
         offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """(number of matching records, the page of them, newest first)."""
    total = session.execute(_where(select(func.count()).select_from(T), f)).scalar_one()
    rows = session.execute(_where(select(T), f).order_by(T.c.id.desc())
                           .limit(limit).offset(offset)).mappings()
    return total, [dict(r) for r in rows]


def count(conn: Connection | Session) -> int:
    return conn.execute(select(func.count()).select_from(T)).scalar_one()


@dataclass
class Verification:
    """The chain check: how many records, the head, and the first broken record if any."""

    records: int
    head: str
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify(session: Session, batch: int = 2_000) -> Verification:
    """Walk the records in order and recompute the chain; names the first broken record."""
    expected_prev, expected_id, n = GENESIS, 1, 0
    for record in _walk(session, batch):
        n += 1
        problem = None
        if record["id"] != expected_id:
            problem = f"record {expected_id} is missing (the next one is {record['id']})"
        elif record["previous_hash"] != expected_prev:
            problem = ("previous_hash does not match the record before it (a record before "
                       "it was removed or replaced)")
        elif record_hash(record) != record["record_hash"]:
            problem = "its content does not match its hash (the record was altered)"
        if problem:
            return Verification(n, expected_prev, record["id"] if record["id"] == expected_id
                                else expected_id, problem)
        expected_prev, expected_id = record["record_hash"], expected_id + 1
    return Verification(n, expected_prev)


def _walk(session: Session, batch: int) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        rows = session.execute(select(T).where(T.c.id > last).order_by(T.c.id)
                               .limit(batch)).mappings().all()
        if not rows:
            return
        for row in rows:
            yield dict(row)
        last = rows[-1]["id"]
