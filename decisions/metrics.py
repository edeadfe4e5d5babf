"""Prometheus metrics of the service (``/metrics``): requests, latency, refusals, overrides,
and the process's own (memory, CPU, start time).

The counters live in the process: the service runs as one uvicorn process (``scoring up``
starts it with ``--workers 1``); several workers would each count their own requests.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send


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



class RouteMetrics:
    """ASGI middleware counting and timing every request under its route template
    (``/clients/{client_id}``). A plain ASGI wrapper: Starlette's ``BaseHTTPMiddleware``
    (``app.middleware("http")``) runs each request through an extra task and streams."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, sent)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)
            self.metrics.requests.labels(method, route, str(status)).inc()
