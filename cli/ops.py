"""Operations commands: the always-on services (up, status, down), the zero-downtime model
switch (reload) and the systemd units."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Host, RunDir, fail, sub_app
from ops.settings import Settings
from scoring.names import (
    DASHBOARD_PORT,
    DECISIONS_PORT,
    DEFAULT_DECISIONS_DB_URL,
    DEFAULT_MODEL_URL,
    MODEL_PORT,
    TRACKING_PORT,
)

app = sub_app("Operations: run the services, switch models, install systemd units.")


def _settings(run_dir: Path, host: str, tracking_port: int, model_port: int,
              dashboard_port: int, store: Path, prediction_log: str, workers: int,
              model_nice: int = 10, decisions_port: int = DECISIONS_PORT,
              decisions_db: str = DEFAULT_DECISIONS_DB_URL, small: bool = False) -> Settings:
    """Services settings from the command line; the tracking store as `scoring train` uses."""
    from training import track

    uri = os.environ.get("MLFLOW_TRACKING_URI") or track.default_store()
    return Settings(tracking_uri=uri, run_dir=str(run_dir.resolve()), host=host,
                    tracking_port=tracking_port, model_port=model_port,
                    replica_ports=(model_port + 10, model_port + 11),
                    dashboard_port=dashboard_port, store=str(store.resolve()),
                    prediction_log=str(Path(prediction_log).resolve()) if prediction_log
                    else None, workers=workers, model_nice=model_nice,
                    replicas=1 if small else 2, tracking_ui=not small,
                    decisions_port=decisions_port, decisions_backend_port=decisions_port + 10,
                    decisions_db=_absolute_sqlite(decisions_db))


def _absolute_sqlite(url: str) -> str:
    """A relative SQLite path made absolute (the services run from the repository)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return f"sqlite:///{Path(url.removeprefix('sqlite:///')).resolve()}"
    return url


def _print_status(states) -> None:
    typer.echo(f"{'service':<12}{'state':<10}{'health':<9}{'pid':>8}{'uptime':>9}  url")
    for st in states:
        uptime = f"{st.uptime:.0f} s" if st.uptime is not None else "-"
        typer.echo(f"{st.name:<12}{st.state:<10}{st.health:<9}{st.pid or '-':>8}{uptime:>9}  "
                   f"{st.url} {st.detail}".rstrip())


@app.command()
def up(
    run_dir: RunDir = Path("run"),
    host: Annotated[str, typer.Option(help="Interface every service binds to.")
                    ] = "127.0.0.1",
    tracking_port: Annotated[int, typer.Option(help="MLflow tracking UI port.")] = TRACKING_PORT,
    model_port: Annotated[int, typer.Option(
        help="Model URL (nginx); the two replicas use this port + 10 and + 11.")] = MODEL_PORT,
    dashboard_port: Annotated[int, typer.Option(help="Dashboard port.")] = DASHBOARD_PORT,
    store: Annotated[Path, typer.Option(help="Feature store folder.")] = Path("data/features"),
    prediction_log: Annotated[str, typer.Option(
        help="Folder of the prediction log ('' to turn it off).")] = "data/predictions",
    workers: Annotated[int, typer.Option(min=1, help="uvicorn workers per replica.")] = 1,
    model_nice: Annotated[int, typer.Option(
        min=0, max=19, help="CPU priority of the model servers (nice): above 0, the "
        "dashboard's pages come first when scoring saturates the CPU.")] = 10,
    decisions_port: Annotated[int, typer.Option(
        help="Decision service URL (nginx); uvicorn uses this port + 10.")] = DECISIONS_PORT,
    decisions_db: Annotated[str, typer.Option(
        help="Database URL of the decision record.")] = DEFAULT_DECISIONS_DB_URL,
    foreground: Annotated[bool, typer.Option(
        help="Run supervisord in the foreground (for systemd).")] = False,
    small: Annotated[bool, typer.Option(
        help="For a 1 GiB host: one model replica (a crash or `scoring reload` leaves the "
        "model URL unanswered for a few seconds) and no MLflow tracking UI.")] = False,
) -> None:
    """Start every service under supervisord and wait until each answers.

    The services: the tracking UI, the model server (nginx + two replicas of @champion), the
    dashboard and the decision service. Logs: RUN_DIR/logs/; the decision service's
    credentials: RUN_DIR/decisions-auth.json.
    """
    from ops.settings import ServiceError
    from ops.supervisor import bytecode_compiled, json_guard_available
    from ops.supervisor import up as start

    settings = _settings(run_dir, host, tracking_port, model_port, dashboard_port, store,
                         prediction_log, workers, model_nice, decisions_port, decisions_db,
                         small)
    if not bytecode_compiled():
        typer.secho("warning: the installed packages have no compiled bytecode, so every "
                    "model-server start compiles them again (twice as slow); run `make setup` "
                    "or `python -m compileall -q` on the virtualenv", fg=typer.colors.YELLOW,
                    err=True)
    if not json_guard_available():
        typer.secho("warning: nginx's Lua module is not installed (`apt-get install "
                    "libnginx-mod-http-lua`, or `make setup`): a JSON body nested 1,000 levels "
                    "deep reaches the model server, which answers 500 instead of 400",
                    fg=typer.colors.YELLOW, err=True)
    try:
        states = start(settings, foreground=foreground)
    except ServiceError as err:
        fail(str(err))
    _print_status(states)
    if any(st.health == "failing" or st.state not in ("RUNNING", "ABSENT") for st in states):
        fail(f"some services are not healthy yet; see {run_dir}/logs/")


