"""The `runtime` fixture: every scenario on the embedded log and on Kafka;
and the campaign scenarios' embedded backbone on an injected clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import Settings, Topics, load_settings
from touchline.processing.clock import ManualClock

RUNTIMES = ["embedded", "kafka"]
CAMPAIGN_T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
"""Where the campaign scenarios' clock starts."""


def kafka_env(bootstrap: str, settings: Settings, tmp_path: Path) -> dict[str, str]:
    """Settings for a test of its own on a shared broker: topics and group unique."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    env = {
        "TOUCHLINE_LOG_URL": f"kafka://{bootstrap}",
        "TOUCHLINE_DATABASE_URL": settings.resolved_database_url,
        "TOUCHLINE_DATA_DIR": str(tmp_path / "kafka-data"),
        "TOUCHLINE_PARTITIONS": str(settings.partitions),
        "TOUCHLINE_BATCH_SIZE": str(settings.batch_size),
        "TOUCHLINE_GROUP": prefix,
        "TOUCHLINE_KEY_SECRET": settings.key_secret,
        # The broker holds a join for half the session timeout: keep it short.
        "TOUCHLINE_SESSION_TIMEOUT": "3",
    }
    for name in Topics.__struct_fields__:
        env[f"TOUCHLINE_TOPIC_{name.upper()}"] = f"{prefix}.{name}"
    return env


@pytest.fixture(params=RUNTIMES)
def runtime(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> Iterator[EmbeddedRuntime | KafkaRuntime]:
    """A backbone on each runtime; on Kafka a real worker process runs the processors."""
    if request.param == "embedded":
        embedded = EmbeddedRuntime(build_backbone(settings))
        yield embedded
        embedded.close()
        return
    bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    env = kafka_env(bootstrap, settings, tmp_path)
    # The test's backbone migrates and creates the topics before the worker starts.
    kafka = KafkaRuntime(build_backbone(load_settings(env)), env)
    kafka.start_worker()
    yield kafka
    kafka.close()


@pytest.fixture
def kafka(kafka_bootstrap: str, settings: Settings, tmp_path: Path) -> Iterator[KafkaRuntime]:
    """A Kafka backbone whose worker the test starts, stops or kills itself."""
    env = kafka_env(kafka_bootstrap, settings, tmp_path)
    runtime = KafkaRuntime(build_backbone(load_settings(env)), env)
    yield runtime
    runtime.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(CAMPAIGN_T0)


@pytest.fixture
def backbone(settings: Settings, clock: ManualClock) -> Iterator[Backbone]:
    """An embedded backbone on each store; its timers fire only when ``clock`` moves."""
    with build_backbone(settings, clock=clock) as backbone:
        yield backbone
