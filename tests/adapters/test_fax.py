"""The fax adapter's own promise, at a real SMTP server: the email-to-fax
gateway gets the customer's fax number as the address, plain text only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy

import pytest

from tests.adapters.receivers import SmtpReceiver, running
from tests.adapters.scenario import ANN_FAX, Dispatchers, dispatch, requested, row
from touchline.bootstrap import Backbone
from touchline.processing.clock import ManualClock


@pytest.fixture
def receiver() -> Iterator[SmtpReceiver]:
    yield from running(SmtpReceiver("fax"))


def test_a_fax_goes_to_the_number_at_the_gateway(
    backbone: Backbone,
    receiver: SmtpReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    action_id = requested(backbone, "fax")
    clock.advance(timedelta(minutes=5))
    dispatch(dispatchers.new())
    [raw] = receiver.handler.messages
    message = message_from_bytes(raw, policy=policy.default)
    assert message["To"] == f"{ANN_FAX.lstrip('+')}@fax.example"
    assert message["Message-ID"] == f"<{action_id}@shop.example>"
    assert message["List-Unsubscribe"] is None
    assert message.get_content_type() == "text/plain"
    assert "SPRING10" in message.get_content()
    assert row(backbone, action_id).status == "sent"
