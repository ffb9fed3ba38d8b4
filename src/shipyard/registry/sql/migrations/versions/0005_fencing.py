"""at most one active rollout per deployment; a fencing token on leases

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Fixed here (not imported): a migration describes the schema as it was when written.
ACTIVE = "status IN ('pending_approval', 'running', 'paused', 'promoting', 'rolling_back')"


def upgrade() -> None:
    # Races before this revision could leave several active rollouts on one deployment: keep the
    # newest of each, abort the others, so the unique index can be built.
    op.execute(
        sa.text(
            f"UPDATE rollouts SET status = 'aborted' WHERE {ACTIVE} AND id < "
            f"(SELECT MAX(r.id) FROM rollouts r WHERE r.deployment = rollouts.deployment "
            f"AND r.{ACTIVE})"
        )
    )
    op.create_index(
        "uq_rollouts_one_active",
        "rollouts",
        ["deployment"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    with op.batch_alter_table("leases") as batch:
        batch.add_column(
            sa.Column("epoch", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("epoch")
    op.drop_index("uq_rollouts_one_active", table_name="rollouts")
