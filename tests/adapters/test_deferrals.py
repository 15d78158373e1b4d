"""Quiet hours and contact pressure found at the moment of sending defer the
action, not suppress it: back to ``pending`` until the refusal passes, then
sent; nothing final is recorded meanwhile. What does not pass by itself
(consent, the campaign) still ends it. Email is the channel (the web's
offers are inbound, and neither rule applies to them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.adapters.receivers import SmtpReceiver, running
from tests.adapters.scenario import (
    T0,
    Dispatchers,
    dispatch,
    proof_of,
    publish,
    reports,
    requested,
    row,
    until_settled,
)
from tests.helpers import ANN, event
from touchline.bootstrap import Backbone
from touchline.events.action import ActionSettled
from touchline.events.call import OutboundCallMade
from touchline.events.campaign_terms import ContactPressure, QuietHours
from touchline.events.consent import ConsentRevoked
from touchline.events.instants import from_us, to_us
from touchline.offers import PRESSURE_REACHED, QUIET_HOURS
from touchline.processing.clock import ManualClock
from touchline.store import action_ledger as ledger

QUIET = QuietHours(start="10:30", end="11:00", timezone="UTC")
"""Half an hour after the campaign's start (T0 is 10:00 UTC): the action is
requested before it, and met by the dispatcher inside it."""


@pytest.fixture
def receiver() -> Iterator[SmtpReceiver]:
    """This module is about email: the SMTP server only."""
    yield from running(SmtpReceiver())


def _outcomes(backbone: Backbone) -> list[str]:
    return [e.payload.outcome for e in reports(backbone) if isinstance(e.payload, ActionSettled)]


def test_quiet_hours_at_the_send_defer_the_action_to_their_end(
    backbone: Backbone, receiver: SmtpReceiver, clock: ManualClock, dispatchers: Dispatchers
) -> None:
    """Met at 10:40, inside 10:30-11:00: put back until 11:00, nothing sent,
    nothing settled; sent once at 11:00, its proof checked then."""
    action_id = requested(backbone, "email", quiet_hours=QUIET)
    clock.advance(timedelta(minutes=40))
    runner = dispatchers.new()
    dispatch(runner)
    deferred = row(backbone, action_id)
    assert (deferred.status, deferred.attempts, deferred.reason) == ("pending", 0, QUIET_HOURS)
    assert deferred.not_before_us == to_us(T0.replace(hour=11))
    assert deferred.proof is None
    assert receiver.received() == {}
    assert reports(backbone) == []
    assert until_settled(backbone, runner, clock, action_id) == [timedelta(minutes=20)]
    assert receiver.received() == {f"<{action_id}@shop.example>": 1}
    sent = row(backbone, action_id)
    assert (sent.status, sent.attempts, sent.reason) == ("sent", 1, None)
    assert proof_of(backbone, action_id).checked_at == T0.replace(hour=11)
    assert _outcomes(backbone) == ["sent"]


def test_contact_pressure_at_the_send_defers_the_action_until_a_slot_frees(
    backbone: Backbone, receiver: SmtpReceiver, clock: ManualClock, dispatchers: Dispatchers
) -> None:
    """One touch in three days: an agent's call after the request took the
    slot, so the email waits until that call leaves the window, then goes."""
    pressure = ContactPressure(touches=1, window_days=3)
    action_id = requested(backbone, "email", pressure=pressure)
    called = T0 + timedelta(minutes=2)
    publish(backbone, event(OutboundCallMade(call_id="c1", duration_seconds=60), called))
    clock.advance(timedelta(minutes=5))
    runner = dispatchers.new()
    dispatch(runner)
    deferred = row(backbone, action_id)
    assert (deferred.status, deferred.reason) == ("pending", PRESSURE_REACHED)
    assert deferred.not_before_us is not None
    assert from_us(deferred.not_before_us) == called + timedelta(days=3, microseconds=1)
    assert receiver.received() == {}
    assert reports(backbone) == []
    assert len(until_settled(backbone, runner, clock, action_id)) == 1
    assert receiver.received() == {f"<{action_id}@shop.example>": 1}
    assert _outcomes(backbone) == ["sent"]


def test_pressure_lasting_past_the_action_s_life_suppresses_it(
    backbone: Backbone, receiver: SmtpReceiver, clock: ManualClock, dispatchers: Dispatchers
) -> None:
    """A slot that frees only after the action expires is no deferral: the
    action is suppressed now, with the refusal in its proof."""
    pressure = ContactPressure(touches=1, window_days=60)
    action_id = requested(backbone, "email", pressure=pressure)
    called = T0 + timedelta(minutes=2)
    publish(backbone, event(OutboundCallMade(call_id="c1", duration_seconds=60), called))
    expires_at_us = row(backbone, action_id).expires_at_us
    assert expires_at_us is not None
    assert expires_at_us < to_us(called + timedelta(days=60))
    clock.advance(timedelta(minutes=5))
    dispatch(dispatchers.new())
    suppressed = row(backbone, action_id)
    assert (suppressed.status, suppressed.reason) == ("suppressed", PRESSURE_REACHED)
    assert proof_of(backbone, action_id).refusal == PRESSURE_REACHED
    assert receiver.received() == {}
    assert _outcomes(backbone) == ["suppressed"]


def test_consent_revoked_while_an_action_is_deferred_ends_it_unsent(
    backbone: Backbone, receiver: SmtpReceiver, clock: ManualClock, dispatchers: Dispatchers
) -> None:
    """Deferred by quiet hours, then Ann opts out: the deferral was nothing
    final, so the synchronizer cancels the pending action (and says why
    itself); when the quiet hours end, nothing is sent or reported."""
    action_id = requested(backbone, "email", quiet_hours=QUIET)
    clock.advance(timedelta(minutes=40))
    runner = dispatchers.new()
    dispatch(runner)
    assert row(backbone, action_id).status == ledger.PENDING
    revoked = ConsentRevoked(contact_channel="email", purpose="marketing")
    publish(backbone, event(revoked, clock.now(), identities=ANN, source="crm"))
    clock.advance(timedelta(minutes=20))
    dispatch(runner)
    assert receiver.received() == {}
    ended = row(backbone, action_id)
    assert (ended.status, ended.reason) == (ledger.CANCELLED, None)
    assert reports(backbone) == []
