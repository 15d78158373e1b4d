"""The dispatcher: one channel's actions from the log to its adapter, never
twice and never against consent (DESIGN.md, "Actions and adapters").

A processor like any other, reading ``touchline.actions`` (so it runs
unchanged wherever processors run), that keeps the ledger itself: the
runner's transaction holds only its positions. Per action:

1. take it: ``pending`` -> ``dispatching``, one conditional update committed
   before anything goes out (a cancelled, expired or already taken action
   is not sent; the pressure slot is the touch the synchronizer reserved
   under the action id when it requested it);
2. check consent, do-not-contact, complaints, pressure and the campaign as
   they are now (:mod:`touchline.adapters.recheck`): a no is ``suppressed``;
3. send, the action id as the idempotency key, retrying a transient failure
   after a jittered backoff up to the policy's attempts;
4. settle the ledger row with the outcome and the proof, and report it as
   ``action.settled`` on the touchpoints (its id derived from the action id).
   A failure also goes to the dead letters with the reason.

An action found ``dispatching`` was in flight when a dispatcher stopped:
sent again only where the adapter dedups by key, else settled ``unknown``.
A settled action met again (a redelivery after a crash before the runner
committed its position) is reported again from the ledger, byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from uuid import UUID, uuid5

import msgspec
from sqlalchemy import Connection, Engine

from touchline.adapters.pacing import Backoff, TokenBucket
from touchline.adapters.port import Action, Adapter, Recipient, Rendered, Sent, Undeliverable
from touchline.adapters.recheck import check, decode_proof, encode_proof
from touchline.events import Envelope, new_event
from touchline.events.action import ActionOutcome, ActionSettled, ConsentProof
from touchline.events.campaign_feed import ActionRequested
from touchline.events.instants import from_us, to_us
from touchline.handlers.campaign_reads import stored_campaigns
from touchline.processing.clock import Clock, SystemClock
from touchline.processing.port import EVENTS, Emit, Outcome, Processor, Rejected, RetryLater
from touchline.store import action_ledger as ledger

REPORTS = UUID("5b0c8a52-4a43-4c55-9d8e-3a2f0f6d7c11")
"""The namespace of report ids: ``uuid5(REPORTS, action id)``."""
UNDELIVERABLE = "undeliverable"
"""The dead-letter code of an action that failed for good."""
OUTCOMES: dict[str, ActionOutcome] = {
    "sent": "sent",
    "delivered": "delivered",
    "failed": "failed",
    "suppressed": "suppressed",
    "cancelled": "cancelled",
    "unknown": "unknown",
}
"""The ledger's final statuses, each an outcome of its own name."""
FINAL = frozenset(OUTCOMES)


