"""The decision record on a real PostgreSQL cluster (``DECISIONS_DB_URL``): the Alembic
migrations, the hash chain, the append-only guard, concurrent writers, and the service."""

from __future__ import annotations

import subprocess
import sys
import threading

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from decisions import record
from decisions.app import create_app
from decisions.database import HEAD, MIGRATIONS, make_engine, migrate
from tests.decisions.conftest import ALICE, SAM, SUE, acting_for, service_settings
from tests.decisions.postgres import OWNER
from tests.decisions.test_record import append_from_threads, entry

pytestmark = pytest.mark.server
GUARDS = {"decision_records_append_only", "decision_records_no_truncate"}


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _triggers(conn) -> set[str]:
    return set(conn.execute(text(
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND "
        "tgrelid = 'decision_records'::regclass")).scalars())


@pytest.fixture
def engine(pg_url):
    engine = make_engine(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


def test_migrations_up_down_and_up_again(pg_url):
    engine = make_engine(pg_url)
    migrate(engine)
    migrate(engine)  # a restart finds the schema current
    with engine.connect() as conn:
        assert _triggers(conn) == GUARDS
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    # the command-line path (alembic's env.py with sqlalchemy.url), as an operator runs it
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", pg_url)
    command.downgrade(config, "base")
    with engine.connect() as conn:
        assert "decision_records" not in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname = "
                                 "'decision_records_append_only'")).scalar() == 0
    command.upgrade(config, "head")
    with engine.connect() as conn:
        assert _triggers(conn) == GUARDS
    engine.dispose()


def test_the_chain_reads_back_exactly_and_edits_are_refused(engine, pg_url, postgres):
    with Session(engine) as session:
        stored = [record.append(session, entry(client_id=100000 + i, probability=1 / (3 + i)))
                  for i in range(5)]
        assert stored[1]["previous_hash"] == stored[0]["record_hash"]
        v = record.verify(session)
        assert v.ok and v.records == 5 and v.head == stored[-1]["record_hash"]
        _, rows = record.find(session, record.Filters())
    assert rows[::-1] == stored  # floats and text come back bit for bit: the hashes match
    for statement in ("UPDATE decision_records SET final_decision = 'granted' WHERE id = 3",
                      "DELETE FROM decision_records WHERE id = 3",
                      "TRUNCATE decision_records"):
        for user in (OWNER, "postgres"):  # the service's role, and even the superuser
            with (psycopg.connect(postgres.dsn(_database(pg_url), user)) as conn,
                  pytest.raises(psycopg.errors.RaiseException, match="append-only")):
                conn.execute(statement)
    with Session(engine) as session:
        assert record.verify(session).records == 5


def test_edits_behind_the_guard_are_named_by_verify(engine, pg_url, postgres):
    with Session(engine) as session:
        for i in range(5):
            record.append(session, entry(client_id=100000 + i))
    # the table's owner turns the guard off and edits, then removes, a record
    with psycopg.connect(postgres.dsn(_database(pg_url), OWNER), autocommit=True) as conn:
        conn.execute("ALTER TABLE decision_records DISABLE TRIGGER USER")
        conn.execute("UPDATE decision_records SET probability = 0.01 WHERE id = 4")
    with Session(engine) as session:
        v = record.verify(session)
    assert v.broken_id == 4 and "altered" in v.problem
    with psycopg.connect(postgres.dsn(_database(pg_url), OWNER), autocommit=True) as conn:
        conn.execute("DELETE FROM decision_records WHERE id = 2")
    with Session(engine) as session:
        v = record.verify(session)
    assert v.broken_id == 2 and "missing" in v.problem


