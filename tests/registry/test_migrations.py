"""The shipped migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from shipyard.core.errors import Conflict
from shipyard.registry.sql import schema
from shipyard.registry.sql.store import SqlRegistryStore, make_engine
from shipyard.registry.sql.tables import metadata


def test_migrations_match_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    assert schema.status(engine).current is None
    result = schema.upgrade(engine)
    assert result.up_to_date and result.current == schema.head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert schema.upgrade(engine).up_to_date  # idempotent
    engine.dispose()


def test_opening_a_store_checks_the_revision_without_alembic(database_url: str) -> None:
    assert schema.head_revision() == schema.HEAD
    engine = make_engine(database_url)
    assert schema.ensure(engine, migrate_empty=False).current is None  # nothing touched
    assert schema.status(engine).current is None
    assert schema.ensure(engine).up_to_date  # an empty database is migrated
    with engine.begin() as conn:  # a database one migration behind is reported, not migrated
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    state = schema.ensure(engine)
    assert (state.current, state.up_to_date) == ("0005", False)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": schema.HEAD})
    engine.dispose()
    code = (
        "import sys; from shipyard.registry.sql.store import SqlRegistryStore; "
        f"SqlRegistryStore({database_url!r}).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_store_behind_head_is_refused_with_the_upgrade_hint(database_url: str) -> None:
    SqlRegistryStore(database_url).close()  # an empty database is migrated on open
    engine = make_engine(database_url)
    with engine.connect() as conn, conn.begin():  # an older schema, as a previous release left it
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    with pytest.raises(Conflict, match=r"revision 0005, this Shipyard needs 0006.*db upgrade"):
        SqlRegistryStore(database_url)
    assert not schema.status(engine).up_to_date  # what `shipyard db check` reports
    engine.dispose()
