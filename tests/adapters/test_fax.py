"""The fax adapter's own promise, at a real SMTP server: the email-to-fax
gateway gets the customer's fax number as the address, a plain-text cover
and the offer as a PDF, read back as the gateway would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from io import BytesIO

import pytest
from pypdf import PdfReader

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
    cover, pages = message.iter_parts()
    assert cover.get_content_type() == "text/plain"
    assert "SPRING10" in cover.get_content()
    assert pages.get_content_type() == "application/pdf"
    assert pages.get_filename() == "offer-SPRING10.pdf"
    document = PdfReader(BytesIO(pages.get_content()))
    [page] = document.pages
    text = page.extract_text()
    assert "Spring sale: an offer for you" in text
    assert "SPRING10" in text
    assert f"Reference: {action_id}" in text
    assert row(backbone, action_id).status == "sent"
