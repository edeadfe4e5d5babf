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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, text
from sqlalchemy.orm import Session

from decisions.database import WRITE_LOCK
from decisions.tables import decision_records as T

GENESIS = "0" * 64
#: Columns added after the first records: hashed only when set, so older records keep theirs.
OPTIONAL = ("via", "needs_review", "review_of", "verdict", "review_comment")
_FIELDS = [c.name for c in T.columns if c.name != "record_hash" and c.name not in OPTIONAL]
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
    """The hash of a record: SHA-256 of the canonical JSON of every field but its own hash
    (the OPTIONAL fields only when set)."""
    fields = {k: record[k] for k in _FIELDS}
    fields.update({k: record[k] for k in OPTIONAL if record.get(k) is not None})
    return hashlib.sha256(canonical(fields).encode()).hexdigest()


def append(session: Session, entry: dict[str, Any],
           check: Callable[[Connection], None] | None = None,
           after: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Append ``entry`` (every field but id, recorded_at, previous_hash and record_hash) and
    commit; returns the stored record. ``check(connection)`` runs under the writers' lock
    before the write (it raises to refuse it); ``after(record)`` runs once it is committed,
    still under the lock (the chain's checkpoint). Raises SQLAlchemyError when it was not
    stored."""
    with _WRITER:
        conn = session.connection(execution_options={WRITE_LOCK: True})
        try:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
            if check is not None:
                check(conn)
            head = chain_head(conn)
            record = {**{k: None for k in OPTIONAL}, **entry,
                      "id": head.id + 1 if head else 1, "recorded_at": now(),
                      "previous_hash": head.record_hash if head else GENESIS}
            record["record_hash"] = record_hash(record)
            conn.execute(insert(T).values(**record))
            session.commit()
        except BaseException:
            session.rollback()
            raise
        if after is not None:
            after(record)
    return record


def chain_head(conn: Connection | Session):
    """The last record's (id, record_hash), or None when the record is empty."""
    return conn.execute(select(T.c.id, T.c.record_hash).order_by(T.c.id.desc()).limit(1)).first()


@dataclass
class Filters:
    """What ``GET /decisions`` selects (None: any)."""

    client_id: int | None = None
    advisor: str | None = None
    since: str | None = None  # ISO 8601 UTC, inclusive
    until: str | None = None  # exclusive
    overrides_only: bool = False
    #: an override's four-eyes state: pending, confirmed or rejected (STATUSES)
    status: str | None = None


#: The states of an override under four eyes (``GET /decisions?status=``).
STATUSES = ("pending", "confirmed", "rejected")
_VERDICT = {"confirmed": "confirm", "rejected": "reject"}


def _reviewed(verdict: str | None = None):
    """EXISTS a review of the outer record (with this verdict)."""
    r = T.alias("review")
    query = select(r.c.id).where(r.c.review_of == T.c.id)
    if verdict is not None:
        query = query.where(r.c.verdict == verdict)
    return query.exists()


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
        query = query.where(T.c.final_decision != T.c.model_decision, T.c.review_of.is_(None))
    if f.status == "pending":
        query = query.where(T.c.needs_review.is_(True), ~_reviewed())
    elif f.status in _VERDICT:
        query = query.where(_reviewed(_VERDICT[f.status]))
    return query


def reviews_of(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The review record of each of these overrides that has one, by the override's id."""
    if not ids:
        return {}
    rows = session.execute(select(T).where(T.c.review_of.in_(ids))).mappings()
    return {r["review_of"]: dict(r) for r in rows}


def get(conn: Connection | Session, record_id: int) -> dict[str, Any] | None:
    """One record by id, or None."""
    row = conn.execute(select(T).where(T.c.id == record_id)).mappings().first()
    return dict(row) if row else None


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
    #: Records the last checkpoint counted that the chain no longer has (first, last).
    missing: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None and self.missing is None and self.problem is None


def verify(session: Session, batch: int = 2_000) -> Verification:
    """Walk the records in order and recompute the chain; names the first broken record."""
    return check_chain(_walk(session, batch))


def check_chain(records: Iterable[dict[str, Any]]) -> Verification:
    """Recompute the chain over ``records`` (in id order); names the first broken one."""
    expected_prev, expected_id, n = GENESIS, 1, 0
    for record in records:
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
