"""The adapter contract's fixtures: a real receiver per channel, a backbone
on the embedded log, and time that moves only when the dispatcher sleeps."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.adapters.receivers import Receiver, SmtpReceiver, WebhookReceiver, running
from tests.adapters.scenario import Dispatchers, FakeTime
from tests.conftest import TEST_KEY_SECRET
from tests.handlers.conftest import CAMPAIGN_T0
from touchline.adapters.registry import channels
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import load_settings
from touchline.events.consent import ContactChannel
from touchline.processing.clock import ManualClock


def _smtp(channel: ContactChannel) -> Callable[[], Iterator[Receiver]]:
    return lambda: running(SmtpReceiver(channel))


def _webhook(channel: ContactChannel) -> Callable[[], Iterator[Receiver]]:
    return lambda: running(WebhookReceiver(channel))


RECEIVERS = {
    "email": _smtp("email"),
    "fax": _smtp("fax"),
    "phone": _webhook("phone"),
    "partner": _webhook("partner"),
    "web": _webhook("web"),
}


@pytest.fixture(params=channels())
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    """Every registered channel's receiving end (the contract runs on each)."""
    yield from RECEIVERS[request.param]()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(CAMPAIGN_T0)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(13)


@pytest.fixture
def dispatchers(
    backbone: Backbone,
    receiver: Receiver,
    clock: ManualClock,
    fake_time: FakeTime,
    rng: random.Random,
) -> Iterator[Dispatchers]:
    made = Dispatchers(backbone, receiver.channel, clock, fake_time, rng)
    yield made
    made.close()


@pytest.fixture
def backbone(tmp_path: Path, receiver: Receiver, clock: ManualClock) -> Iterator[Backbone]:
    """The embedded backbone, a SQLite file per store (the default layout)."""
    settings = load_settings(
        {},
        data_dir=str(tmp_path / "data"),
        partitions=2,
        batch_size=50,
        key_secret=TEST_KEY_SECRET,
        adapter_attempts=5,
        adapter_backoff_seconds=0.5,
        **receiver.settings(),
    )
    with build_backbone(settings, clock=clock) as backbone:
        yield backbone
