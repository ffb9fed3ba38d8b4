"""The shipped migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shipyard.registry.sql import schema
from shipyard.registry.sql.store import make_engine
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
