"""The ``scoring`` command line: one subcommand per step of the flow.

Each command parses its options, calls one function and prints a summary. Heavy libraries are
imported inside the commands so that ``scoring --help`` stays instant.
"""

from __future__ import annotations

import typer

from cli import data, decisions, model, monitor, ops, users
from cli.common import TYPER_OPTIONS

app = typer.Typer(
    help="Credit scoring on the Home Credit Default Risk schema: generate or validate data, "
    "build features, train, promote, serve and monitor.",
    no_args_is_help=True,
    **TYPER_OPTIONS,
)
for group, panel in ((data, "Data"), (model, "Model"), (ops, "Operations"),
                     (decisions, "Decisions"), (users, "Decisions"), (monitor, "Monitoring")):
    app.add_typer(group.app, rich_help_panel=panel)
