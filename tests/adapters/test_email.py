"""The email adapter's own promises, at a real SMTP server: the headers a
mailbox provider needs, and customer data escaped in the HTML."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select

from tests.adapters.receivers import SmtpReceiver, running
from tests.adapters.scenario import CAMPAIGN, T0, Dispatchers, dispatch, publish, requested, row
from tests.api.conftest import problem, serving
from tests.helpers import event
from touchline.adapters.email import unsubscribe_token
from touchline.adapters.registry import unsubscribe_key
from touchline.bootstrap import Backbone
from touchline.events import Identities
from touchline.events.campaign import CustomerTargeted
from touchline.store.tables import campaign_actions


@pytest.fixture
def receiver() -> Iterator[SmtpReceiver]:
    """This module is about email: the SMTP server only."""
    yield from running(SmtpReceiver())


def _only_message(receiver: SmtpReceiver) -> EmailMessage:
    [raw] = receiver.handler.messages
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_email_carries_its_ids_and_a_one_click_unsubscribe(
    backbone: Backbone, receiver: SmtpReceiver, dispatchers: Dispatchers
) -> None:
    """Message-ID from the action id; List-Unsubscribe with a signed token and
    List-Unsubscribe-Post as RFC 8058 asks; the campaign's name escaped in HTML."""
    action_id = requested(backbone, "email", name="Spring <sale> & more")
    dispatch(dispatchers.new())
    message = _only_message(receiver)
    assert message["Message-ID"] == f"<{action_id}@shop.example>"
    assert message["To"] == "ann@example.com"
    token = unsubscribe_token(UUID(action_id), unsubscribe_key(backbone))
    assert action_id in token
    url = f"https://touchline.example/v1/unsubscribe/{token}"
    assert message["List-Unsubscribe"] == f"<{url}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None
    assert text is not None
    assert "Spring &lt;sale&gt; &amp; more" in html.get_content()
    assert "<sale>" not in html.get_content()
    assert "Spring <sale> & more" in text.get_content()


def test_a_customer_without_an_email_address_fails_for_good(
    backbone: Backbone, receiver: SmtpReceiver, dispatchers: Dispatchers
) -> None:
    """Nothing to send to: failed at once, undeliverable, no attempt made."""
    requested(backbone, "email")
    phone_only = Identities(phone="+14155550199")
    at = T0 + timedelta(minutes=2)
    publish(backbone, event(CustomerTargeted(), at, identities=phone_only, campaign_id=CAMPAIGN))
    dispatch(dispatchers.new())
    assert len(receiver.handler.messages) == 1  # Ann's, not the other's
    with backbone.stores["campaigns"].connect() as connection:
        rows = connection.execute(select(campaign_actions.c.status, campaign_actions.c.reason))
        statuses = {r.status: r.reason for r in rows}
    assert statuses["sent"] is None
    assert statuses["failed"].startswith("undeliverable: customer ")


def test_the_one_click_link_revokes_email_consent_without_a_key(
    backbone: Backbone, receiver: SmtpReceiver, dispatchers: Dispatchers
) -> None:
    """A POST to the List-Unsubscribe URL, as a mail client sends it (no API key),
    records consent.revoked for the customer; a forged token finds nothing."""
    action_id = requested(backbone, "email")
    dispatch(dispatchers.new())
    link = str(_only_message(receiver)["List-Unsubscribe"]).strip("<>")
    path = urlsplit(link).path
    with serving(backbone) as server, httpx.Client(base_url=server.client.base_url) as anyone:
        one_click = {"List-Unsubscribe": "One-Click"}
        answered = anyone.post(path, data=one_click)
        assert answered.status_code == 200, answered.text
        forged = path[:-1] + ("0" if path[-1] != "0" else "1")
        problem(anyone.post(forged, data=one_click), 404)
    backbone.runtime.catch_up()
    customer_id = row(backbone, action_id).customer_id
    types = [e.type for e in backbone.queries.timeline(customer_id).entries]
    assert types.count("consent.revoked") == 1
    profile = backbone.queries.profile(customer_id)
    assert profile is not None
    [email] = [c for c in profile.consent if c.channel == "email" and c.purpose == "marketing"]
    assert not email.granted


def test_a_relay_that_hangs_up_after_taking_the_message_is_not_sent_to_again(
    backbone: Backbone, receiver: SmtpReceiver, dispatchers: Dispatchers
) -> None:
    """The connection fails after the message went over and before the relay's
    reply: it may have been taken (here it was), so the outcome is unknown
    and no second attempt is made, though attempts were left."""
    action_id = requested(backbone, "email")
    receiver.handler.hang_ups = 1
    dispatch(dispatchers.new())
    assert receiver.received() == {f"<{action_id}@shop.example>": 1}
    settled = row(backbone, action_id)
    assert (settled.status, settled.attempts) == ("unknown", 1)
    assert settled.reason is not None
    assert "not sent again" in settled.reason