class Dispatcher(Processor[Envelope]):
    reads = EVENTS

    def __init__(
        self,
        adapter: Adapter,
        *,
        actions_topic: str,
        reports_topic: str,
        ledger_db: Engine,
        recipients: Callable[[str], Recipient],
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        limiter: TokenBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
        complaint_window: timedelta = timedelta(days=90),
        resend_in_flight: bool | None = None,
    ) -> None:
        self.adapter = adapter
        self.name = f"adapter-{adapter.channel}"
        self.source_topic = actions_topic
        self.reports_topic = reports_topic
        self.ledger_db = ledger_db
        self.recipients = recipients
        self.clock: Clock = clock or SystemClock()
        self.backoff = backoff or Backoff()
        self.limiter = limiter
        self.sleep = sleep
        self.complaint_window = complaint_window
        self.resend_in_flight = (
            adapter.dedups_by_key
            if resend_in_flight is None
            else (resend_in_flight and adapter.dedups_by_key)
        )
        """Whether an action a crash left in flight is sent again: only where
        the transport dedups by key, whatever a campaign asks."""

    def process(self, _connection: Connection, events: Sequence[Envelope]) -> Outcome:
        # The runner's connection keeps only the positions: each ledger move
        # commits on its own, before the send it guards.
        outcome = Outcome.nothing()
        for event in events:
            payload = event.payload
            if not isinstance(payload, ActionRequested) or payload.via != self.adapter.channel:
                continue  # another channel's, or a cancel (the ledger already says so)
            row = self._dispatch(event)
            if row is None or row.status not in FINAL:
                continue  # another dispatcher took it between our read and our take
            if row.status == ledger.CANCELLED and row.reason is None:
                continue  # the synchronizer cancelled it and said why itself
            message_id = self.adapter.message_id(UUID(row.action_id))
            report = _report(row, self.adapter.channel, event, message_id)
            key = row.customer_id.encode()
            outcome.emitted.append(Emit(self.reports_topic, key, report))
            if row.status == "failed":
                outcome.rejected.append(Rejected(event, row.reason or "failed", UNDELIVERABLE))
        return outcome

    def _dispatch(self, event: Envelope) -> ledger.ActionRow | None:
        """The action's ledger row once settled (None: not ours to settle)."""
        action_id = str(event.id)
        now_us = to_us(self.clock.now())
        with self.ledger_db.begin() as connection:
            row = ledger.load_action(connection, action_id)
            if row is None:
                # The synchronizer appends an action before it commits its row.
                raise RetryLater(f"action {action_id} is not in the ledger yet")
            if row.status in FINAL:
                return row
            expired = row.expires_at_us is not None and row.expires_at_us <= now_us
            taken = row.status == ledger.PENDING and not expired
            if taken and not ledger.take(connection, action_id, now_us):
                return ledger.load_action(connection, action_id)  # cancelled meanwhile
        if taken:  # and committed: the take guards the send
            return self._send(row)
        if row.status == ledger.PENDING:
            return self._settle(
                row, "cancelled", 0, "expired before it went out", None, was=row.status
            )
        if not self.resend_in_flight:
            reason = (
                f"in flight when a dispatcher stopped; {self.adapter.channel} "
                "cannot tell a re-send from a new message, so it was not sent again"
            )
            return self._settle(row, "unknown", row.attempts, reason, None)
        return self._send(row)

    def _send(self, row: ledger.ActionRow) -> ledger.ActionRow | None:
        with self.ledger_db.connect() as connection:
            campaign = stored_campaigns(connection).get(row.campaign_id)
        action = Action(
            action_id=UUID(row.action_id),
            campaign_id=row.campaign_id,
            campaign_name=campaign.terms.name if campaign else row.campaign_id,
            customer_id=row.customer_id,
            channel=row.channel,
            offer_code=row.offer_code,
            step=row.step,
            expires_at=None if row.expires_at_us is None else from_us(row.expires_at_us),
            routed_to=row.routed_to,
        )
        rendered: Rendered | None = None
        try:
            rendered = self.adapter.render(action, self.recipients(row.customer_id))
        except Undeliverable as error:
            undeliverable = f"undeliverable: {error}"
        # Checked last, right before the send: what was true while rendering may not be now.
        with self.ledger_db.connect() as connection:
            proof = check(connection, row, self.clock.now(), self.complaint_window)
        if proof.refusal is not None:
            return self._settle(row, "suppressed", 0, proof.refusal, proof)
        if rendered is None:
            return self._settle(row, "failed", 0, undeliverable, proof)
        if rendered.route is not None:
            proof = msgspec.structs.replace(proof, route=rendered.route)
        if rendered.routed_to is not None and rendered.routed_to != row.routed_to:
            # Committed before the send: the receiver's open leads count it,
            # and a re-send after a crash goes to the same receiver.
            with self.ledger_db.begin() as connection:
                ledger.route_to(connection, row.action_id, rendered.routed_to)
        attempts, sent = self._attempts(action, rendered)
        reason = sent.reason
        if sent.outcome == "failed" and sent.transient:
            reason = f"gave up after {attempts} attempts: {sent.reason}"
        return self._settle(row, sent.outcome, attempts, reason, proof)

    def _attempts(self, action: Action, rendered: Rendered) -> tuple[int, Sent]:
        """Send until it is not a transient failure or the attempts run out,
        waiting a jittered backoff between attempts and for the rate limit
        before each; how many attempts, and the last one's answer."""
        attempts, sent = 0, Sent.retry("never tried")
        while attempts < self.backoff.attempts:
            if self.limiter is not None:
                self.limiter.take()
            attempts += 1
            sent = self.adapter.send(action, rendered)
            if not (sent.outcome == "failed" and sent.transient):
                break
            if attempts < self.backoff.attempts:
                self.sleep(self.backoff.delay(attempts))
        return attempts, sent

    def _settle(
        self,
        row: ledger.ActionRow,
        status: str,
        attempts: int,
        reason: str | None,
        proof: ConsentProof | None,
        *,
        was: str = ledger.DISPATCHING,
    ) -> ledger.ActionRow | None:
        at_us = to_us(self.clock.now())
        blob = None if proof is None else encode_proof(proof)
        with self.ledger_db.begin() as connection:
            ledger.settle(
                connection,
                row.action_id,
                status=status,
                at_us=at_us,
                attempts=attempts,
                reason=reason,
                proof=blob,
                was=was,
            )
            return ledger.load_action(connection, row.action_id)


def _report(
    row: ledger.ActionRow, channel: str, cause: Envelope, message_id: str | None
) -> Envelope:
    """``action.settled`` for a settled row: made from the row alone, so the
    same row always gives the same event."""
    at = from_us(row.updated_at_us)
    return new_event(
        ActionSettled(
            action_id=UUID(row.action_id),
            via=row.channel,
            outcome=OUTCOMES[row.status],
            offer_code=row.offer_code,
            attempts=row.attempts,
            reason=row.reason,
            message_id=message_id if row.status in {"sent", "delivered"} else None,
            proof=decode_proof(row.proof),
        ),
        occurred_at=at,
        recorded_at=at,
        source=f"touchline-adapter-{channel}",
        event_id=uuid5(REPORTS, row.action_id),
        customer_id=row.customer_id,
        campaign_id=row.campaign_id,
        causation_id=cause.id,
        correlation_id=cause.correlation_id,
    )
