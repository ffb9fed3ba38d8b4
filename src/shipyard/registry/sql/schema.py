"""Schema migrations: apply (``upgrade``) and inspect (``status``), under a lock.

Migrations run inside one write transaction that first takes a lock (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a transaction-level advisory lock), so processes that start together on an empty
database migrate it once.

Every process that opens the registry first asks ``at_head``: one query, without importing Alembic
(a third of a CLI command's start-up). Alembic runs only when the answer is no.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD: Final = "0006"
"""The revision of the newest migration in ``migrations/versions`` (a test checks it is Alembic's
head): bump it with every new migration."""
_LOCK_KEY = 0x5E1BA7D  # advisory lock id for PostgreSQL
_VERSION_TABLE: Final = "alembic_version"


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
    """The head revision, as Alembic finds it in the migration scripts."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def at_head(engine: Engine) -> bool:
    """Whether the database is stamped with ``HEAD`` and nothing else, read with plain SQL."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(_VERSION_TABLE):
            return False
        rows = conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalars().all()
    return rows == [HEAD]


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
