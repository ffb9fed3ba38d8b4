"""Schema migrations: apply (``upgrade``) and inspect (``status``), under a lock; and the cheap
check every store does when it opens (``ensure``).

Migrations run inside one write transaction that first takes a lock (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-level advisory lock), so processes that start together on an empty
database migrate it once.

Opening a store reads the ``alembic_version`` row with one plain query and compares it with ``HEAD``:
Alembic (and the migration scripts it parses) is imported only to migrate or to report a status.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0006"
"""The newest migration's revision (a test checks it against the migration scripts)."""
_LOCK_KEY = 0x5E1BA7D  # advisory lock id for PostgreSQL


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision, read from the migration scripts (``HEAD`` names it without them)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The database's revision, with plain SQL; None when it has no schema yet."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def ensure(engine: Engine, *, migrate_empty: bool = True) -> SchemaStatus:
    """The schema's status against ``HEAD``, after migrating an empty database (``migrate_empty``)."""
    with engine.connect() as conn:
        current = current_revision(conn)
    if current is None and migrate_empty:
        upgrade(engine, only_if_empty=True)
        with engine.connect() as conn:
            current = current_revision(conn)
    return SchemaStatus(current=current, head=HEAD)


def status(engine: Engine) -> SchemaStatus:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return SchemaStatus(current=current, head=head_revision())


def upgrade(engine: Engine, *, only_if_empty: bool = False) -> SchemaStatus:
    """Apply pending migrations. With ``only_if_empty``, touch only a database with no schema yet."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        conn = conn.execution_options(shipyard_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            current = MigrationContext.configure(conn).get_current_revision()
            if not (only_if_empty and current is not None):
                command.upgrade(_config(conn), "head")
    return status(engine)
