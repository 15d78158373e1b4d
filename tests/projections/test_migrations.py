"""Migrations and table definitions agree, on every projection store."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from touchline.projections.store import upgrade
from touchline.projections.tables import metadata


def test_migrated_schema_matches_the_tables(engine: Engine) -> None:
    """After `db upgrade` the database has exactly what the code declares."""
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    """Running the migrations again on an up-to-date store does nothing."""
    upgrade(engine)
    upgrade(engine)
