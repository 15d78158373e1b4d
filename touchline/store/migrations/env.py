"""Alembic environment: migrations run on the connection touchline hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from touchline.store.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through `touchline db upgrade`, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
