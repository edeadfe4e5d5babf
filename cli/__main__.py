"""``python -m cli``: the ``scoring`` command."""

from cli import app

app()
