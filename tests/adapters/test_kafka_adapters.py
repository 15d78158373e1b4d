"""``touchline adapters`` on Kafka: the dispatchers as a Faust app of their own
group, sending what the synchronizer asked, once."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adapters.receivers import SmtpReceiver, running
from tests.adapters.scenario import requested, row
from tests.adapters.test_cli_adapters import Adapters
from tests.conftest import TEST_KEY_SECRET
from tests.handlers.conftest import kafka_env
from touchline.bootstrap import build_backbone
from touchline.config import load_settings
from touchline.processing.embedded import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    yield from running(SmtpReceiver())


def test_touchline_adapters_sends_on_kafka(
    kafka_bootstrap: str, tmp_path: Path, smtp: SmtpReceiver
) -> None:
    """The synchronizer's action (applied here, on the Kafka log) goes out once."""
    settings = load_settings(
        {},
        data_dir=str(tmp_path / "data"),
        database_url=f"sqlite:///{tmp_path / 'touchline.db'}",
        partitions=2,
        key_secret=TEST_KEY_SECRET,
    )
    env = {
        **os.environ,
        **kafka_env(kafka_bootstrap, settings, tmp_path),
        "TOUCHLINE_SMTP_HOST": "127.0.0.1",
        "TOUCHLINE_SMTP_PORT": str(smtp.port),
        "TOUCHLINE_EMAIL_DOMAIN": "shop.example",
    }
    with build_backbone(load_settings(env)) as backbone:
        action_id = requested(backbone, "email")
        adapters = Adapters(env)
        try:
            assert wait_until(lambda: row(backbone, action_id).status == "sent", timeout=90)
        finally:
            assert adapters.stop(signal.SIGTERM) == 0
    assert smtp.received() == {f"<{action_id}@shop.example>": 1}