def test_a_role_that_may_only_insert_runs_the_service_and_cannot_disable_the_guard(
        engine, pg_url, postgres):
    """The stricter set-up of the README: the owner migrates, the service's role only
    selects and inserts, so even with its password the guard cannot be turned off."""
    database = _database(pg_url)
    with psycopg.connect(postgres.dsn(database), autocommit=True) as conn:
        conn.execute("CREATE ROLE clerk LOGIN")
        conn.execute("GRANT SELECT, INSERT ON decision_records TO clerk")
        conn.execute("GRANT SELECT ON alembic_version TO clerk")
    clerk = make_engine(postgres.url(database, "clerk"))
    migrate(clerk)  # the schema is current: a start-up only reads the version
    with Session(clerk) as session:
        record.append(session, entry())
        assert record.verify(session).ok
    with psycopg.connect(postgres.dsn(database, "clerk"), autocommit=True) as conn:
        for statement in ("ALTER TABLE decision_records DISABLE TRIGGER USER",
                          "UPDATE decision_records SET advisor = 'mallory'",
                          "DROP TABLE decision_records"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    clerk.dispose()


def test_writers_in_several_processes_keep_one_chain(engine, pg_url):
    script = ("import sys; from sqlalchemy.orm import Session; from decisions import record;"
              "from decisions.database import make_engine;"
              "from tests.decisions.test_record import entry;"
              "e = make_engine(sys.argv[1]);"
              "[record.append(Session(e), entry(client_id=200000 + i)) for i in range(20)]")
    others = [subprocess.Popen([sys.executable, "-c", script, pg_url]) for _ in range(2)]

    append_from_threads(engine, 4)
    assert [p.wait(120) for p in others] == [0, 0]
    with Session(engine) as session:
        v = record.verify(session)
        assert v.ok and v.records == 80 == record.count(session)


def test_services_starting_together_migrate_once(pg_url):
    engines = [make_engine(pg_url) for _ in range(3)]
    errors: list[BaseException] = []

    def start(e) -> None:
        try:
            migrate(e)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engines[0].connect() as conn:
        assert _triggers(conn) == GUARDS
    for e in engines:
        e.dispose()


@pytest.fixture
def pg_service(system, model_server, pg_url, users_json, tmp_path):
    app = create_app(service_settings(pg_url, model_server, system.store, users_json,
                                      db_timeout=2.0, signing_key=str(tmp_path / "key"),
                                      checkpoint_file=str(tmp_path / "checkpoints.jsonl")))
    with TestClient(app) as client:
        yield client


def test_the_service_on_postgres(pg_service, scored_ids, pg_url, postgres):
    refused, granted = scored_ids["refused"][0], scored_ids["granted"][0]
    follow = pg_service.post(f"/clients/{refused}/decisions", json={"action": "follow"},
                             auth=ALICE)
    assert follow.status_code == 201, follow.text
    override = pg_service.post(f"/clients/{granted}/decisions", auth=("bob", "bob-pw"),
                               json={"action": "override", "reason_code": "DATA_ERROR",
                                     "reason_text": "income typed without a zero"})
    assert override.status_code == 201, override.text
    assert override.json()["previous_hash"] == follow.json()["record_hash"]
    codes: list[int] = []

    def post(cid: int) -> None:
        for _ in range(2):
            codes.append(pg_service.post(f"/clients/{cid}/decisions",
                                         json={"action": "follow"}, auth=ALICE).status_code)

    threads = [threading.Thread(target=post, args=(cid,))
               for cid in scored_ids["refused"][:3] + scored_ids["granted"][:3]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [201] * 12
    page = pg_service.get("/decisions", params={"overrides_only": True}, auth=SUE).json()
    assert page["total"] == 1 and page["decisions"][0]["advisor"] == "bob"
    verify = pg_service.get("/decisions/verify", auth=SUE).json()
    assert verify["ok"] and verify["records"] == 14

    with psycopg.connect(postgres.dsn(_database(pg_url)), autocommit=True) as conn:
        conn.execute("ALTER TABLE decision_records DISABLE TRIGGER USER")
        conn.execute("UPDATE decision_records SET final_decision = 'granted' WHERE id = 1")
    verify = pg_service.get("/decisions/verify", auth=SUE).json()
    assert verify["ok"] is False and verify["broken_id"] == 1 and "altered" in verify["problem"]


def test_a_blocked_write_is_503_never_201(pg_service, scored_ids, pg_url, postgres):
    cid = scored_ids["refused"][0]
    with psycopg.connect(postgres.dsn(_database(pg_url)), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (record.PG_LOCK_KEY,))  # a stuck writer
        answer = pg_service.post(f"/clients/{cid}/decisions", json={"action": "follow"},
                                 auth=ALICE)
        assert answer.status_code == 503 and "NOT stored" in answer.json()["detail"]
        assert pg_service.get("/decisions", auth=SUE).json()["total"] == 0
    again = pg_service.post(f"/clients/{cid}/decisions", json={"action": "follow"}, auth=ALICE)
    assert again.status_code == 201
    assert pg_service.get("/decisions/verify", auth=SUE).json()["records"] == 1


def test_people_four_eyes_checkpoints_and_access_on_postgres(pg_service, scored_ids, pg_url,
                                                              postgres):
    refused, granted = scored_ids["refused"][0], scored_ids["granted"][0]
    assert pg_service.get(f"/clients/{granted}/score?recourse=false",
                          headers=acting_for("alice")).status_code == 200
    override = pg_service.post(f"/clients/{granted}/decisions", headers=acting_for("alice"),
                               json={"action": "override", "reason_code": "DATA_ERROR",
                                     "reason_text": "income typed without a zero"})
    assert override.status_code == 201, override.text
    assert (override.json()["advisor"], override.json()["via"],
            override.json()["status"]) == ("alice", "dashboard", "pending")
    queue = pg_service.get("/decisions", params={"status": "pending"}, auth=SUE).json()
    assert [d["id"] for d in queue["decisions"]] == [override.json()["id"]]
    review = pg_service.post(f"/decisions/{override.json()['id']}/review", auth=SAM,
                             json={"verdict": "confirm", "comment": "payslips seen"})
    assert review.status_code == 201 and review.json()["review_of"] == override.json()["id"]
    for _ in range(2):
        assert pg_service.post(f"/clients/{refused}/decisions", json={"action": "follow"},
                               auth=ALICE).status_code == 201
    verify = pg_service.get("/decisions/verify", auth=SUE).json()
    assert verify["ok"] and verify["records"] == 4 and verify["checkpoint"]["records"] == 4
    reads = pg_service.get("/access", params={"client_id": granted}, auth=SUE).json()["reads"]
    assert [(r["person"], r["via"], r["what"]) for r in reads] == [
        ("alice", "dashboard", "score")]

    # the table's owner turns the guard off and deletes the newest two records
    with psycopg.connect(postgres.dsn(_database(pg_url), OWNER), autocommit=True) as conn:
        conn.execute("ALTER TABLE decision_records DISABLE TRIGGER USER")
        conn.execute("DELETE FROM decision_records WHERE id >= 3")
    verify = pg_service.get("/decisions/verify", auth=SUE).json()
    assert not verify["ok"] and (verify["missing_from"], verify["missing_to"]) == (3, 4)
    cut = pg_service.post(f"/clients/{refused}/decisions", json={"action": "follow"},
                          auth=ALICE)
    assert cut.status_code == 503 and "missing" in cut.json()["detail"]
