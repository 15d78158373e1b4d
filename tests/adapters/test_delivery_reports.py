"""An ESP's word on an email we sent moves its action in the ledger, forward
only, through the synchronizer on the embedded backbone; redelivered or
replayed, it changes nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete

from tests.adapters.receivers import SmtpReceiver, running
from tests.adapters.scenario import T0, Dispatchers, dispatch, publish, requested, row
from tests.helpers import event
from touchline.bootstrap import Backbone
from touchline.events import Envelope
from touchline.events.campaign import OfferResponded
from touchline.events.email import EmailBounced, EmailDelivered, EmailOpened
from touchline.handlers.synchronizer import SYNCHRONIZER
from touchline.store.tables import projector_positions


@pytest.fixture
def receiver() -> Iterator[SmtpReceiver]:
    """This module is about email: the SMTP server only."""
    yield from running(SmtpReceiver())


def _message_id(action_id: str) -> str:
    return f"<{action_id}@shop.example>"


def _sent(backbone: Backbone, dispatchers: Dispatchers) -> str:
    action_id = requested(backbone, "email")
    dispatch(dispatchers.new())
    assert row(backbone, action_id).status == "sent"
    return action_id


def _replay_the_synchronizer(backbone: Backbone) -> None:
    """Its positions gone (a group reset): it reads every interaction again."""
    with backbone.stores["campaigns"].begin() as connection:
        connection.execute(
            delete(projector_positions).where(projector_positions.c.projector == SYNCHRONIZER)
        )
    backbone.runtime.catch_up()


def test_delivered_then_opened_moves_sent_to_delivered_once(
    backbone: Backbone, receiver: SmtpReceiver, dispatchers: Dispatchers
) -> None:
    """The ESP's delivered moves it; the open, a redelivery and a replay change nothing."""
    action_id = _sent(backbone, dispatchers)
    message_id = _message_id(action_id)
    at = T0 + timedelta(minutes=10)
    delivered = event(EmailDelivered(message_id=message_id), at)
    publish(backbone, delivered)
    moved = row(backbone, action_id)
    assert (moved.status, moved.attempts, moved.reason) == ("delivered", 1, None)
    assert moved.proof is not None  # the dispatcher's proof stays

    publish(backbone, event(EmailOpened(message_id=message_id), at + timedelta(minutes=1)))
    publish(backbone, delivered)
    _replay_the_synchronizer(backbone)
    assert row(backbone, action_id) == moved
    assert receiver.received() == {message_id: 1}


def test_a_hard_bounce_fails_it_with_the_reason_and_nothing_moves_it_back(
    backbone: Backbone, receiver: SmtpReceiver, dispatchers: Dispatchers
) -> None:
    """A soft bounce says nothing yet; a hard one fails it; a late delivered,
    or the whole log again, leaves it failed."""
    action_id = _sent(backbone, dispatchers)
    message_id = _message_id(action_id)
    at = T0 + timedelta(minutes=10)
    publish(backbone, event(EmailBounced(message_id=message_id, bounce="soft"), at))
    assert row(backbone, action_id).status == "sent"
    bounce = EmailBounced(message_id=message_id, bounce="hard", reason="550 5.1.1 no such user")
    publish(backbone, event(bounce, at + timedelta(minutes=1)))
    failed = row(backbone, action_id)
    assert (failed.status, failed.reason) == ("failed", "hard bounce: 550 5.1.1 no such user")
    publish(backbone, event(EmailDelivered(message_id=message_id), at + timedelta(minutes=2)))
    _replay_the_synchronizer(backbone)
    assert row(backbone, action_id) == failed
    assert receiver.received() == {message_id: 1}


def test_a_report_naming_a_cancelled_action_leaves_it_cancelled(
    backbone: Backbone, receiver: SmtpReceiver, dispatchers: Dispatchers
) -> None:
    """Accepted on a call before it went out: cancelled stays cancelled, whatever is said of it."""
    action_id = requested(backbone, "email")
    answer = OfferResponded(offer_code="SPRING10", via="phone", response="accepted")
    at = T0 + timedelta(minutes=5)
    publish(backbone, event(answer, at, campaign_id="spring"))
    assert row(backbone, action_id).status == "cancelled"
    reports: list[Envelope] = [
        event(EmailDelivered(message_id=_message_id(action_id)), at + timedelta(minutes=1)),
        event(
            EmailBounced(message_id=_message_id(action_id), bounce="hard"),
            at + timedelta(minutes=2),
        ),
    ]
    publish(backbone, *reports)
    dispatch(dispatchers.new())
    assert row(backbone, action_id).status == "cancelled"
    assert receiver.received() == {}
