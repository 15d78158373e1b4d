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
committed its position) is reported again from the ledger, under the same
id: byte for byte, unless the channel's own report (an ESP's delivered or
bounce) has moved the row since, when readers keep the first by its id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid5

import msgspec
from sqlalchemy import Connection, Engine

from touchline.adapters.pacing import Backoff, TokenBucket
from touchline.adapters.port import Action, Adapter, Recipient, Rendered, Sent, Undeliverable
from touchline.adapters.recheck import check_all, decode_proof, encode_proof
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


@dataclass(frozen=True, slots=True)
class _Settle:
    """An outcome to record: ``row`` (as it was: ``was``) becomes ``status``."""

    row: ledger.ActionRow
    status: str
    attempts: int
    reason: str | None
    proof: ConsentProof | None
    was: str = ledger.DISPATCHING


class Dispatcher(Processor[Envelope]):
    reads = EVENTS

    def __init__(
        self,
        adapter: Adapter,
        *,
        actions_topic: str,
        reports_topic: str,
        ledger_db: Engine,
        recipients: Callable[[Sequence[str]], Mapping[str, Recipient]],
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        limiter: TokenBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
        complaint_window: timedelta = timedelta(days=90),
        resend_in_flight: bool | None = None,
        in_flight: int = 1,
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
        if in_flight < 1:
            raise ValueError("at least one action in flight")
        self.in_flight = in_flight
        """Actions taken at once: what a crash can leave ``dispatching``."""
        self._pool = (
            ThreadPoolExecutor(adapter.parallel, thread_name_prefix=self.name)
            if adapter.parallel > 1
            else None
        )

    def process(self, _connection: Connection, events: Sequence[Envelope]) -> Outcome:
        # The runner's connection keeps only the positions: each ledger move
        # commits on its own, before the sends it guards.
        outcome = Outcome.nothing()
        ours = [
            event
            for event in events
            if isinstance(event.payload, ActionRequested)
            and event.payload.via == self.adapter.channel
        ]  # not another channel's, nor a cancel (the ledger already says so)
        for start in range(0, len(ours), self.in_flight):
            chunk = ours[start : start + self.in_flight]
            settled = self._dispatch(chunk)
            for event in chunk:
                row = settled.get(str(event.id))
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

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        self.adapter.close()

    def _dispatch(self, chunk: Sequence[Envelope]) -> dict[str, ledger.ActionRow]:
        """The chunk's ledger rows once settled, by action id (those missing:
        not ours to settle)."""
        ids = list(dict.fromkeys(str(event.id) for event in chunk))
        now_us = to_us(self.clock.now())
        with self.ledger_db.begin() as connection:
            rows = ledger.load_actions(connection, ids)
            if len(rows) < len(ids):
                # The synchronizer appends an action before it commits its row.
                missing = next(i for i in ids if i not in rows)
                raise RetryLater(f"action {missing} is not in the ledger yet")
            open_ = [r for r in rows.values() if r.status not in FINAL]
            expired = {
                r.action_id
                for r in open_
                if r.status == ledger.PENDING
                and r.expires_at_us is not None
                and r.expires_at_us <= now_us
            }
            wanted = [
                r.action_id
                for r in open_
                if r.status == ledger.PENDING and r.action_id not in expired
            ]
            taken = ledger.take_all(connection, wanted, now_us)
            if len(taken) < len(wanted):  # cancelled meanwhile: as it is now
                rows.update(ledger.load_actions(connection, set(wanted) - taken))
        # Committed: the take guards the sends.
        settles = [
            _Settle(r, "cancelled", 0, "expired before it went out", None, was=ledger.PENDING)
            for r in open_
            if r.action_id in expired
        ]
        sending = [r for r in open_ if r.action_id in taken]
        for r in open_:
            if r.status != ledger.DISPATCHING:
                continue
            if self.resend_in_flight:
                sending.append(r)
            else:
                reason = (
                    f"in flight when a dispatcher stopped; {self.adapter.channel} "
                    "cannot tell a re-send from a new message, so it was not sent again"
                )
                settles.append(_Settle(r, "unknown", r.attempts, reason, None))
        if sending:
            settles += self._send(sending)
        if settles:
            rows.update(self._settle(settles))
        return rows

    def _send(self, rows: Sequence[ledger.ActionRow]) -> list[_Settle]:
        with self.ledger_db.connect() as connection:
            campaigns = stored_campaigns(connection)
        recipients = self.recipients([row.customer_id for row in rows])
        work: list[tuple[ledger.ActionRow, Action, Rendered | str]] = []
        for row in rows:
            campaign = campaigns.get(row.campaign_id)
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
            try:
                rendered = self.adapter.render(action, recipients[row.customer_id])
            except Undeliverable as error:
                work.append((row, action, f"undeliverable: {error}"))
                continue
            if rendered.routed_to is not None and rendered.routed_to != row.routed_to:
                # Committed before the send, and before the next render: the
                # receiver's open leads count it (a chunk does not overfill a
                # partner), and a re-send after a crash goes to the same one.
                with self.ledger_db.begin() as connection:
                    ledger.route_to(connection, row.action_id, rendered.routed_to)
            work.append((row, action, rendered))
        # Checked last, right before the sends: what was true while rendering may not be now.
        with self.ledger_db.connect() as connection:
            proofs = check_all(connection, rows, self.clock.now(), self.complaint_window)
        settles: list[_Settle] = []
        going: list[tuple[ledger.ActionRow, Action, Rendered, ConsentProof]] = []
        for row, action, made in work:
            proof = proofs[row.action_id]
            if proof.refusal is not None:
                settles.append(_Settle(row, "suppressed", 0, proof.refusal, proof))
            elif isinstance(made, str):
                settles.append(_Settle(row, "failed", 0, made, proof))
            else:
                if made.route is not None:
                    proof = msgspec.structs.replace(proof, route=made.route)
                going.append((row, action, made, proof))
        pairs = [(action, rendered) for _row, action, rendered, _proof in going]
        if self._pool is None:
            results = [self._attempts(pair) for pair in pairs]
        else:
            results = list(self._pool.map(self._attempts, pairs))
        for (row, _action, _rendered, proof), (attempts, sent) in zip(going, results, strict=True):
            reason = sent.reason
            if sent.outcome == "failed" and sent.transient:
                reason = f"gave up after {attempts} attempts: {sent.reason}"
            settles.append(_Settle(row, sent.outcome, attempts, reason, proof))
        return settles

    def _attempts(self, pair: tuple[Action, Rendered]) -> tuple[int, Sent]:
        """Send until it is not a transient failure or the attempts run out,
        waiting a jittered backoff between attempts and for the rate limit
        before each; how many attempts, and the last one's answer."""
        action, rendered = pair
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

    def _settle(self, settles: Sequence[_Settle]) -> dict[str, ledger.ActionRow]:
        """Record every outcome in one transaction: the rows as they are then."""
        at_us = to_us(self.clock.now())
        with self.ledger_db.begin() as connection:
            ledger.settle_all(
                connection,
                [
                    ledger.Settlement(
                        s.row.action_id,
                        s.status,
                        s.attempts,
                        s.reason,
                        None if s.proof is None else encode_proof(s.proof),
                        s.was,
                    )
                    for s in settles
                ],
                at_us,
            )
            rows = ledger.load_actions(connection, [s.row.action_id for s in settles])
            for s in settles:
                now = rows[s.row.action_id]
                if s.status == ledger.SENT and now.status != ledger.SENT and now.proof is None:
                    # The channel's report (an ESP's delivered, read by the
                    # synchronizer) outran this settle: its word on the status
                    # stands, and the proof of what was checked joins it.
                    blob = None if s.proof is None else encode_proof(s.proof)
                    ledger.fill_in(connection, s.row.action_id, attempts=s.attempts, proof=blob)
                    rows[s.row.action_id] = ledger.load_action(connection, s.row.action_id) or now
            return rows


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
