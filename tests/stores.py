"""The projection stores every projection test runs against.

SQLite always; PostgreSQL from ``TOUCHLINE_TEST_POSTGRES`` (a server URL), the
local server on 127.0.0.1:5432, or testcontainers when a Docker engine
answers. Each test session gets a fresh database on it, dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from testcontainers.community.postgres import PostgresContainer

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _reachable(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


@contextmanager
def _docker_postgres() -> Iterator[str | None]:
    try:
        container = PostgresContainer("postgres:16-alpine", driver="psycopg")
        container.start()
    except Exception:
        yield None
        return
    try:
        yield container.get_connection_url()
    finally:
        container.stop()


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """A PostgreSQL server URL (admin database), or None when none answers."""
    configured = os.environ.get("TOUCHLINE_TEST_POSTGRES")
    if configured:
        yield configured
        return
    if _reachable(LOCAL_POSTGRES):
        yield LOCAL_POSTGRES
        return
    with _docker_postgres() as url:
        yield url


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server; dropped afterwards."""
    name = f"touchline_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection, suppress(OperationalError):
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
