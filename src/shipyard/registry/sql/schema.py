"""Schema migrations: apply (``upgrade``) and inspect (``status``), under a lock.

Migrations run inside one write transaction that first takes a lock (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-level advisory lock), so processes that start together on an empty
database migrate it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x5E1BA7D  # advisory lock id for PostgreSQL


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def status(engine: Engine) -> SchemaStatus:
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return SchemaStatus(current=current, head=head_revision())


def upgrade(engine: Engine, *, only_if_empty: bool = False) -> SchemaStatus:
    """Apply pending migrations. With ``only_if_empty``, touch only a database with no schema yet."""
    with engine.connect() as conn:
        conn = conn.execution_options(shipyard_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            current = MigrationContext.configure(conn).get_current_revision()
            if not (only_if_empty and current is not None):
                command.upgrade(_config(conn), "head")
    return status(engine)
