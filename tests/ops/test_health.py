"""The health loop's restart rule (``ops.health.must_restart``), without any process."""

from __future__ import annotations

from ops.health import Watch, must_restart
from ops.settings import Settings


def _settings() -> Settings:
    return Settings(tracking_uri="sqlite:///unused.db", health_failures=3, health_grace=60.0)


def _info(pid: int = 100, started: float = 0.0, now: float = 1000.0,
          state: str = "RUNNING") -> dict:
    return {"name": "model-1", "pid": pid, "start": started, "now": now, "statename": state}


def test_restarts_after_the_configured_failures_in_a_row_only():
    s, watch = _settings(), Watch()
    assert must_restart(s, watch, _info(), True) is False  # answered once
    assert [must_restart(s, watch, _info(), False) for _ in range(3)] == [False, False, True]
    assert watch.failures["model-1"] == 0  # counting starts again after a restart


def test_an_answer_resets_the_count():
    s, watch = _settings(), Watch()
    must_restart(s, watch, _info(), True)
    for healthy in (False, False, True, False, False):
        assert must_restart(s, watch, _info(), healthy) is False


def test_a_starting_program_is_left_alone_during_the_grace_period():
    s, watch = _settings(), Watch()
    # never answered since it started 10 s ago (loading its model): not counted
    for _ in range(10):
        assert must_restart(s, watch, _info(now=10.0), False) is False
    # still silent after the grace period: counted, then restarted
    assert [must_restart(s, watch, _info(now=61.0), False) for _ in range(3)] == [
        False, False, True]


def test_a_new_process_gets_the_grace_period_again():
    s, watch = _settings(), Watch()
    must_restart(s, watch, _info(pid=100), True)
    # pid 200 is a new process (restarted by supervisord) that has not answered yet
    assert must_restart(s, watch, _info(pid=200, started=990.0, now=1000.0), False) is False
    assert watch.failures["model-1"] == 0


def test_stopped_or_unchecked_programs_are_never_restarted():
    s, watch = _settings(), Watch()
    watch.failures["model-1"] = 2
    assert must_restart(s, watch, _info(state="STARTING"), False) is False
    assert "model-1" not in watch.failures
    assert must_restart(s, watch, _info(), None) is False
