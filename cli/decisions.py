"""The decision service: `scoring decisions` serves it; `verify`, `export` and `keygen` work
on its record directly (the database, the signing key and the checkpoint file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import TYPER_OPTIONS, Host, fail
from scoring.names import DECISIONS_PORT, DEFAULT_DECISIONS_DB_URL, DEFAULT_MODEL_URL

app = typer.Typer(
    name="decisions", **TYPER_OPTIONS,
    invoke_without_command=True,
    help="The decision service: alone, `scoring decisions [--port ...]` serves it (uvicorn, "
    "foreground); its commands check and extract the decision record.")

DbUrl = Annotated[str | None, typer.Option(
    help="Database of the decision record (default: DECISIONS_DB_URL, else "
    f"{DEFAULT_DECISIONS_DB_URL}).")]


def _settings(db_url: str | None = None):
    from decisions.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as err:
        fail(str(err))
    settings.db_url = db_url or settings.db_url
    return settings


@app.callback()
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port of the decision service.")] = DECISIONS_PORT,
    host: Host = "127.0.0.1",
    db_url: DbUrl = None,
    model_url: Annotated[str | None, typer.Option(
        help=f"Model server (default: DECISIONS_MODEL_URL, else {DEFAULT_MODEL_URL}).")] = None,
    store: Annotated[Path | None, typer.Option(
        help="Feature store folder (default: DECISIONS_STORE, else data/features).")] = None,
) -> None:
    """Serve the decision service alone (uvicorn, foreground): scores by client id, reasons,
    recourse and the decision record; docs on /docs. People and keys: the users file
    DECISIONS_USERS_FILE (`scoring users`), or DECISIONS_API_KEYS / DECISIONS_ADVISORS
    (docs/guides/users.md)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from decisions.app import create_app

    settings = _settings(db_url)
    settings.model_url = model_url or settings.model_url
    settings.store = str(store) if store else settings.store
    if not settings.users().current():
        if host not in ("127.0.0.1", "localhost", "::1"):
            fail(f"no users nor API keys set: the service will not listen on {host} without "
                 "authentication (`scoring users add`, DECISIONS_USERS_FILE)")
        typer.secho("warning: no credentials set: every route but /health, /metrics and /docs "
                    "answers 401", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"decision service on http://{host}:{port}/docs (model server "
               f"{settings.model_url}, record {settings.db_url})")
    uvicorn.run(create_app(settings), host=host, port=port)


@app.command()
def verify(
    db_url: DbUrl = None,
    export: Annotated[Path | None, typer.Option(
        help="Check an extract offline instead (`scoring decisions export`), with its "
        ".checkpoint.json beside it.")] = None,
    public_key: Annotated[Path | None, typer.Option(
        help="The PEM public key to trust (`scoring decisions keygen` prints it): verifying "
        "needs only this half. Default: the extract's own, or the signing key's.")] = None,
) -> None:
    """Recompute the hash chain and compare its head with the last signed checkpoint (file
    DECISIONS_CHECKPOINT_FILE, key DECISIONS_SIGNING_KEY); names the first broken record or
    those missing at the tail. Exit code 1 when the record does not verify."""
    if export is not None:
        from decisions.export import ExportError, verify_export

        try:
            check = verify_export(export, public_key.read_text() if public_key else None)
        except (ExportError, OSError) as err:
            fail(str(err))
        if not check.ok:
            fail(f"{export}: {check.problem}")
        typer.echo(f"{export}: {check.records} records, chain whole, checkpoint signed by "
                   f"key {check.key_id}")
        return
    from sqlalchemy.orm import Session

    from decisions import checkpoint, record
    from decisions.database import make_engine

    settings = _settings(db_url)
    cp = checkpoint.last(settings.checkpoint_path())
    try:
        if public_key is not None:
            public = checkpoint.load_public(public_key.read_text())
        elif settings.key_path().is_file():
            public = checkpoint.load_or_create_key(settings.key_path()).public_key()
        elif cp is not None:
            fail(f"checkpoints are in {settings.checkpoint_path()} but the signing key "
                 f"{settings.key_path()} is not there: set DECISIONS_SIGNING_KEY or give "
                 "--public-key")
        else:
            public = None
    except (OSError, ValueError) as err:
        fail(str(err))
    engine = make_engine(settings.db_url, settings.db_timeout)
    with Session(engine) as session:
        v = checkpoint.against(record.verify(session), cp, public,
                               lambda i: (record.get(session, i) or {}).get("record_hash"))
    engine.dispose()
    if not v.ok:
        fail(f"record {v.broken_id}: {v.problem}" if v.broken_id else str(v.problem))
    seen = (f"the last checkpoint ({cp.records} records, {cp.at})" if cp else
            f"no checkpoint yet ({settings.checkpoint_path()})")
    typer.echo(f"{v.records} records, chain whole, head {v.head[:16]}…; agrees with {seen}")


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="The extract: a .csv or .parquet file.")],
    db_url: DbUrl = None,
) -> None:
    """Write every decision record, and beside it OUT.checkpoint.json: the chain's head
    signed now and the public key, so the extract can be checked offline (`scoring decisions
    verify --export OUT`, or `decisions.export.verify_export`)."""
    from decisions.checkpoint import Checkpointer
    from decisions.database import make_engine
    from decisions.export import ExportError
    from decisions.export import export as run

    settings = _settings(db_url)
    engine = make_engine(settings.db_url, settings.db_timeout)
    try:
        cp, count = run(engine, out, Checkpointer(settings.key_path(),
                                                  settings.checkpoint_path()))
    except ExportError as err:
        fail(str(err))
    finally:
        engine.dispose()
    typer.echo(f"wrote {count} records to {out} and {out}.checkpoint.json (signed by key "
               f"{cp.key_id})")


@app.command()
def keygen(
    key: Annotated[Path | None, typer.Option(
        help="The signing key file (default: DECISIONS_SIGNING_KEY, else beside the SQLite "
        "database).")] = None,
) -> None:
    """Create the Ed25519 key that signs the record's checkpoints (mode 600) if it does not
    exist, and print its public half and fingerprint: keep them where a verifier can
    compare them."""
    from decisions.checkpoint import key_id, load_or_create_key, public_pem

    path = key or _settings().key_path()
    try:
        public = load_or_create_key(path).public_key()
    except ValueError as err:
        fail(str(err))
    typer.echo(public_pem(public).rstrip())
    typer.echo(f"key {key_id(public)} ({path})")
