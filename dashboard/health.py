"""One health check of the model server per dashboard process, shared by every session.

Each session used to ping ``/ping`` from its own periodic callback, on the server's event
loop: with ten open sessions, ten blocking requests every few seconds delayed every page
being served. A daemon thread now pings once per period; a session's ``ServerStatus`` reads
the last answer (``healthy`` costs nothing).
"""

from __future__ import annotations

import threading
import time

from serving.client import ScoringClient


class SharedHealth:
    """The model server's last ``/ping`` answer, refreshed every ``seconds`` in a thread.

    Stands in for the scorer of ``dashboard.store.ServerStatus``, which only asks
    ``healthy()``."""

    def __init__(self, url: str, seconds: float, timeout: float) -> None:
        self.base_url = url
        self.seconds = seconds
        self._client = ScoringClient(url, timeout=timeout)
        self._ok = self._client.healthy()
        threading.Thread(target=self._run, daemon=True, name="dashboard-health").start()

    def healthy(self) -> bool:
        """Whether the server answered the last ping."""
        return self._ok

    def _run(self) -> None:
        while True:  # a daemon thread: it ends with the process
            time.sleep(self.seconds)
            self._ok = self._client.healthy()
