"""The dispatcher: one channel's actions from the log to its adapter, never
twice and never against consent (DESIGN.md, "Actions and adapters").

A processor like any other, reading ``touchline.actions`` (so it runs
unchanged wherever processors run), that keeps the ledger itself: the
runner's transaction holds its positions and its retry timers. Per action:

1. take it: ``pending`` -> ``dispatching``, one conditional update committed
   before anything goes out (a cancelled, expired or already taken action
   is not sent, nor one put back for later before its time; the pressure
   slot is the touch the synchronizer reserved under the action id when it
   requested it);
2. check consent, do-not-contact, complaints, pressure and the campaign as
   they are now (:mod:`touchline.adapters.recheck`): a no is ``suppressed``,
   unless it passes by itself at a known time within the action's life
   (quiet hours end, a pressure slot frees), when the action is deferred;
3. send one attempt, the action id as the idempotency key;
4. settle the ledger row with the outcome and the proof, and report it as
   ``action.settled`` on the touchpoints (its id derived from the action id).
   A failure also goes to the dead letters with the reason.

Nothing waits inside a batch. A transient failure with attempts left, or a
deferral, puts the action back: ``pending`` again with its attempts, the
reason and ``not_before`` (the jittered backoff, the refusal's end), in the
ledger, and a timer ``retry:<action id>`` in the runner's transaction that
appends ``action.retry_due`` to ``touchline.actions`` then; this dispatcher
meets it as it met the request. Meanwhile the synchronizer may cancel the
pending action (an offer accepted elsewhere stops the retry). A crash
between the ledger's commit and the runner's replays the batch, which sets
the same timer again from the row. A transient failure means the channel
did not take the message; an outcome the channel cannot tell is settled as
it says (``unknown``) and never retried.

An action found ``dispatching`` was in flight when a dispatcher stopped:
sent again only where the adapter dedups by key, else settled ``unknown``.
A settled action met again (a redelivery after a crash before the runner
committed its position) is reported again from the ledger, under the same
id: byte for byte, unless the channel's own report (an ESP's delivered or
bounce) has moved the row since, when readers keep the first by its id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid5

import msgspec
from sqlalchemy import Connection, Engine

from touchline.adapters.pacing import Backoff, TokenBucket
from touchline.adapters.port import (
    Action,
    Adapter,
    NoRoomYet,
    Recipient,
    Rendered,
    Sent,
    Undeliverable,
)
from touchline.adapters.recheck import Checked, check_all, decode_proof, encode_proof
from touchline.adapters.retries import action_of, no_retry, retry_timer
from touchline.events import Envelope, new_event
from touchline.events.action import ActionOutcome, ActionSettled, ConsentProof
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


def dispatcher_name(channel: str) -> str:
    """The processor name of ``channel``'s dispatcher: its positions and timers go by it."""
    return f"adapter-{channel}"


@dataclass(frozen=True, slots=True)
class _Settle:
    """An outcome to record: ``row`` (as it was: ``was``) becomes ``status``;
    ``pending`` with ``not_before_us``: put back until then."""

    row: ledger.ActionRow
    status: str
    attempts: int
    reason: str | None
    proof: ConsentProof | None
    was: str = ledger.DISPATCHING
    not_before_us: int | None = None


@dataclass(frozen=True, slots=True)
class _NoRoom:
    """Rendered, but no receiver has room for it now (:class:`NoRoomYet`)."""

    reason: str


