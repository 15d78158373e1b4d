"""``touchline adapters`` as a process: it sends until stopped, and a kill -9
in the middle of a send never leads to a second email (and re-sends a
webhook under the same webhook-id, which the receiver dedups by)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adapters.receivers import SECRET, SmtpReceiver, WebhookReceiver, running
from tests.adapters.scenario import requested, row
from tests.commands import Running
from tests.conftest import TEST_KEY_SECRET
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import load_settings
from touchline.processing.embedded import wait_until
from touchline.store import action_ledger as ledger

pytestmark = pytest.mark.slow


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    yield from running(SmtpReceiver())


@pytest.fixture
def env(tmp_path: Path, smtp: SmtpReceiver) -> dict[str, str]:
    return {
        **os.environ,
        "TOUCHLINE_DATA_DIR": str(tmp_path / "data"),
        "TOUCHLINE_PARTITIONS": "2",
        "TOUCHLINE_KEY_SECRET": TEST_KEY_SECRET,
        "TOUCHLINE_SMTP_HOST": "127.0.0.1",
        "TOUCHLINE_SMTP_PORT": str(smtp.port),
        "TOUCHLINE_EMAIL_DOMAIN": "shop.example",
    }


@pytest.fixture
def backbone(env: dict[str, str]) -> Iterator[Backbone]:
    with build_backbone(load_settings(env)) as backbone:
        yield backbone


class Adapters(Running):
    """A ``touchline adapters`` process."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env, "adapters")


def test_touchline_adapters_sends_until_interrupted(
    backbone: Backbone, smtp: SmtpReceiver, env: dict[str, str]
) -> None:
    """The action goes out once; SIGTERM stops the process cleanly."""
    action_id = requested(backbone, "email")
    process = Adapters(env)
    try:
        assert wait_until(lambda: row(backbone, action_id).status == "sent", timeout=60)
    finally:
        code = process.stop(signal.SIGTERM)
    assert code == 0
    assert smtp.received() == {f"<{action_id}@shop.example>": 1}


def test_a_kill_in_the_middle_of_a_send_never_sends_twice(
    backbone: Backbone, smtp: SmtpReceiver, env: dict[str, str]
) -> None:
    """Killed -9 while the relay holds the message (it may yet deliver it, or
    not: the sender cannot know), the restarted adapters record the outcome
    unknown and send nothing: one message ever reached the relay."""
    gate = threading.Event()
    smtp.handler.gate = gate
    action_id = requested(backbone, "email")
    try:
        first = Adapters(env)
        try:
            assert smtp.handler.waiting.wait(timeout=60)
            assert row(backbone, action_id).status == ledger.DISPATCHING
        finally:
            first.stop(signal.SIGKILL)
        second = Adapters(env)
        try:
            assert wait_until(lambda: row(backbone, action_id).status == "unknown", timeout=60)
        finally:
            assert second.stop(signal.SIGTERM) == 0
        assert smtp.handler.arrivals == 1
    finally:
        gate.set()


@pytest.fixture
def contact_centre() -> Iterator[WebhookReceiver]:
    yield from running(WebhookReceiver("phone"))


def test_a_kill_in_the_middle_of_a_webhook_resends_it_under_the_same_id(
    backbone: Backbone,
    contact_centre: WebhookReceiver,
    env: dict[str, str],
) -> None:
    """Killed -9 while the receiver holds the call task, the restarted adapters
    send it again (the transport dedups by key): every arrival carries the
    action id as its webhook-id and the same body, and the action is sent."""
    env = {
        **env,
        "TOUCHLINE_CONTACT_CENTRE_URL": contact_centre.url,
        "TOUCHLINE_CONTACT_CENTRE_SECRET": SECRET,
    }
    gate = threading.Event()
    contact_centre.gate = gate
    action_id = requested(backbone, "phone")
    try:
        first = Adapters(env)
        try:
            assert contact_centre.waiting.wait(timeout=60)
            assert row(backbone, action_id).status == ledger.DISPATCHING
        finally:
            first.stop(signal.SIGKILL)
        second = Adapters(env)
        try:
            assert wait_until(lambda: row(backbone, action_id).status == "sent", timeout=60)
        finally:
            assert second.stop(signal.SIGTERM) == 0
    finally:
        gate.set()
    assert wait_until(lambda: contact_centre.received() == {action_id: 2}, timeout=30)
    first_body, second_body = contact_centre.bodies
    assert first_body == second_body
