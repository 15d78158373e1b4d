"""Fixtures for the log suite: one fresh log per engine in the registry.

The contract tests take ``log`` and so run once per engine in ``LOG_ENGINES``
(STYLE practice 6). An engine added there without an entry in
``FRESH_LOG_URLS`` fails every contract test rather than skipping them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from touchline.log import Log
from touchline.log.registry import LOG_ENGINES, open_log


def _fresh_sqlite_url(request: pytest.FixtureRequest) -> str:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return f"sqlite:///{tmp_path / 'log.db'}"


def _fresh_kafka_url(request: pytest.FixtureRequest) -> str:
    # The session's broker outlives the test: the ``topic`` fixture keeps tests
    # apart on it. Short timeouts, so a broker gone wrong fails fast.
    bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    return f"kafka://{bootstrap}?timeout_ms=5000&linger_ms=0"


# How to reach an empty log of each engine. A server-backed engine takes its
# broker from a session fixture, which skips when none answers.
FRESH_LOG_URLS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "kafka": _fresh_kafka_url,
    "sqlite": _fresh_sqlite_url,
}


@pytest.fixture(params=sorted(LOG_ENGINES))
def log(request: pytest.FixtureRequest) -> Iterator[Log]:
    """An open log of each registered engine, closed after the test."""
    engine: str = request.param
    fresh_url = FRESH_LOG_URLS.get(engine)
    if fresh_url is None:
        pytest.fail(f"log engine {engine!r} has no entry in FRESH_LOG_URLS in {__file__}")
    with open_log(fresh_url(request)) as opened:
        yield opened


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses, for engines whose state outlives a test."""
    return f"test-{uuid.uuid4().hex[:12]}"
