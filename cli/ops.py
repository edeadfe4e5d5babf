"""Operations commands: the always-on services (up, status, down), the zero-downtime model
switch (reload) and the systemd units."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.common import RunDir, fail, sub_app
from ops.settings import Settings
from scoring.names import (
    DASHBOARD_PORT,
    DECISIONS_PORT,
    DEFAULT_DECISIONS_DB_URL,
    DEFAULT_STORE,
    MODEL_PORT,
    TRACKING_PORT,
)

app = sub_app("Operations: run the services, switch models, install systemd units.")


def _settings(run_dir: Path, host: str, tracking_port: int, model_port: int,
              dashboard_port: int, store: Path, prediction_log: str, workers: int,
              model_nice: int = 10, decisions_port: int = DECISIONS_PORT,
              decisions_db: str = DEFAULT_DECISIONS_DB_URL, small: bool = False,
              **doors: str) -> Settings:
    """Services settings from the command line; the tracking store as `scoring train` uses;
    ``doors``: login, tls_cert, tls_key, server_name (``ops.settings.Settings``)."""
    from training import track

    uri = os.environ.get("MLFLOW_TRACKING_URI") or track.default_store()
    return Settings(**doors, dashboard_backend_port=dashboard_port + 10,
                    tracking_backend_port=tracking_port + 20,
                    tracking_uri=uri, run_dir=str(run_dir.resolve()), host=host,
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
    store: Annotated[Path, typer.Option(help="Feature store folder.")] = Path(DEFAULT_STORE),
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
    login: Annotated[str, typer.Option(
        help="Dashboard login: 'users' (the user file, RUN_DIR/decisions-auth.json), 'oidc' "
        "(the bank's SSO: PANEL_OAUTH_KEY, PANEL_OAUTH_SECRET, PANEL_OAUTH_EXTRA_PARAMS) or "
        "'none' (loopback development only).")] = "users",
    tls_cert: Annotated[str, typer.Option(help="nginx's TLS certificate (PEM).")] = "",
    tls_key: Annotated[str, typer.Option(help="nginx's TLS private key (PEM).")] = "",
    tls_self_signed: Annotated[bool, typer.Option(
        help="Generate a self-signed pair in RUN_DIR/tls/ (a trial only: browsers warn).")
                               ] = False,
    server_name: Annotated[str, typer.Option(
        help="The name people type to reach the services (default: the --host address).")
                           ] = "",
) -> None:
    """Start every service under supervisord and wait until each answers.

    The services: the tracking UI, the model server (nginx + two replicas of @champion), the
    dashboard and the decision service. Beyond loopback (--host other than 127.0.0.1) it
    refuses to start without a dashboard login, people in the user file and TLS; the MLflow UI
    gets nginx's basic auth. On loopback a first advisor and supervisor are created with random
    passwords, shown once. Logs: RUN_DIR/logs/; people and keys: RUN_DIR/decisions-auth.json.
    """
    from ops.doors import self_signed
    from ops.settings import LOGINS, ServiceError
    from ops.supervisor import bytecode_compiled, json_guard_available
    from ops.supervisor import up as start

    if login not in LOGINS:
        fail(f"--login {login!r}: expected one of {', '.join(LOGINS)}")
    settings = _settings(run_dir, host, tracking_port, model_port, dashboard_port, store,
                         prediction_log, workers, model_nice, decisions_port, decisions_db,
                         small, login=login, tls_cert=tls_cert, tls_key=tls_key,
                         server_name=server_name)
    if tls_self_signed and not settings.tls:
        settings.tls_cert, settings.tls_key = map(str, self_signed(settings))
        typer.secho(f"WARNING: TLS with a SELF-SIGNED certificate ({settings.tls_cert}), for "
                    "a trial only: browsers will warn, and nobody can tell this server from "
                    "an impostor. Give the bank's certificate with --tls-cert/--tls-key.",
                    fg=typer.colors.RED, bold=True, err=True)
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
        states = start(settings, foreground=foreground, say=typer.echo)
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
    tls_cert: Annotated[str, typer.Option(help="nginx's TLS certificate (PEM).")] = "",
    tls_key: Annotated[str, typer.Option(help="nginx's TLS private key (PEM).")] = "",
    server_name: Annotated[str, typer.Option(
        help="The name people type to reach the services.")] = "",
) -> None:
    """Write systemd units: the services (`scoring up --foreground`) and a daily drift timer.

    Beyond loopback, give the TLS pair: `scoring up` refuses to start without it."""
    from ops.systemd import write_units

    settings = _settings(run_dir, host, TRACKING_PORT, MODEL_PORT, DASHBOARD_PORT,
                         Path(DEFAULT_STORE), "data/predictions", 1, tls_cert=tls_cert,
                         tls_key=tls_key, server_name=server_name)
    for path in write_units(settings, out, user):
        typer.echo(f"wrote {path}")
    typer.echo(f"install: sudo cp {out}/* /etc/systemd/system/ && sudo systemctl "
               "daemon-reload && sudo systemctl enable --now credit-scoring "
               "credit-scoring-drift.timer")
