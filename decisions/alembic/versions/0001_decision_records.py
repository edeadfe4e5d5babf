"""decision_records: the append-only, hash-chained decision record

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE_GUARDS = [
    f"CREATE TRIGGER decision_records_no_{verb.lower()} BEFORE {verb} ON decision_records "
    "BEGIN SELECT RAISE(ABORT, 'decision_records is append-only'); END"
    for verb in ("UPDATE", "DELETE")]
_POSTGRES_GUARD = [
    "CREATE FUNCTION decision_records_append_only() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'decision_records is append-only'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER decision_records_append_only BEFORE UPDATE OR DELETE ON decision_records "
    "FOR EACH ROW EXECUTE FUNCTION decision_records_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "decision_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("client_id", sa.BigInteger, nullable=False),
        sa.Column("inputs_hash", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("model_alias", sa.String(50), nullable=False),
        sa.Column("threshold", sa.Double, nullable=False),
        sa.Column("probability", sa.Double, nullable=False),
        sa.Column("model_decision", sa.String(10), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("catalogue_version", sa.String(20), nullable=False),
        sa.Column("advisor", sa.String(100), nullable=False),
        sa.Column("final_decision", sa.String(10), nullable=False),
        sa.Column("override_reason_code", sa.String(40)),
        sa.Column("override_reason_text", sa.Text),
        sa.Column("previous_hash", sa.String(64), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False, unique=True),
    )
    for column in ("recorded_at", "client_id", "advisor"):
        op.create_index(f"ix_decision_records_{column}", "decision_records", [column])
    # Append-only in the database itself: updates and deletes are refused. (Someone with the
    # file can still drop the triggers; the hash chain then shows what was changed.)
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": _SQLITE_GUARDS, "postgresql": _POSTGRES_GUARD}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("decision_records")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS decision_records_append_only()")
