"""The FastAPI application: ``create_app(settings)``; ``uvicorn --factory
decisions.app:create_app`` serves it with settings from the environment."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from decisions.access import AccessLog
from decisions.auth import Authenticated
from decisions.catalogue import load_catalogue
from decisions.checkpoint import Checkpointer
from decisions.config import Settings
from decisions.database import make_engine, migrate
from decisions.dependencies import Shared
from decisions.gateway import Gateway, ModelDown, Refused, UnknownClient
from decisions.metrics import Metrics, RouteMetrics
from decisions.recourse import load_rules
from decisions.routers import access, applications, client_data, clients, decisions
from decisions.throttle import Throttle


def create_app(settings: Settings | None = None) -> FastAPI:
    """The decision service; the database is migrated when it starts."""
    settings = settings or Settings.from_env()
    _log_to_stderr()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = make_engine(settings.db_url, settings.db_timeout)
        migrate(app.state.engine)
        app.state.checkpointer = Checkpointer(settings.key_path(), settings.checkpoint_path())
        app.state.access = AccessLog(app.state.engine)
        app.state.access.start()
        app.state.services.gateway.start_sharing()
        yield
        app.state.services.gateway.stop_sharing()
        app.state.access.stop()
        app.state.engine.dispose()

    app = FastAPI(title="Credit decisions", version="1", lifespan=lifespan,
                  description="Scores by client id through the model servers, principal "
                  "reasons, recourse, and the advisors' tamper-evident decision record.")
    app.state.settings = settings
    app.state.users = settings.users()
    app.state.throttle = Throttle(settings.login_failures_per_user,
                                  settings.login_failures_per_address, settings.login_window)
    app.state.metrics = Metrics()
    app.state.services = Shared(Gateway(settings), load_catalogue(), load_rules())
    app.add_middleware(RouteMetrics, metrics=app.state.metrics)
    for module in (clients, client_data, applications, decisions, access):
        app.include_router(module.router)
    _errors(app)

    @app.get("/health", tags=["service"])
    async def health() -> dict:
        """200 when the database answers, with whether the last model call got an answer.

        Runs on the event loop, not in the worker threads, and never waits for the model
        server: under load every worker thread may be waiting for it, and a health check
        that queued behind them would get a busy service restarted.
        """
        with app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        answered = app.state.services.gateway.model_answered
        return {"status": "ok", "model_server": {None: "unknown", True: "ok",
                                                 False: "failing"}[answered]}

    @app.get("/me", tags=["service"])
    def me(caller: Authenticated) -> dict:
        """Who the service takes the caller for: name, role, client id (a client) and the
        system that carried the request (``via``, when a system acts for a person)."""
        return asdict(caller)

    @app.get("/metrics", tags=["service"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(app.state.metrics.registry),
                        media_type=CONTENT_TYPE_LATEST)

    return app


#: Longest text of an error answer: an answer never echoes a large input.
DETAIL_CHARS = 500


def _short(text: str) -> str:
    return text if len(text) <= DETAIL_CHARS else f"{text[:DETAIL_CHARS]}... (cut)"


async def _invalid(_: Request, err: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 without the offending input (FastAPI echoes it whole: a 10 MB field came
    back in the answer): where, what and why only."""
    return JSONResponse({"detail": [{"type": e.get("type"), "loc": list(e.get("loc", ())),
                                     "msg": _short(str(e.get("msg", "")))}
                                    for e in err.errors()[:20]]},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _log_to_stderr() -> None:
    """The service's own messages (checkpoints, users file warnings) on stderr, which
    supervisord keeps in the service's log, unless logging was configured already."""
    ours = logging.getLogger("decisions")
    if not ours.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: "
                                               "%(message)s"))
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)


def _errors(app: FastAPI) -> None:
    def handler(code: int):
        async def handle(_: Request, err: Exception) -> JSONResponse:
            return JSONResponse({"detail": _short(str(err))}, status_code=code)
        return handle

    app.add_exception_handler(RequestValidationError, _invalid)

    app.add_exception_handler(UnknownClient, handler(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(Refused, handler(status.HTTP_422_UNPROCESSABLE_CONTENT))
    app.add_exception_handler(ModelDown, handler(status.HTTP_503_SERVICE_UNAVAILABLE))
