"""The shipped migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

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


def test_head_is_the_newest_migration() -> None:
    """``schema.HEAD`` lets a store open without Alembic; it must name Alembic's own head."""
    assert schema.head_revision() == schema.HEAD


def test_a_store_checks_its_revision_with_one_query(database_url: str) -> None:
    engine = make_engine(database_url)
    assert not schema.at_head(engine)  # empty: the store migrates it
    SqlRegistryStore(database_url).close()
    assert schema.at_head(engine)
    SqlRegistryStore(database_url).close()  # at head: opens without migrating
    with engine.connect() as conn, conn.begin():  # an older schema, as a previous release left it
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    assert not schema.at_head(engine)
    with pytest.raises(Conflict, match=r"revision 0005, this Shipyard needs 0006.*db upgrade"):
        SqlRegistryStore(database_url)
    assert not schema.status(engine).up_to_date  # what `shipyard db check` reports
    engine.dispose()
