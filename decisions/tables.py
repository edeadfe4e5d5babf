"""SQLAlchemy tables of the decision record (Alembic migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

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
    # Revision 0003; each is part of the record's hash only when set (``record.OPTIONAL``),
    # so the records written before keep their hashes.
    Column("via", String(100)),  # the system that carried the request for the advisor
    Column("needs_review", Boolean),  # an override waiting for a supervisor (four eyes)
    Column("review_of", Integer),  # a review: the override it confirms or rejects
    Column("verdict", String(10)),  # a review's "confirm" or "reject"
    Column("review_comment", Text),
    Index("ix_decision_records_review_of", "review_of", unique=True),
)

#: Who read which client's data (score, profile, letter, decisions), apart from the chain.
access_log = Table(
    "access_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False, index=True),  # ISO 8601 UTC, sortable
    Column("person", String(100), nullable=False, index=True),
    Column("role", String(20), nullable=False),
    Column("via", String(100)),
    Column("client_id", BigInteger, nullable=False, index=True),
    Column("what", String(20), nullable=False),
)
