"""``touchline lag`` shows the configured channels' dispatchers beside the
processors: how far each is behind on the actions, and what waits, put back
for a retry, so an operator sees when sending falls behind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.adapters.receivers import SECRET, SmtpReceiver, running
from tests.adapters.scenario import T0, dispatch, requested, row
from tests.conftest import TEST_KEY_SECRET
from touchline.adapters.registry import Pacing, close_adapters, dispatcher_runners
from touchline.bootstrap import Backbone, build_backbone
from touchline.cli import main
from touchline.config import load_settings
from touchline.events.instants import from_us
from touchline.processing.clock import ManualClock
from touchline.store import action_ledger as ledger


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    yield from running(SmtpReceiver())


@pytest.fixture
def backbone(
    data_dir: Path, smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backbone]:
    """Email configured (it always is), the other channels not: set in the
    environment, which ``touchline lag`` reads as the operator's shell would."""
    environment = {
        "TOUCHLINE_DATA_DIR": str(data_dir),
        "TOUCHLINE_PARTITIONS": "2",
        "TOUCHLINE_KEY_SECRET": TEST_KEY_SECRET,
        "TOUCHLINE_SMTP_HOST": "127.0.0.1",
        "TOUCHLINE_SMTP_PORT": str(smtp.port),
        "TOUCHLINE_EMAIL_DOMAIN": "shop.example",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for name in ("TOUCHLINE_CONTACT_CENTRE_URL", "TOUCHLINE_FAX_GATEWAY_DOMAIN"):
        monkeypatch.delenv(name, raising=False)
    with build_backbone(load_settings()) as backbone:
        yield backbone


def _lag(capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["lag"]) == 0
    return capsys.readouterr().out.splitlines()


def _section(lines: list[str], name: str) -> list[str]:
    """The lines about one processor: its heading and the indented ones after it."""
    [start] = [i for i, line in enumerate(lines) if line.startswith(f"{name} on ")]
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), None)
    return lines[start:end]


def test_lag_shows_the_configured_dispatchers_and_what_waits_for_a_retry(
    backbone: Backbone,
    smtp: SmtpReceiver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before the email dispatcher ran, its action is a record behind; after
    a transient refusal it is read and put back, which lag says, with when;
    an unconfigured channel is not shown until it is configured."""
    action_id = requested(backbone, "email")
    before = _lag(capsys)
    email = _section(before, "adapter-email")
    assert email[0] == "adapter-email on touchline.actions: 1 records behind"
    partitions = [line for line in email[1:] if line.startswith("  partition ")]
    assert sorted(line.split(": ")[1] for line in partitions) == ["0", "1"]  # two partitions
    assert email[-1] == "  these actions go out when `touchline adapters` runs"
    assert not [line for line in before if line.startswith("adapter-phone")]

    smtp.refuse(1, smtp.transient)
    clock = ManualClock(T0 + timedelta(minutes=5))
    runners = dispatcher_runners(backbone, only=["email"], pacing=Pacing(clock=clock))
    try:
        dispatch(runners[0])
    finally:
        close_adapters(runners)
    waiting = row(backbone, action_id)
    assert waiting.status == ledger.PENDING
    assert waiting.not_before_us is not None
    after = _section(_lag(capsys), "adapter-email")
    assert after[0] == "adapter-email on touchline.actions: 0 records behind"
    assert "  these actions go out when `touchline adapters` runs" not in after
    due = from_us(waiting.not_before_us)
    assert (
        f"  put back: 1 actions waiting to be tried again (the next at {due:%Y-%m-%d %H:%M:%S} UTC)"
        in after
    )

    monkeypatch.setenv("TOUCHLINE_CONTACT_CENTRE_URL", "http://127.0.0.1:9/tasks")
    monkeypatch.setenv("TOUCHLINE_CONTACT_CENTRE_SECRET", SECRET)
    phone = _section(_lag(capsys), "adapter-phone")
    assert phone[0] == "adapter-phone on touchline.actions: 1 records behind"
