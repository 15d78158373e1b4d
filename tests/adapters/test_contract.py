"""The adapter contract: every channel's adapter, behind the shared dispatcher,
against a real receiving end (an SMTP server for email, an HTTP server checking
Standard Webhooks signatures for the webhook channels) that counts what
arrives by the action's key.

Never twice: an action arrives once, through retries, redeliveries and
restarts. Never against consent: what the ledger cancelled, or consent
refused at the moment of sending, does not go out, and the refusal is
recorded with its proof.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from sqlalchemy import select

from tests.adapters.receivers import Receiver
from tests.adapters.scenario import (
    CAMPAIGN,
    T0,
    Dispatchers,
    adapter_of,
    dead_letters,
    dispatch,
    forget_positions,
    forget_timers,
    proof_of,
    publish,
    reports,
    requested,
    row,
    until_settled,
)
from tests.campaign_log import written
from tests.helpers import event
from touchline.adapters.dispatcher import UNDELIVERABLE
from touchline.bootstrap import Backbone
from touchline.events import Identities
from touchline.events.action import ActionRetryDue, ActionSettled
from touchline.events.campaign import CustomerTargeted, OfferResponded
from touchline.events.consent import ConsentRevoked
from touchline.events.instants import from_us
from touchline.processing.clock import ManualClock
from touchline.store import action_ledger as ledger
from touchline.store.tables import campaign_actions

RETRY = ActionRetryDue.type


def _key(runner_adapter_message_id: str | None, action_id: str) -> str:
    return runner_adapter_message_id or action_id


def _outcomes(backbone: Backbone) -> list[str]:
    return [e.payload.outcome for e in reports(backbone) if isinstance(e.payload, ActionSettled)]


def test_an_action_arrives_once_and_shows_on_the_timeline(
    backbone: Backbone,
    receiver: Receiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """Sent once, settled with its proof, on the customer's timeline; a redelivery
    of the action (positions lost in a crash) sends nothing and reports the same event."""
    action_id = requested(backbone, receiver.channel)
    clock.advance(timedelta(minutes=5))
    runner = dispatchers.new()
    dispatch(runner)
    key = _key(adapter_of(runner).adapter.message_id(UUID(action_id)), action_id)
    assert receiver.received() == {key: 1}
    settled = row(backbone, action_id)
    assert (settled.status, settled.attempts) == ("sent", 1)
    assert proof_of(backbone, action_id).campaign_state == "offered"
    assert proof_of(backbone, action_id).refusal is None

    backbone.runtime.catch_up()
    timeline = backbone.queries.timeline(settled.customer_id).entries
    assert [e.type for e in timeline if e.type == "action.settled"] == ["action.settled"]

    forget_positions(backbone, runner)
    dispatch(dispatchers.new())
    assert receiver.received() == {key: 1}
    assert len({e.id for e in reports(backbone)}) == 1
    assert len(reports(backbone)) == 2  # the same event again, which readers skip by id


def test_a_transport_failing_three_times_then_recovering_delivers_once(
    backbone: Backbone,
    receiver: Receiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """Transient refusals are retried after a jittered, growing backoff, the
    action put back meanwhile (the dispatcher reads on); one arrives."""
    action_id = requested(backbone, receiver.channel)
    receiver.refuse(3, receiver.transient)
    runner = dispatchers.new()
    dispatch(runner)
    waiting = row(backbone, action_id)
    assert (waiting.status, waiting.attempts) == (ledger.PENDING, 1)
    assert waiting.reason is not None
    assert receiver.transient.split()[0] in waiting.reason
    assert set(runner.lag().values()) == {0}  # the request read: nothing held behind it
    assert reports(backbone) == []  # nothing final yet
    waits = until_settled(backbone, runner, clock, action_id)
    key = _key(adapter_of(runner).adapter.message_id(UUID(action_id)), action_id)
    assert receiver.received() == {key: 1}
    assert (row(backbone, action_id).status, row(backbone, action_id).attempts) == ("sent", 4)
    assert len(waits) == 3
    for attempt, waited in enumerate(waits, start=1):
        assert timedelta(0) <= waited <= timedelta(seconds=0.5 * 2 ** (attempt - 1))
    assert _outcomes(backbone) == ["sent"]
    retries = [e for e in written(backbone, backbone.settings.topics.actions) if e.type == RETRY]
    assert len(retries) == 3
    assert {e.payload.action_id for e in retries if isinstance(e.payload, ActionRetryDue)} == {
        UUID(action_id)
    }


def test_a_transport_that_keeps_failing_dead_letters_the_action_with_the_reason(
    backbone: Backbone,
    receiver: Receiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """Out of attempts: failed in the ledger, the action in the dead letters, reported."""
    action_id = requested(backbone, receiver.channel)
    receiver.refuse(None, receiver.transient)
    runner = dispatchers.new()
    dispatch(runner)
    assert len(until_settled(backbone, runner, clock, action_id)) == 4
    assert receiver.received() == {}
    failed = row(backbone, action_id)
    assert (failed.status, failed.attempts) == ("failed", 5)
    assert failed.reason is not None
    assert failed.reason.startswith(f"gave up after 5 attempts: {receiver.transient.split()[0]}")
    [letter] = dead_letters(backbone)
    assert letter["code"] == UNDELIVERABLE
    assert letter["reason"] == failed.reason
    assert _outcomes(backbone) == ["failed"]


def test_a_redelivered_request_does_not_cut_a_backoff_short(
    backbone: Backbone,
    receiver: Receiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """The request read again while the action waits (positions lost in a
    crash, and the batch's retry timer with them): no attempt before its
    time, the timer set again from the ledger, the attempts counted on."""
    action_id = requested(backbone, receiver.channel)
    receiver.refuse(1, receiver.transient)
    first = dispatchers.new()
    dispatch(first)
    waiting = row(backbone, action_id)
    assert (waiting.status, waiting.attempts) == (ledger.PENDING, 1)
    forget_positions(backbone, first)
    forget_timers(backbone, first)
    again = dispatchers.new()
    dispatch(again)
    assert row(backbone, action_id) == waiting
    assert receiver.received() == {}
    assert len(until_settled(backbone, again, clock, action_id)) == 1
    key = _key(adapter_of(again).adapter.message_id(UUID(action_id)), action_id)
    assert receiver.received() == {key: 1}
    assert (row(backbone, action_id).status, row(backbone, action_id).attempts) == ("sent", 2)


def test_an_offer_accepted_while_an_action_waits_to_retry_stops_it(
    backbone: Backbone,
    receiver: Receiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """Put back after a transient failure, the action is pending: the
    synchronizer cancels it when the offer is accepted on a call, and the
    retry, when it comes, sends nothing and reports nothing."""
    action_id = requested(backbone, receiver.channel)
    receiver.refuse(1, receiver.transient)
    runner = dispatchers.new()
    dispatch(runner)
    waiting = row(backbone, action_id)
    assert waiting.status == ledger.PENDING
    accepted = OfferResponded(response="accepted", via="phone", offer_code="SPRING10")
    publish(backbone, event(accepted, clock.now(), campaign_id=CAMPAIGN))
    assert row(backbone, action_id).status == ledger.CANCELLED
    assert waiting.not_before_us is not None
    clock.advance(from_us(waiting.not_before_us) - clock.now())
    dispatch(runner)
    assert receiver.received() == {}
    cancelled = row(backbone, action_id)
    assert (cancelled.status, cancelled.attempts, cancelled.reason) == ("cancelled", 1, None)
    assert reports(backbone) == []  # the synchronizer reported the cancel itself
    retries = [e for e in written(backbone, backbone.settings.topics.actions) if e.type == RETRY]
    assert len(retries) == 1  # the retry came, and found it cancelled


def test_a_permanent_refusal_is_not_retried(
    backbone: Backbone,
    receiver: Receiver,
    dispatchers: Dispatchers,
) -> None:
    """A refusal for good (SMTP 5xx, HTTP 4xx) fails at once and goes to the dead letters."""
    action_id = requested(backbone, receiver.channel)
    receiver.refuse(None, receiver.permanent)
    dispatch(dispatchers.new())
    failed = row(backbone, action_id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert [e for e in written(backbone, backbone.settings.topics.actions) if e.type == RETRY] == []
    [letter] = dead_letters(backbone)
    assert receiver.permanent.split()[0] in letter["reason"]


def test_consent_revoked_just_before_the_send_sends_nothing_and_records_the_proof(
    backbone: Backbone,
    receiver: Receiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """The revocation lands after the dispatcher took the action (the synchronizer's
    cancel finds it no longer pending): the check at the send still says no."""
    action_id = requested(backbone, receiver.channel)
    clock.advance(timedelta(minutes=5))
    runner = dispatchers.new()
    dispatching = adapter_of(runner)
    looked_up = dispatching.recipients
    revocation = event(
        ConsentRevoked(contact_channel="all", purpose="marketing"), clock.now(), source="crm"
    )

    def revoked_meanwhile(customer_id: str) -> object:
        assert row(backbone, action_id).status == ledger.DISPATCHING
        publish(backbone, revocation)
        return looked_up(customer_id)

    dispatching.recipients = revoked_meanwhile  # type: ignore[assignment]  # returns the Recipient it wraps
    dispatch(runner)
    assert receiver.received() == {}
    suppressed = row(backbone, action_id)
    assert suppressed.status == "suppressed"
    proof = proof_of(backbone, action_id)
    assert (proof.consent_event, proof.consent_granted) == (str(revocation.id), False)
    assert proof.refusal == suppressed.reason
    assert _outcomes(backbone) == ["suppressed"]


def test_an_action_the_ledger_shows_cancelled_is_not_sent(
    backbone: Backbone,
    receiver: Receiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """Declined on a call before the dispatcher got to it: nothing goes out."""
    action_id = requested(backbone, receiver.channel)
    declined = OfferResponded(response="declined", via="phone", offer_code="SPRING10")
    publish(backbone, event(declined, clock.now() + timedelta(minutes=2), campaign_id=CAMPAIGN))
    assert row(backbone, action_id).status == ledger.CANCELLED
    dispatch(dispatchers.new())
    assert receiver.received() == {}
    assert row(backbone, action_id).status == ledger.CANCELLED
    assert reports(backbone) == []  # the synchronizer reported the cancel itself


def test_an_action_past_its_expiry_is_not_sent(
    backbone: Backbone,
    receiver: Receiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """Stale by the time a dispatcher meets it: cancelled as expired, reported, not sent."""
    action_id = requested(backbone, receiver.channel)
    expires_at_us = row(backbone, action_id).expires_at_us
    assert expires_at_us is not None
    clock.advance(timedelta(days=31))
    dispatch(dispatchers.new())
    assert receiver.received() == {}
    expired = row(backbone, action_id)
    assert (expired.status, expired.reason) == ("cancelled", "expired before it went out")
    assert _outcomes(backbone) == ["cancelled"]


def test_a_restart_after_a_crash_in_flight_does_not_send_twice(
    backbone: Backbone,
    receiver: Receiver,
    dispatchers: Dispatchers,
) -> None:
    """An action left ``dispatching`` is sent again only where the transport
    dedups by key; otherwise its outcome is recorded unknown."""
    action_id = requested(backbone, receiver.channel)
    with backbone.stores["campaigns"].begin() as connection:
        assert ledger.take_all(connection, [action_id], 0)  # the dispatcher that died took it
    runner = dispatchers.new()
    dispatch(runner)
    again = dispatchers.new()
    forget_positions(backbone, again)
    dispatch(again)
    adapter = adapter_of(runner).adapter
    if adapter.dedups_by_key:
        key = _key(adapter.message_id(UUID(action_id)), action_id)
        assert receiver.received() == {key: 1}
    else:
        assert receiver.received() == {}
        assert row(backbone, action_id).status == "unknown"
        assert _outcomes(backbone) == ["unknown", "unknown"]


def test_many_actions_go_out_a_chunk_at_a_time_each_once(
    backbone: Backbone,
    receiver: Receiver,
    dispatchers: Dispatchers,
) -> None:
    """Taken, sent (several at once) and settled a chunk at a time: every
    action arrives once, and each is settled with its own proof."""
    first = requested(backbone, receiver.channel)
    others = [
        event(
            CustomerTargeted(),
            T0 + timedelta(minutes=2),
            identities=Identities(
                email=f"c{i}@example.com", phone=f"+1415555{i:04d}", fax=f"+1415666{i:04d}"
            ),
            campaign_id=CAMPAIGN,
        )
        for i in range(6)
    ]
    publish(backbone, *others)
    with backbone.stores["campaigns"].connect() as connection:
        action_ids = list(connection.execute(select(campaign_actions.c.action_id)).scalars())
    assert first in action_ids
    assert len(action_ids) == 7
    runner = dispatchers.new()
    adapter_of(runner).in_flight = 3  # chunks of 3, 3 and 1
    dispatch(runner)
    adapter = adapter_of(runner).adapter
    keys = [_key(adapter.message_id(UUID(a)), a) for a in action_ids]
    assert receiver.received() == dict.fromkeys(keys, 1)
    assert {row(backbone, a).status for a in action_ids} == {"sent"}
    assert {proof_of(backbone, a).refusal for a in action_ids} == {None}
    settled = [e.payload for e in reports(backbone) if isinstance(e.payload, ActionSettled)]
    assert sorted(str(p.action_id) for p in settled) == sorted(action_ids)
