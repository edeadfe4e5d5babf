"""Alembic environment: migrations run on the connection ``decisions.database.migrate``
passes, or on ``sqlalchemy.url`` / ``DECISIONS_DB_URL`` from the command line."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from decisions.config import DEFAULT_DB_URL
from decisions.tables import metadata

connection = context.config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get(
        "DECISIONS_DB_URL", DEFAULT_DB_URL)
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
