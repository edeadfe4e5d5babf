"""decision_records: PostgreSQL also refuses TRUNCATE (row triggers do not see it)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER decision_records_no_truncate BEFORE TRUNCATE ON "
                   "decision_records FOR EACH STATEMENT "
                   "EXECUTE FUNCTION decision_records_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS decision_records_no_truncate ON decision_records")
