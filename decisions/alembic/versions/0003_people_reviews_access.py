"""decision_records: who carried the request, four-eyes reviews; access_log: who read what

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_NEW_COLUMNS = [
    sa.Column("via", sa.String(100)),
    sa.Column("needs_review", sa.Boolean),
    sa.Column("review_of", sa.Integer),
    sa.Column("verdict", sa.String(10)),
    sa.Column("review_comment", sa.Text),
]


def upgrade() -> None:
    # nullable columns without a default: no row is rewritten (the append-only triggers
    # refuse UPDATE, and ALTER TABLE ... ADD COLUMN does not update rows)
    for column in _NEW_COLUMNS:
        op.add_column("decision_records", column)
    # one review per override, even with two supervisors at once
    op.create_index("ix_decision_records_review_of", "decision_records", ["review_of"],
                    unique=True)
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("via", sa.String(100)),
        sa.Column("client_id", sa.BigInteger, nullable=False),
        sa.Column("what", sa.String(20), nullable=False),
    )
    for column in ("at", "person", "client_id"):
        op.create_index(f"ix_access_log_{column}", "access_log", [column])


def downgrade() -> None:
    op.drop_table("access_log")
    op.drop_index("ix_decision_records_review_of", "decision_records")
    with op.batch_alter_table("decision_records") as batch:
        for column in reversed(_NEW_COLUMNS):
            batch.drop_column(column.name)
