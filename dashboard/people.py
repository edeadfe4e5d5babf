"""Who uses the dashboard: the person logged in (``pn.state.user``), their role in the
project's user file (``decisions.users``), and the throttle of failed logins.

The login itself is Panel's (``panel serve --auth-module dashboard/login.py``, or its generic
OAuth provider for the bank's OIDC); this module only reads the user file named by
``DASHBOARD_USERS_FILE``, again whenever it changes (``scoring users add/disable`` take effect
at the next page, without a restart).
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

from decisions.users import User, Users, load_users

USERS_ENV = "DASHBOARD_USERS_FILE"
LOGIN_ENV = "DASHBOARD_LOGIN"
#: The roles the dashboard serves, and what each one sees.
ADVISOR, SUPERVISOR, CLIENT = "advisor", "supervisor", "client"
#: Failed logins of one user name allowed in ``FAILURE_WINDOW`` seconds before a 429.
MAX_FAILURES = 5
FAILURE_WINDOW = 300.0


def users_file() -> Path | None:
    """The user file of ``DASHBOARD_USERS_FILE`` (None: no login configured)."""
    value = os.environ.get(USERS_ENV, "")
    return Path(value) if value else None


def login_enabled() -> bool:
    """True when people log in (``DASHBOARD_LOGIN`` is not ``none`` and a user file is
    set); without it the dashboard is the loopback development tool of one advisor."""
    return os.environ.get(LOGIN_ENV, "users") != "none" and users_file() is not None


@dataclass
class _Cached:
    mtime: float = -1.0
    users: Users | None = None


_cache = _Cached()
_lock = threading.Lock()


def current_users() -> Users | None:
    """The user file's accounts, read again when the file changed; None without one."""
    path = users_file()
    if path is None:
        return None
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    with _lock:
        if mtime != _cache.mtime:
            _cache.users, _cache.mtime = load_users(path), mtime
        return _cache.users


def person(name: str | None) -> User | None:
    """The enabled account named ``name`` (whoever logged in, by password or by OIDC)."""
    users = current_users()
    return users.user(name) if name and users is not None else None


def verify(name: str, password: str) -> User | None:
    """The account when the password is right and the account enabled."""
    users = current_users()
    return users.verify(name, password) if users is not None else None


class Throttle:
    """Failed logins per user name: after ``limit`` in ``window`` seconds, the name waits
    (nginx throttles per address, this per account: a loop over many addresses still
    stops)."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, name: str, now: float) -> deque[float]:
        times = self._failures[name]
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, name: str) -> bool:
        with self._lock:
            return len(self._recent(name, time.monotonic())) >= self.limit

    def failed(self, name: str) -> None:
        with self._lock:
            self._recent(name, time.monotonic()).append(time.monotonic())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)
