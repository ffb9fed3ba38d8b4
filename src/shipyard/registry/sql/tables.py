"""Table definitions. Times are integer microseconds since the Unix epoch (UTC) on every backend."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from shipyard.registry.deployments import ACTIVE_ROLLOUT_STATUSES

ACTIVE_ROLLOUTS = "status IN ({})".format(", ".join(f"'{s}'" for s in ACTIVE_ROLLOUT_STATUSES))

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("next_version", Integer, nullable=False, default=1),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(80), nullable=False),
    Column("manifest_blob", String(200), nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("metrics", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    ForeignKeyConstraint(["name"], ["registered_models.name"], ondelete="CASCADE"),
    Index("ix_model_versions_digest", "digest"),
)

model_tags = Table(
    "model_tags",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
    ForeignKeyConstraint(["name"], ["registered_models.name"], ondelete="CASCADE"),
)

version_tags = Table(
    "version_tags",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
    ForeignKeyConstraint(
        ["name", "version"], ["model_versions.name", "model_versions.version"], ondelete="CASCADE"
    ),
    Index("ix_version_tags_key_value", "key", "value"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(256), nullable=False),
    # RESTRICT: a version an alias points to cannot disappear underneath it.
    ForeignKeyConstraint(
        ["name", "version"], ["model_versions.name", "model_versions.version"], ondelete="RESTRICT"
    ),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("name", String(128), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(256), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Index("ix_alias_events_name_alias_at", "name", "alias", "at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=False),
    Column("details", JSON, nullable=False),
    # the audit chain (0006): SHA-256 (hex) of the previous event, and of this event's canonical
    # encoding (which includes prev_hash); see registry/sql/audit.py
    Column("prev_hash", String(64), nullable=False, server_default=""),
    Column("hash", String(64), nullable=False, server_default=""),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_target", "target"),
)

metric_points = Table(
    "metric_points",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("endpoint", String(128), nullable=False),
    Column("monitor", String(128), nullable=False),
    Column("metric", String(256), nullable=False),
    Column("version", Integer, nullable=True),
    Column("value", Float, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_metric_points_endpoint_metric_end", "endpoint", "metric", "window_end"),
)

alerts = Table(
    "alerts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("endpoint", String(128), nullable=False),
    Column("monitor", String(128), nullable=False),
    Column("rule", String(256), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("opened_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    Column("resolved_at", BigInteger, nullable=True),
    Index("ix_alerts_endpoint_status", "endpoint", "status"),
)

deployments = Table(
    "deployments",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(256), nullable=False),
)

deployment_events = Table(
    "deployment_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("name", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_deployment_events_name", "name", "revision"),
)

rollouts = Table(
    "rollouts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("deployment", String(128), nullable=False),
    Column("status", String(32), nullable=False),
    Column("state", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Index("ix_rollouts_deployment_status", "deployment", "status"),
    # At most one active rollout per deployment (0005); the statuses are ACTIVE_ROLLOUT_STATUSES.
    Index(
        "uq_rollouts_one_active",
        "deployment",
        unique=True,
        sqlite_where=text(ACTIVE_ROLLOUTS),
        postgresql_where=text(ACTIVE_ROLLOUTS),
    ),
)

rollout_events = Table(
    "rollout_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("rollout_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_rollout_events_rollout", "rollout_id"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(256), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("epoch", BigInteger, nullable=False, server_default="0"),  # the fencing token (0005)
)

# -- governance (0004): protected aliases and approvals ------------------------------------------------

protected_aliases = Table(
    "protected_aliases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("required_approvals", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(256), nullable=False),
    ForeignKeyConstraint(["name"], ["registered_models.name"], ondelete="CASCADE"),
    CheckConstraint("required_approvals >= 1", name="ck_protected_aliases_required"),
)

approvals = Table(
    "approvals",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("comment", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["name", "version"], ["model_versions.name", "model_versions.version"], ondelete="CASCADE"
    ),
    CheckConstraint("decision IN ('approved', 'rejected')", name="ck_approvals_decision"),
    Index("ix_approvals_name_version", "name", "version"),
)

version_approval = Table(
    "version_approval",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("decided_at", BigInteger, nullable=True),
    ForeignKeyConstraint(
        ["name", "version"], ["model_versions.name", "model_versions.version"], ondelete="CASCADE"
    ),
    CheckConstraint(
        "status IN ('pending', 'approved', 'rejected')", name="ck_version_approval_status"
    ),
)

# -- access (0006): tokens and the audit chain's head --------------------------------------------------

tokens = Table(
    "tokens",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("roles", JSON, nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Index("ix_tokens_secret_hash", "secret_hash", unique=True),
)

audit_chain = Table(
    "audit_chain",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="ck_audit_chain_single_row"),
)
