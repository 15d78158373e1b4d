"""Migrations and table definitions agree, on every projection store."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, inspect, select

from touchline.store.migrate import alembic_config, upgrade
from touchline.store.tables import metadata, projector_positions


def test_migrated_schema_matches_the_tables(engine: Engine) -> None:
    """After `db upgrade` the database has exactly what the code declares."""
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    """Running the migrations again on an up-to-date store does nothing:
    same revision, same tables, rows kept, still matching the code."""
    with engine.begin() as connection:
        connection.execute(
            insert(projector_positions).values(projector="p", topic="t", partition=0, next_offset=7)
        )
    before = _state(engine)
    upgrade(engine)
    upgrade(engine)
    assert _state(engine) == before
    with engine.connect() as connection:
        head = ScriptDirectory.from_config(alembic_config(connection)).get_current_head()
    assert before[0] == head
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        kept = connection.execute(select(projector_positions.c.next_offset)).scalars().all()
    assert kept == [7]


def _state(engine: Engine) -> tuple[str | None, list[str]]:
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
        return revision, sorted(inspect(connection).get_table_names())
