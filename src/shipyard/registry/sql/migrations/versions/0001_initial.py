"""initial registry schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("next_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_registered_models"),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("manifest_blob", sa.String(200), nullable=False),
        sa.Column("flavor", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["registered_models.name"],
            name="fk_model_versions_name_registered_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "version", name="pk_model_versions"),
    )
    op.create_index("ix_model_versions_digest", "model_versions", ["digest"])
    op.create_table(
        "model_tags",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["registered_models.name"],
            name="fk_model_tags_name_registered_models",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "key", name="pk_model_tags"),
    )
    op.create_table(
        "version_tags",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_version_tags_name_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", "version", "key", name="pk_version_tags"),
    )
    op.create_index("ix_version_tags_key_value", "version_tags", ["key", "value"])
    op.create_table(
        "aliases",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_aliases_name_model_versions",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("name", "alias", name="pk_aliases"),
    )
    op.create_table(
        "alias_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alias_events"),
    )
    op.create_index("ix_alias_events_name_alias_at", "alias_events", ["name", "alias", "at"])
    op.create_table(
        "audit_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_target", "audit_events", ["target"])


def downgrade() -> None:
    for table in (
        "audit_events",
        "alias_events",
        "aliases",
        "version_tags",
        "model_tags",
        "model_versions",
        "registered_models",
    ):
        op.drop_table(table)
