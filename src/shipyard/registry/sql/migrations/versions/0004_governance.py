"""governance: protected aliases, approval decisions and each version's approval status

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "protected_aliases",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["registered_models.name"],
            name="fk_protected_aliases_name_registered_models",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("required_approvals >= 1", name="ck_protected_aliases_required"),
        sa.PrimaryKeyConstraint("name", "alias", name="pk_protected_aliases"),
    )
    op.create_table(
        "approvals",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_approvals_name_model_versions",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("decision IN ('approved', 'rejected')", name="ck_approvals_decision"),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
    )
    op.create_index("ix_approvals_name_version", "approvals", ["name", "version"])
    op.create_table(
        "version_approval",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_version_approval_name_model_versions",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name="ck_version_approval_status"
        ),
        sa.PrimaryKeyConstraint("name", "version", name="pk_version_approval"),
    )


def downgrade() -> None:
    for table in ("version_approval", "approvals", "protected_aliases"):
        op.drop_table(table)