ROOM_RECHECK = timedelta(minutes=15)
"""How long an action no receiver has room for waits before it is tried
again: leads close as their campaigns convert, or as they age out."""


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
        complaint_window: timedelta = timedelta(days=90),
        resend_in_flight: bool | None = None,
        in_flight: int = 1,
        room_recheck: timedelta = ROOM_RECHECK,
    ) -> None:
        self.adapter = adapter
        self.name = dispatcher_name(adapter.channel)
        self.source_topic = actions_topic
        self.reports_topic = reports_topic
        self.ledger_db = ledger_db
        self.recipients = recipients
        self.clock: Clock = clock or SystemClock()
        self.backoff = backoff or Backoff()
        self.limiter = limiter
        self.complaint_window = complaint_window
        self.room_recheck = room_recheck
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

    @property
    def source(self) -> str:
        return f"touchline-adapter-{self.adapter.channel}"

    def process(self, _connection: Connection, events: Sequence[Envelope]) -> Outcome:
        # The runner's connection keeps the positions and the retry timers:
        # each ledger move commits on its own, before the sends it guards.
        outcome = Outcome.nothing()
        ours = [
            (action_id, event)
            for event in events
            if (action_id := action_of(event, self.adapter.channel)) is not None
        ]
        for start in range(0, len(ours), self.in_flight):
            chunk = ours[start : start + self.in_flight]
            settled = self._dispatch(list(dict.fromkeys(a for a, _ in chunk)))
            done: set[str] = set()  # a request and its retry in one chunk: one word
            for action_id, event in chunk:
                row = settled.get(action_id)
                if row is None or action_id in done:
                    continue  # another dispatcher took it between our read and our take
                done.add(action_id)
                if row.status == ledger.PENDING and row.not_before_us is not None:
                    # Put back now or before (a replay): its timer, as the row says.
                    timer = retry_timer(row, self.source_topic, self.source, event)
                    outcome.timers.append(timer)
                    continue
                if row.status not in FINAL:
                    continue
                if row.not_before_us is not None:
                    outcome.timers.append(no_retry(row))
                if row.status == ledger.CANCELLED and row.reason is None:
                    continue  # the synchronizer cancelled it and said why itself
                message_id = self.adapter.message_id(UUID(row.action_id))
                report = _report(row, self.source, event, message_id)
                key = row.customer_id.encode()
                outcome.emitted.append(Emit(self.reports_topic, key, report))
                if row.status == ledger.FAILED:
                    outcome.rejected.append(Rejected(event, row.reason or "failed", UNDELIVERABLE))
        return outcome

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        self.adapter.close()

    def _dispatch(self, ids: Sequence[str]) -> dict[str, ledger.ActionRow]:
        """The rows of the actions ``ids`` once settled or put back, by
        action id (those missing: not ours to settle)."""
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
                if r.status == ledger.PENDING
                and r.action_id not in expired
                # Put back for later: its timer brings it back, not this event.
                and (r.not_before_us is None or r.not_before_us <= now_us)
            ]
            taken = ledger.take_all(connection, wanted, now_us)
            if len(taken) < len(wanted):  # cancelled meanwhile: as it is now
                rows.update(ledger.load_actions(connection, set(wanted) - taken))
        # Committed: the take guards the sends.
        settles = [
            _Settle(r, "cancelled", r.attempts, "expired before it went out", None, ledger.PENDING)
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
                settles.append(_Settle(r, "unknown", r.attempts + 1, reason, None))
        if sending:
            settles += self._send(sending)
        if settles:
            rows.update(self._settle(settles))
        return rows

    def _render(
        self, rows: Sequence[ledger.ActionRow]
    ) -> list[tuple[ledger.ActionRow, Action, Rendered | str | _NoRoom]]:
        """Each action made for its channel, or why it cannot be (a reason, or no room)."""
        with self.ledger_db.connect() as connection:
            campaigns = stored_campaigns(connection)
        recipients = self.recipients([row.customer_id for row in rows])
        work: list[tuple[ledger.ActionRow, Action, Rendered | str | _NoRoom]] = []
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
            except NoRoomYet as error:
                work.append((row, action, _NoRoom(str(error))))
                continue
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
        return work

    def _send(self, rows: Sequence[ledger.ActionRow]) -> list[_Settle]:
        work = self._render(rows)
        # Checked last, right before the sends: what was true while rendering may not be now.
        with self.ledger_db.connect() as connection:
            checks = check_all(connection, rows, self.clock.now(), self.complaint_window)
        settles: list[_Settle] = []
        going: list[tuple[ledger.ActionRow, Action, Rendered, ConsentProof]] = []
        for row, action, made in work:
            checked = checks[row.action_id]
            proof = checked.proof
            if proof.refusal is not None:
                settles.append(self._refused(row, checked))
            elif isinstance(made, str):
                settles.append(_Settle(row, "failed", row.attempts, made, proof))
            elif isinstance(made, _NoRoom):
                settles.append(self._no_room(row, made.reason, proof))
            else:
                if made.route is not None:
                    proof = msgspec.structs.replace(proof, route=made.route)
                going.append((row, action, made, proof))
        pairs = [(action, rendered) for _row, action, rendered, _proof in going]
        if self._pool is None:
            results = [self._attempt(pair) for pair in pairs]
        else:
            results = list(self._pool.map(self._attempt, pairs))
        for (row, _action, _rendered, proof), sent in zip(going, results, strict=True):
            settles.append(self._outcome(row, sent, proof))
        return settles

    def _refused(self, row: ledger.ActionRow, checked: Checked) -> _Settle:
        """Suppressed for good, or deferred when the refusal passes by itself
        (quiet hours, pressure) before the action expires: nothing final."""
        refusal = checked.proof.refusal
        suppressed = _Settle(row, "suppressed", row.attempts, refusal, checked.proof)
        if checked.passes_at is None:
            return suppressed
        return _put_back(row, to_us(checked.passes_at), refusal, otherwise=suppressed)

    def _no_room(self, row: ledger.ActionRow, reason: str, proof: ConsentProof) -> _Settle:
        """Put back until ``room_recheck`` from now (leads close meanwhile),
        not counted as an attempt; failed if the action expires first."""
        why = f"no room before the action expires: {reason}"
        failed = _Settle(row, "failed", row.attempts, why, proof)
        again_us = to_us(self.clock.now() + self.room_recheck)
        return _put_back(row, again_us, f"waiting for room: {reason}", otherwise=failed)

    def _outcome(self, row: ledger.ActionRow, sent: Sent, proof: ConsentProof) -> _Settle:
        """What one attempt makes of the action: settled, or put back to try again."""
        attempts = row.attempts + 1
        if not (sent.outcome == "failed" and sent.transient):
            return _Settle(row, sent.outcome, attempts, sent.reason, proof)
        if attempts >= self.backoff.attempts:
            reason = f"gave up after {attempts} attempts: {sent.reason}"
            return _Settle(row, "failed", attempts, reason, proof)
        # The channel did not take it: try again after a jittered backoff,
        # the partition meanwhile free for the actions behind it.
        wait = timedelta(seconds=self.backoff.delay(attempts))
        again_us = to_us(self.clock.now() + wait)
        return _Settle(row, ledger.PENDING, attempts, sent.reason, None, not_before_us=again_us)

    def _attempt(self, pair: tuple[Action, Rendered]) -> Sent:
        """One attempt, once the rate limit lets it go."""
        action, rendered = pair
        if self.limiter is not None:
            self.limiter.take()
        return self.adapter.send(action, rendered)

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
                        s.not_before_us,
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


def _put_back(
    row: ledger.ActionRow, until_us: int, reason: str | None, *, otherwise: _Settle
) -> _Settle:
    """``row`` pending again until ``until_us``, not counted as an attempt;
    ``otherwise`` when the action expires by then."""
    if row.expires_at_us is not None and until_us >= row.expires_at_us:
        return otherwise
    return _Settle(row, ledger.PENDING, row.attempts, reason, None, not_before_us=until_us)


def _report(
    row: ledger.ActionRow, source: str, cause: Envelope, message_id: str | None
) -> Envelope:
    """``action.settled`` for a settled row: made from the row alone (and the
    request's correlation, which its retries carry too), so the same row
    always gives the same event, whether a request or a retry met it."""
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
        source=source,
        event_id=uuid5(REPORTS, row.action_id),
        customer_id=row.customer_id,
        campaign_id=row.campaign_id,
        causation_id=UUID(row.action_id),
        correlation_id=cause.correlation_id,
    )
