"""What the command groups share: option types, parsing helpers and the error exit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataDir = Annotated[Path, typer.Option("--data-dir", "-d", help="Folder of Kaggle-format "
                                       "table files (.csv, .csv.gz, .zip or .parquet).")]
Host = Annotated[str, typer.Option(help="Interface to bind (loopback by default).")]
RunDir = Annotated[Path, typer.Option("--run-dir", help="Folder of the services' configs, "
                                      "sockets and logs.")]


#: How every group of commands is built: no shell completion, plain tracebacks, and help
#: texts read as Markdown (a docstring's paragraphs re-flowed to the terminal's width).
TYPER_OPTIONS: dict = {"add_completion": False, "pretty_exceptions_enable": False,
                       "rich_markup_mode": "markdown"}


def sub_app(help: str) -> typer.Typer:
    """A group of commands, merged into the ``scoring`` command."""
    return typer.Typer(help=help, **TYPER_OPTIONS)


def number(text: str) -> int | float | str:
    """A parameter value: an int or a float when it reads as one, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)
