"""People and systems of the decision service: `scoring users add|list|disable|rehash|key`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import TYPER_OPTIONS, fail

app = typer.Typer(
    name="users", **TYPER_OPTIONS,
    no_args_is_help=True,
    help="People and systems allowed to use the decision service and the dashboard: the "
    "users file (DECISIONS_USERS_FILE, else run/decisions-auth.json, the one `scoring up` "
    "uses). The running service reads the file again when it changes.")

UsersFile = Annotated[Path, typer.Option(
    "--users-file", envvar=["DECISIONS_USERS_FILE", "DECISIONS_AUTH_FILE"],
    help="The users file (JSON, mode 600).")]
DEFAULT_FILE = Path("run/decisions-auth.json")


def _password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="The person's login name.")],
    role: Annotated[str, typer.Option(help="advisor, supervisor or client.")],
    client_id: Annotated[int | None, typer.Option(
        help="The client's SK_ID_CURR (role client only: the one file they may read).")
    ] = None,
    password_stdin: Annotated[bool, typer.Option(
        help="Read the password from the first line of standard input (else a prompt).")
    ] = False,
    replace: Annotated[bool, typer.Option(
        help="Change the role and password of an existing person.")] = False,
    users_file: UsersFile = DEFAULT_FILE,
) -> None:
    """Add a person with a role; the password is stored as an argon2id hash (12 characters
    at least)."""
    from decisions.users import UsersFileError, add_user

    try:
        user = add_user(users_file, name, role, _password(name, password_stdin), client_id,
                        replace)
    except UsersFileError as err:
        fail(str(err))
    typer.echo(f"{user.name}: {user.role}" + (f" of client {user.client_id}"
                                              if user.client_id is not None else "")
               + f" in {users_file}")


@app.command("list")
def list_(users_file: UsersFile = DEFAULT_FILE) -> None:
    """Every person (name, role, client, state, how the password is stored) and API key."""
    from decisions.users import UsersFileError, load_users

    try:
        table = load_users(users_file)
    except UsersFileError as err:
        fail(str(err))
    typer.echo(f"{'name':<20}{'role':<12}{'client':>10}  {'state':<9}password")
    for name in sorted(table.people):
        user, _ = table.people[name]
        client = "" if user.client_id is None else str(user.client_id)
        typer.echo(f"{name:<20}{user.role:<12}{client:>10}  "
                   f"{'disabled' if user.disabled else 'enabled':<9}{table.scheme_of(name)}")
    for name, key in sorted(table.api_keys.items()):
        typer.echo(f"{name:<20}{'system':<12}{'':>10}  {'key':<9}"
                   + ("may act for users" if key.act_for_users else ""))


@app.command()
def disable(name: Annotated[str, typer.Argument(help="The person's login name.")],
            users_file: UsersFile = DEFAULT_FILE) -> None:
    """Disable a person: kept in the file (their records still name them), refused at login
    (the running service notices within a second)."""
    from decisions.users import UsersFileError, disable_user

    try:
        disable_user(users_file, name)
    except UsersFileError as err:
        fail(str(err))
    typer.echo(f"{name}: disabled")


@app.command()
def rehash(users_file: UsersFile = DEFAULT_FILE) -> None:
    """Move the older entries to argon2id: plain passwords hashed, `sha256:` ones wrapped in
    argon2id (their owners keep their password), `advisors` moved to `users`."""
    from decisions.users import UsersFileError
    from decisions.users import rehash as run

    try:
        changed = run(users_file)
    except UsersFileError as err:
        fail(str(err))
    typer.echo(f"re-hashed: {', '.join(changed)}" if changed else "nothing to re-hash")


@app.command()
def key(
    name: Annotated[str, typer.Argument(help="The system's name (e.g. dashboard, crm).")],
    act_for_users: Annotated[bool, typer.Option(
        help="May act for a person (X-Acting-For): only for a trusted front end that logs "
        "people in itself, such as the dashboard.")] = False,
    replace: Annotated[bool, typer.Option(help="Replace the system's key.")] = False,
    users_file: UsersFile = DEFAULT_FILE,
) -> None:
    """Create a random API key for a system (role system: scores only); printed once, the
    file keeps its SHA-256."""
    from decisions.users import UsersFileError, add_api_key

    try:
        secret = add_api_key(users_file, name, act_for_users, replace)
    except UsersFileError as err:
        fail(str(err))
    typer.echo(secret)
    if os.isatty(1):
        typer.secho("keep it now: it is not stored", fg=typer.colors.YELLOW, err=True)
