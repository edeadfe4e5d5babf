"""The users file: argon2id passwords, the older forms with a warning, rehash, disable; the
failed-login throttle."""

from __future__ import annotations

import hashlib
import json
import logging
import stat

import pytest

from decisions import users
from decisions.throttle import Throttle
from decisions.users import (
    ADVISOR,
    CLIENT,
    SUPERVISOR,
    User,
    UsersFile,
    UsersFileError,
    add_user,
    disable_user,
    list_users,
    load_users,
    rehash,
)

PASSWORD = "correct horse battery"


def test_add_verify_list_disable(tmp_path):
    path = tmp_path / "users.json"
    add_user(path, "alice", ADVISOR, PASSWORD)
    add_user(path, "sue", SUPERVISOR, PASSWORD + "!")
    add_user(path, "carla", CLIENT, "carla's own password", client_id=100002)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())["users"]
    assert stored["alice"]["password"].startswith("$argon2id$")
    assert PASSWORD not in path.read_text()
    assert stored["alice"]["password"] != stored["sue"]["password"]  # salted
    table = load_users(path)
    assert table.verify("alice", PASSWORD) == User("alice", ADVISOR)
    assert table.verify("alice", PASSWORD + "x") is None
    assert table.verify("nobody", PASSWORD) is None
    assert table.verify("carla", "carla's own password") == User("carla", CLIENT, 100002)
    assert [u.name for u in list_users(path)] == ["alice", "carla", "sue"]
    disable_user(path, "alice")
    assert load_users(path).verify("alice", PASSWORD) is None  # the cache does not help
    assert load_users(path).user("alice") is None
    assert [u.disabled for u in list_users(path)] == [True, False, False]


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "bob", "role": "boss"}, "role must be one of"),
    ({"name": "carl", "role": CLIENT}, "client needs an integer client_id"),
    ({"name": "ann", "role": ADVISOR, "client_id": 5}, "only a client has a client_id"),
    ({"name": "al", "role": ADVISOR, "password": "short"}, "at least 12"),
    ({"name": "alice", "role": ADVISOR}, "exists already"),
])
def test_bad_entries_are_named(tmp_path, change, message):
    path = tmp_path / "users.json"
    add_user(path, "alice", ADVISOR, PASSWORD)
    before = path.read_text()
    with pytest.raises(UsersFileError, match=message):
        add_user(path, **{"password": PASSWORD, **change})
    assert path.read_text() == before  # nothing lost


def test_a_broken_file_names_the_entry(tmp_path):
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": {"zoe": {"password": "x", "role": "king"}}}))
    with pytest.raises(UsersFileError, match=r"users\.zoe.*role"):
        load_users(path)
    path.write_text("{not json")
    with pytest.raises(UsersFileError, match="cannot read it as JSON"):
        load_users(path)


def test_older_forms_work_with_a_warning_and_rehash_moves_them(tmp_path, caplog):
    path = tmp_path / "users.json"
    digest = "sha256:" + hashlib.sha256(b"bob-password").hexdigest()
    path.write_text(json.dumps({"api_keys": {"ops": "plain-key"},
                                "advisors": {"bob": digest, "ann": "ann-plain-pw"}}))
    with caplog.at_level(logging.WARNING, "decisions.users"):
        table = load_users(path)
        assert table.verify("bob", "bob-password") == User("bob", ADVISOR)
        assert table.verify("ann", "ann-plain-pw") == User("ann", ADVISOR)
        assert table.verify("bob", "wrong") is None
    assert "advisors" in caplog.text and "scoring users rehash" in caplog.text
    assert table.api_key("plain-key").name == "ops" and table.api_key("other") is None
    assert sorted(rehash(path)) == ["ann", "bob"]
    data = json.loads(path.read_text())
    assert "advisors" not in data and data["api_keys"] == {"ops": "plain-key"}
    assert data["users"]["bob"]["password"].startswith(users.WRAPPED + "$argon2id$")
    assert data["users"]["ann"]["password"].startswith("$argon2id$")
    again = load_users(path)
    assert again.verify("bob", "bob-password") == User("bob", ADVISOR)
    assert again.verify("ann", "ann-plain-pw") == User("ann", ADVISOR)
    assert again.verify("ann", "wrong") is None
    assert rehash(path) == []


def test_api_keys_hashed_and_acting_right(tmp_path):
    path = tmp_path / "users.json"
    key = users.new_api_key()
    path.write_text(json.dumps({"api_keys": {
        "dashboard": {"key": users.hash_key(key), "role": "system", "act_for_users": True}}}))
    found = load_users(path).api_key(key)
    assert found.name == "dashboard" and found.act_for_users
    assert load_users(path).api_key(key[:-1] + "x") is None


def test_the_cache_spares_argon2_and_follows_the_file(tmp_path, monkeypatch):
    path = tmp_path / "users.json"
    add_user(path, "alice", ADVISOR, PASSWORD)
    table = load_users(path)
    assert table.verify("alice", PASSWORD)
    calls = []
    real = users._argon2_matches
    monkeypatch.setattr(users, "_argon2_matches", lambda *a: calls.append(a) or real(*a))
    assert table.verify("alice", PASSWORD) and calls == []  # from the cache
    assert table.verify("alice", "not the password") is None and len(calls) == 1
    add_user(path, "alice", ADVISOR, "a new password here", replace=True)
    assert load_users(path).verify("alice", PASSWORD) is None  # the old one is gone


def test_the_service_sees_a_changed_file(tmp_path, monkeypatch):
    path = tmp_path / "users.json"
    add_user(path, "alice", ADVISOR, PASSWORD)
    watched = UsersFile(path)
    clock = [1000.0]
    monkeypatch.setattr(users.time, "monotonic", lambda: clock[0])
    assert watched.current().user("alice")
    add_user(path, "bob", ADVISOR, PASSWORD)
    clock[0] += 2
    assert watched.current().user("bob")
    path.write_text("{broken")  # a bad edit: the last good users stay
    clock[0] += 2
    assert watched.current().user("bob")


def test_throttle_per_user_and_per_address():
    now = [0.0]
    t = Throttle(per_user=3, per_address=5, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert t.blocked(user="alice", address="10.0.0.1") == 0
        t.failed(user="alice", address="10.0.0.1")
    assert t.blocked(user="alice", address="10.0.0.9") == pytest.approx(60)
    assert t.blocked(user="bob", address="10.0.0.1") == 0
    t.failed(user="bob", address="10.0.0.1")
    t.failed(user="carl", address="10.0.0.1")
    assert t.blocked(user="dan", address="10.0.0.1") > 0  # the address tried 5 names
    now[0] = 61
    assert t.blocked(user="alice", address="10.0.0.1") == 0
    t.failed(user="alice")
    t.succeeded("alice")
    assert t.blocked(user="alice") == 0
