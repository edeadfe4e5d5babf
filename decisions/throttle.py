"""Failed logins counted per user name and per address over a sliding window: past the
limit a login is refused (429) until the oldest failure leaves the window."""

from __future__ import annotations

import threading
import time
from collections import deque


class Throttle:
    """At most ``per_user`` failures per user name and ``per_address`` per address in
    ``window`` seconds. In memory: one service process keeps its own counts."""

    def __init__(self, per_user: int = 5, per_address: int = 20, window: float = 300.0,
                 clock=time.monotonic) -> None:
        self.limits = {"user": per_user, "address": per_address}
        self.window = window
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, user: str | None, address: str | None) -> list[tuple[str, str]]:
        return [(kind, value) for kind, value in (("user", user), ("address", address))
                if value is not None]

    def blocked(self, user: str | None = None, address: str | None = None) -> float:
        """Seconds to wait before this user or address may try again (0: may try now)."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(user, address):
                times = self._failures.get(key)
                if not times:
                    continue
                while times and now - times[0] >= self.window:
                    times.popleft()
                if len(times) >= self.limits[key[0]]:
                    wait = max(wait, self.window - (now - times[0]))
        return wait

    def failed(self, user: str | None = None, address: str | None = None) -> None:
        """Count one failed login for this user and address."""
        now = self._clock()
        with self._lock:
            if len(self._failures) > 100_000:  # a flood of names: forget the old ones
                self._failures.clear()
            for key in self._keys(user, address):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, user: str) -> None:
        """A successful login clears the user's failures (not the address's)."""
        with self._lock:
            self._failures.pop(("user", user), None)
