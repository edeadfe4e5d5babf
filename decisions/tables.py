"""SQLAlchemy tables of the decision record (Alembic migrations create them)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Double, Integer, MetaData, String, Table, Text

metadata = MetaData()

#: Append-only: one row per final decision, each holding the hash of the previous row.
decision_records = Table(
    "decision_records", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("recorded_at", String(32), nullable=False, index=True),  # ISO 8601 UTC, sortable
    Column("client_id", BigInteger, nullable=False, index=True),
    Column("inputs_hash", String(64), nullable=False),
    Column("model_name", String(100), nullable=False),
    Column("model_version", String(50), nullable=False),
    Column("model_alias", String(50), nullable=False),
    Column("threshold", Double, nullable=False),
    Column("probability", Double, nullable=False),
    Column("model_decision", String(10), nullable=False),
    Column("reasons", Text, nullable=False),  # canonical JSON
    Column("catalogue_version", String(20), nullable=False),
    Column("advisor", String(100), nullable=False, index=True),
    Column("final_decision", String(10), nullable=False),
    Column("override_reason_code", String(40)),
    Column("override_reason_text", Text),
    Column("previous_hash", String(64), nullable=False),
    Column("record_hash", String(64), nullable=False, unique=True),
)