@app.command()
def status(run_dir: RunDir = Path("run")) -> None:
    """Each service: supervisor state, health check, pid, uptime, URL (and model version)."""
    from ops.settings import ServiceError
    from ops.supervisor import status as run

    try:
        states = run(run_dir)
    except ServiceError as err:
        fail(str(err))
    _print_status(states)
    if any(st.health == "failing" or st.state not in ("RUNNING", "ABSENT") for st in states):
        raise typer.Exit(code=3)


@app.command()
def down(run_dir: RunDir = Path("run")) -> None:
    """Stop every service and supervisord."""
    from ops.supervisor import down as stop

    typer.echo("stopped" if stop(run_dir) else f"nothing running in {run_dir}/")


@app.command()
def reload(
    run_dir: RunDir = Path("run"),
    version: Annotated[str | None, typer.Option(
        help="Version to serve (default: the current @champion).")] = None,
) -> None:
    """Switch the running model server to the new @champion without failing a request.

    Run it after `scoring promote`: the replicas are replaced one at a time behind nginx.
    """
    from ops.deploy import reload as run
    from ops.settings import ServiceError

    try:
        switch = run(str(run_dir), version=version, say=typer.echo)
    except ServiceError as err:
        fail(str(err))
    if not switch.switched:
        typer.echo(f"already serving version {switch.new}")
    else:
        typer.echo(f"now serving version {switch.new} (was {', '.join(map(str, switch.old))})"
                   f" after {switch.seconds:.0f} s")


@app.command()
def systemd(
    out: Annotated[Path, typer.Option(help="Folder to write the unit files to.")
                   ] = Path("deploy/systemd"),
    run_dir: RunDir = Path("run"),
    host: Annotated[str, typer.Option(help="Interface every service binds to.")
                    ] = "127.0.0.1",
    user: Annotated[str | None, typer.Option(help="User the services run as.")] = None,
) -> None:
    """Write systemd units: the services (`scoring up --foreground`) and a daily drift timer."""
    from ops.systemd import write_units

    settings = _settings(run_dir, host, TRACKING_PORT, MODEL_PORT, DASHBOARD_PORT,
                         Path("data/features"), "data/predictions", 1)
    for path in write_units(settings, out, user):
        typer.echo(f"wrote {path}")
    typer.echo(f"install: sudo cp {out}/* /etc/systemd/system/ && sudo systemctl "
               "daemon-reload && sudo systemctl enable --now credit-scoring "
               "credit-scoring-drift.timer")


@app.command()
def decisions(
    port: Annotated[int, typer.Option(help="Port of the decision service.")] = DECISIONS_PORT,
    host: Host = "127.0.0.1",
    db_url: Annotated[str | None, typer.Option(
        help="Database of the decision record (default: DECISIONS_DB_URL, else "
        f"{DEFAULT_DECISIONS_DB_URL}).")] = None,
    model_url: Annotated[str | None, typer.Option(
        help=f"Model server (default: DECISIONS_MODEL_URL, else {DEFAULT_MODEL_URL}).")] = None,
    store: Annotated[Path | None, typer.Option(
        help="Feature store folder (default: DECISIONS_STORE, else data/features).")] = None,
) -> None:
    """Serve the decision service alone (uvicorn, foreground); its API docs on /docs.

    It scores clients by id, with reasons and recourse, and keeps the decision record.
    Credentials: DECISIONS_API_KEYS, DECISIONS_ADVISORS or DECISIONS_AUTH_FILE (README,
    Decision service).
    """
    import uvicorn

    from decisions.app import create_app
    from decisions.config import ConfigError
    from decisions.config import Settings as DecisionSettings

    try:
        settings = DecisionSettings.from_env()
    except ConfigError as err:
        fail(str(err))
    settings.db_url = db_url or settings.db_url
    settings.model_url = model_url or settings.model_url
    settings.store = str(store) if store else settings.store
    if not settings.api_keys and not settings.advisors:
        typer.secho("warning: no credentials set: every route but /health, /metrics and /docs "
                    "answers 401", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"decision service on http://{host}:{port}/docs (model server "
               f"{settings.model_url}, record {settings.db_url})")
    uvicorn.run(create_app(settings), host=host, port=port)
