"""SQL implementation of the registry store (SQLAlchemy 2 Core, Alembic migrations)."""
