"""Prometheus metrics of the service (``/metrics``): requests, latency, refusals, overrides,
and the process's own (memory, CPU, start time).

The counters live in the process: the service runs as one uvicorn process (``scoring up``
starts it with ``--workers 1``); several workers would each count their own requests.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector


class Metrics:
    """The service's metrics, on their own registry (one per application)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # resident memory, CPU seconds, and the start time (which tells a restart, after
        # which the counters begin again at 0)
        ProcessCollector(registry=self.registry)
        self.requests = Counter("decisions_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("decisions_http_request_duration_seconds",
                                 "Time to answer a request", ["method", "route"],
                                 registry=self.registry,
                                 buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.scores = Counter("decisions_scores", "Applications scored, by model decision",
                              ["decision"], registry=self.registry)
        self.refusals = Counter("decisions_refusals", "Applications the model refused",
                                registry=self.registry)
        self.decisions = Counter("decisions_recorded", "Final decisions stored",
                                 ["final_decision"], registry=self.registry)
        self.overrides = Counter("decisions_overrides", "Decisions overriding the model, "
                                 "by reason code", ["reason_code"], registry=self.registry)
        self.reviews = Counter("decisions_reviews", "Supervisors' reviews of overrides (four "
                               "eyes), by verdict", ["verdict"], registry=self.registry)
        self.logins = Counter("decisions_login_refusals", "Logins refused: a wrong name, "
                              "password or key (failed), or too many failures (throttled)",
                              ["outcome"], registry=self.registry)

    def scored(self, decision: str) -> None:
        self.scores.labels(decision).inc()
        if decision == "refused":
            self.refusals.inc()

    async def middleware(self, request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Count and time every request under its route template (``/clients/{client_id}``)."""
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", "unmatched")
            self.latency.labels(request.method, route).observe(time.perf_counter() - start)
            self.requests.labels(request.method, route, str(status)).inc()
