"""Who read which client's data: one row per read (person, role, the system that carried
it, client, what, UTC time) in ``access_log``, a table apart from the decision chain.

Reads are many (every score), so rows wait in memory and are written together, at most
``interval`` seconds later, by one thread; a query of the log writes the waiting rows
first, and so does the service's stop. A crash loses at most the last ``interval`` seconds.
"""

# no ``from __future__ import annotations``: reads_client's dependency is annotated with a
# value of its closure, which FastAPI could not resolve from a string.
import logging
import threading
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from decisions.auth import Caller, admitted, allow, own_client
from decisions.record import now
from decisions.tables import access_log as A
from scoring.rows import MAX_ID

log = logging.getLogger("decisions.access")
#: What a read may be of.
WHAT = ("score", "profile", "decisions", "letter", "data", "page")


@dataclass
class AccessFilters:
    """What ``GET /access`` selects (None: any)."""

    client_id: int | None = None
    person: str | None = None
    since: str | None = None
    until: str | None = None


class AccessLog:
    """Rows written in batches by a background thread (``start``/``stop``)."""

    def __init__(self, engine: Engine, interval: float = 0.5) -> None:
        self.engine, self.interval = engine, interval
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def add(self, at: str, person: str, role: str, via: str | None, client_id: int,
            what: str) -> None:
        """Note one read (written within ``interval`` seconds)."""
        with self._lock:
            self._pending.append({"at": at, "person": person, "role": role, "via": via,
                                  "client_id": client_id, "what": what})

    def flush(self) -> None:
        """Write the waiting rows now (kept for the next try if the database fails)."""
        with self._flush_lock:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(A), rows)
            except SQLAlchemyError as err:
                log.error("access log: %d rows not written yet (%s)", len(rows), err)
                with self._lock:
                    self._pending[:0] = rows

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def find(self, f: AccessFilters, limit: int = 100,
             offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """(number of matching reads, the page of them, newest first)."""
        self.flush()
        query = select(A)
        for column, value in ((A.c.client_id, f.client_id), (A.c.person, f.person)):
            if value is not None:
                query = query.where(column == value)
        if f.since is not None:
            query = query.where(A.c.at >= f.since)
        if f.until is not None:
            query = query.where(A.c.at < f.until)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            rows = conn.execute(query.order_by(A.c.id.desc()).limit(limit).offset(offset))
            return total, [dict(r) for r in rows.mappings()]


def reads_client(what: str, *roles: str):
    """A route dependency: the caller has one of ``roles`` (a client: their own id only),
    and the read of ``client_id``'s ``what`` is noted in the access log."""
    async def dependency(client_id: int, request: Request,  # cheap: on the event loop
                         caller: Annotated[Caller, Depends(allow(*roles))]) -> Caller:
        return note_read(request, caller, client_id, what, roles)

    dependency.__name__ = f"reads_{what}"
    return dependency


def note_read(request: Request, caller: Caller, client_id: int, what: str,
              roles: tuple[str, ...]) -> Caller:
    """``reads_client``'s checks and note, for a route that calls them itself."""
    admitted(caller, roles)
    own_client(caller, client_id)
    if not 0 <= client_id <= MAX_ID:  # names no client, and would not fit the log's column
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown client {client_id}")
    request.app.state.access.add(now(), caller.name, caller.role, caller.via, client_id, what)
    return caller
