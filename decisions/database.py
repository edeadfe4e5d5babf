"""The database: engine, Alembic migrations at start-up, and the session dependency."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi import Request
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).with_name("alembic")
#: Execution option of a connection that will append to the record: SQLite then starts its
#: transaction with BEGIN IMMEDIATE (the write lock first, so the chain's head cannot move).
WRITE_LOCK = "decisions_write_lock"
#: PostgreSQL advisory lock held while migrating (the record's writers use another key).
MIGRATION_LOCK_KEY = 150016
#: The newest revision of ``alembic/versions`` (a test checks it is Alembic's head): a start
#: that finds it in the database leaves Alembic unloaded (about 10 MiB less to keep).
HEAD = "0003"


def make_engine(url: str, timeout: float = 10.0) -> Engine:
    """An engine for ``url``; for SQLite: the file's folder created, WAL journal, a busy
    timeout of ``timeout`` seconds and transactions begun explicitly (see WRITE_LOCK); for
    PostgreSQL: connecting and waiting for a lock (the record's writer lock included) give up
    after ``timeout`` seconds, so a blocked write fails instead of hanging."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, connect_args={
            "connect_timeout": max(1, round(timeout)),
            "options": f"-c lock_timeout={int(timeout * 1000)}"})
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        # pysqlite's own BEGIN handling is turned off so that ours (below) is the only one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        immediate = conn.get_execution_options().get(WRITE_LOCK)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest revision of ``decisions/alembic/versions``, one
    process at a time: under the database's write lock (SQLite) or an advisory
    lock (PostgreSQL), so services starting together do not create the tables twice."""
    if revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    connection = engine.connect().execution_options(**{WRITE_LOCK: True})
    with connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                               {"k": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def revision(engine: Engine) -> str | None:
    """The schema's revision in the database (None before the first migration)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def get_session(request: Request) -> Iterator[Session]:
    """A session on the application's engine, closed after the request (a dependency)."""
    with Session(request.app.state.engine) as session:
        yield session
