"""decisions/record.py on a real SQLite file: the hash chain, tampering, concurrent writers."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import threading

import pytest
from sqlalchemy.orm import Session

from decisions import record
from decisions.database import make_engine, migrate


def entry(client_id: int = 100001, **changes) -> dict:
    base = {"client_id": client_id, "inputs_hash": "ab" * 32, "model_name": "credit-scoring",
            "model_version": "3", "model_alias": "champion", "threshold": 0.12,
            "probability": 0.3141592653589793, "model_decision": "refused",
            "reasons": record.canonical([{"group": "credit_amount", "contribution": 0.4}]),
            "catalogue_version": "1", "advisor": "alice", "final_decision": "refused",
            "override_reason_code": None, "override_reason_text": None}
    return {**base, **changes}


def append_many(engine, n: int, first: int = 100000) -> None:
    """Append ``n`` records, one session, clients ``first``, ``first + 1``, ..."""
    with Session(engine) as session:
        for i in range(n):
            record.append(session, entry(client_id=first + i))


def append_from_threads(engine, threads: int, each: int = 10) -> None:
    """``threads`` threads appending ``each`` records at once, each with its own session."""
    workers = [threading.Thread(target=append_many, args=(engine, each, k * 100))
               for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

@pytest.fixture
def db(tmp_path):
    path = tmp_path / "decisions.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    yield path, engine
    engine.dispose()


def test_records_chain_and_verify(db):
    _, engine = db
    with Session(engine) as session:
        first = record.append(session, entry())
        second = record.append(session, entry(client_id=100002, final_decision="granted",
                                               override_reason_code="DATA_ERROR",
                                               override_reason_text="income typo"))
        assert first["previous_hash"] == record.GENESIS
        assert second["previous_hash"] == first["record_hash"]
        assert record.verify(session).ok
        total, rows = record.find(session, record.Filters(overrides_only=True))
        assert total == 1 and rows[0]["id"] == 2


def test_an_edited_row_is_named_by_verify(db):
    path, engine = db
    append_many(engine, 5)
    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE decision_records SET final_decision='granted' WHERE id=3")
        # someone with the file removes the guard and edits a record
        conn.execute("DROP TRIGGER decision_records_no_update")
        conn.execute("UPDATE decision_records SET final_decision='granted' WHERE id=3")
    with Session(engine) as session:
        v = record.verify(session)
    assert not v.ok and v.broken_id == 3 and "altered" in v.problem


def test_a_deleted_row_is_named_by_verify(db):
    path, engine = db
    append_many(engine, 4)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER decision_records_no_delete")
        conn.execute("DELETE FROM decision_records WHERE id=2")
    with Session(engine) as session:
        v = record.verify(session)
    assert v.broken_id == 2 and "missing" in v.problem


def test_concurrent_writers_keep_one_chain(db, tmp_path):
    path, engine = db
    # another process appends at the same time as this one's threads
    script = ("import sys; from sqlalchemy.orm import Session; from decisions import record;"
              "from decisions.database import make_engine;"
              "from tests.decisions.test_record import entry;"
              "e = make_engine(sys.argv[1]);"
              "[record.append(Session(e), entry(client_id=200000 + i)) for i in range(30)]")
    other = subprocess.Popen([sys.executable, "-c", script, f"sqlite:///{path}"])

    append_from_threads(engine, 6)
    assert other.wait(120) == 0
    with Session(engine) as session:
        v = record.verify(session)
        assert v.ok and v.records == 90 == record.count(session)


def test_head_is_alembics_and_a_current_schema_leaves_alembic_unloaded(db, tmp_path):
    from alembic.script import ScriptDirectory

    from decisions.database import HEAD, MIGRATIONS, revision

    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == HEAD
    path, engine = db
    assert revision(engine) == HEAD
    script = ("import sys; from decisions.database import make_engine, migrate;"
              "migrate(make_engine(sys.argv[1])); print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script, f"sqlite:///{path}"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False"]


def test_records_written_before_revision_0003_keep_their_hashes(tmp_path):
    """The columns 0003 adds are hashed only when set: a record of revision 0002 (and one
    written before the upgrade) verifies the same after it."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from decisions.database import HEAD, MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0002")
    old = {**entry(), "id": 1, "recorded_at": record.now(), "previous_hash": record.GENESIS}
    # the hash as revision 0002's code computed it: every column of that table but its own
    record_hash = hashlib.sha256(record.canonical(old).encode()).hexdigest()
    old["record_hash"] = record_hash
    columns = ", ".join(old)
    with sqlite3.connect(tmp_path / "old.db") as conn:  # as the 0002 code wrote it
        conn.execute(f"INSERT INTO decision_records ({columns}) VALUES "
                     f"({', '.join('?' * len(old))})", list(old.values()))
    engine = make_engine(url)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    with Session(engine) as session:
        new = record.append(session, entry(client_id=100002, via="dashboard"))
        assert new["previous_hash"] == record_hash
        v = record.verify(session)
        assert v.ok and v.records == 2
        stored = record.get(session, 1)
        assert stored["via"] is None and record.record_hash(stored) == record_hash
    engine.dispose()


def test_downgrading_0003_on_sqlite_keeps_the_append_only_guard(tmp_path):
    from alembic import command
    from alembic.config import Config

    from decisions.database import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{tmp_path / 'd.db'}")
    command.upgrade(config, "head")
    command.downgrade(config, "0002")  # SQLite copies the table to drop columns
    with sqlite3.connect(tmp_path / "d.db") as conn:
        triggers = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert triggers == {"decision_records_no_update", "decision_records_no_delete"}
        assert "via" not in {r[1] for r in conn.execute("PRAGMA table_info(decision_records)")}
