"""What the campaign rules write: state changes, actions, their cancellations, timers.

Every id derives from the campaign, the customer and what happened (the
transition's number, the step, the timer's due time), and every time from
the causing event, so a replay writes the very same events.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from touchline.events import Envelope, Payload, new_event
from touchline.events.campaign import FollowUpDue, OfferExpired
from touchline.events.campaign_feed import ActionCancelled, CampaignState, CampaignStateChanged
from touchline.handlers.campaign_model import Effects, Ledger, TimerSpec
from touchline.handlers.campaign_records import Pair, Transition

STATES = uuid5(NAMESPACE_URL, "https://touchline.dev/ids/campaign.state_changed")
ACTIONS = uuid5(NAMESPACE_URL, "https://touchline.dev/ids/action.requested")
TIMERS = uuid5(NAMESPACE_URL, "https://touchline.dev/ids/campaign.timers")
SOURCE = "touchline-synchronizer"


class CampaignWrites:
    """One customer's pairs, and the effects their changes make."""

    def __init__(self, customer_id: str, pairs: dict[str, Pair], effects: Effects) -> None:
        self.customer_id = customer_id
        self.pairs = pairs
        self.effects = effects
        self.changed: set[str] = set()
        """Campaigns whose pair changed (to be written back)."""

    def _move(
        self,
        campaign_id: str,
        pair: Pair,
        state: CampaignState,
        event: Envelope,
        at: datetime,
        *,
        via: str | None = None,
        reason: str | None = None,
    ) -> None:
        previous = pair.history[-1].state if pair.history else None
        pair.state = state
        pair.sequence += 1
        transition = Transition(state=state, at=at, caused_by=str(event.id), via=via, reason=reason)
        pair.history.append(transition)
        self.changed.add(campaign_id)
        self._announce(campaign_id, pair, previous, transition, event)

    def restate(self, campaign_id: str, previous: CampaignState | None, cause: Envelope) -> None:
        """Tell the feed where a rebuilt pair stands now (its last transition),
        under its own number and caused by ``cause``: ``previous`` is what the
        feed said last for this (campaign, customer), if it said anything."""
        pair = self.pairs[campaign_id]
        self._announce(campaign_id, pair, previous, pair.history[-1], cause)

    def withdraw(
        self, campaign_id: str, pair: Pair, cause: Envelope, at: datetime, reason: str
    ) -> None:
        """A pair this customer no longer holds: the feed hears it ``suppressed``."""
        self._move(campaign_id, pair, "suppressed", cause, at, reason=reason)

    def cancel(
        self,
        campaign_id: str,
        pair: Pair,
        action_id: str,
        cause: Envelope,
        *,
        at: datetime,
        why: str,
    ) -> None:
        """Cancel a pending action of ``pair`` (see :meth:`_cancel`)."""
        self._cancel(campaign_id, pair, action_id, cause, at=at, why=why)

    def _announce(
        self,
        campaign_id: str,
        pair: Pair,
        previous: CampaignState | None,
        transition: Transition,
        cause: Envelope,
    ) -> None:
        state, reason = transition.state, transition.reason
        amount = (
            None if pair.amount_minor is None or state != "converted" else pair.amount_minor / 100
        )
        change = CampaignStateChanged(
            state=state,
            previous=previous,
            sequence=pair.sequence,
            caused_by=cause.id,
            via=transition.via,
            offer_code=pair.offer_code,
            response="accepted"
            if reason == "accepted"
            else "declined"
            if reason == "declined"
            else None,
            reason=reason,
            made_by=pair.made_by if state == "offered" else None,
            order_id=pair.order_id if state == "converted" else None,
            partner_account=pair.partner_account if state == "converted" else None,
            amount=amount,
            currency=pair.currency if amount is not None else None,
        )
        change_id = uuid5(STATES, f"{campaign_id}/{self.customer_id}/{pair.sequence}")
        self.effects.changes.append(self._event(change, cause, campaign_id, change_id))

    def _cancel(
        self,
        campaign_id: str,
        pair: Pair,
        action_id: str,
        event: Envelope,
        *,
        at: datetime,
        why: str,
    ) -> None:
        if action_id in pair.pending:
            pair.pending.remove(action_id)
        pair.pending_via.pop(action_id, None)
        self.changed.add(campaign_id)
        cancel_id = uuid5(ACTIONS, f"{action_id}/cancelled")
        cancelled = ActionCancelled(action_id=UUID(action_id), reason=why)
        self.effects.actions.append(self._event(cancelled, event, campaign_id, cancel_id))
        self.effects.ledger.append(
            Ledger(action_id, campaign_id, self.customer_id, "", "", 0, "cancelled", at)
        )

    def _expire_at(self, campaign_id: str, due: datetime, event: Envelope) -> None:
        offer = self.pairs[campaign_id].offer_code
        self._timer(campaign_id, "expiry", due, OfferExpired(offer_code=offer), event)

    def _timer(
        self, campaign_id: str, kind: str, due: datetime, payload: Payload, cause: Envelope
    ) -> None:
        """Set (or move) the pair's ``kind`` timer; the pair remembers it, so a
        merge can set it again under the survivor."""
        name = self._timer_name(campaign_id, kind)
        due = due.astimezone(UTC)
        pair = self.pairs[campaign_id]
        if isinstance(payload, FollowUpDue):
            pair.follow_up, pair.follow_up_at = payload, due
        elif kind == "expiry":
            pair.expires_at = due
        timer_id = uuid5(TIMERS, f"{name}/{due.isoformat()}")
        event = new_event(
            payload,
            event_id=timer_id,
            occurred_at=due,
            recorded_at=due,
            source=SOURCE,
            customer_id=self.customer_id,
            campaign_id=campaign_id,
            causation_id=cause.id,
            correlation_id=cause.correlation_id,
        )
        self.effects.timers.append(TimerSpec(name, due, event))

    def _stop_timers(self, campaign_id: str, *kinds: str) -> None:
        pair = self.pairs[campaign_id]
        for kind in kinds:
            self.effects.timers.append(TimerSpec(self._timer_name(campaign_id, kind), None))
            if kind == "follow-up":
                pair.follow_up, pair.follow_up_at = None, None
            else:
                pair.expires_at = None

    def retire_timers(self, campaign_id: str) -> None:
        """Cancel the pair's timers under this customer (merged away), keeping
        what they were for the survivor to set again."""
        for kind in ("follow-up", "expiry"):
            self.effects.timers.append(TimerSpec(self._timer_name(campaign_id, kind), None))

    def adopt(self, campaign_id: str, pair: Pair, cause: Envelope) -> None:
        """Take over a merged customer's pair: its timers go on under this customer."""
        self.pairs[campaign_id] = pair
        self.changed.add(campaign_id)
        if pair.follow_up is not None and pair.follow_up_at is not None:
            self._timer(campaign_id, "follow-up", pair.follow_up_at, pair.follow_up, cause)
        if pair.expires_at is not None:
            offer = OfferExpired(offer_code=pair.offer_code)
            self._timer(campaign_id, "expiry", pair.expires_at, offer, cause)

    def _timer_name(self, campaign_id: str, kind: str) -> str:
        return f"{campaign_id}/{self.customer_id}/{kind}"

    def _event(
        self, payload: Payload, cause: Envelope, campaign_id: str, event_id: UUID
    ) -> Envelope:
        return new_event(
            payload,
            event_id=event_id,
            occurred_at=cause.occurred_at,
            recorded_at=cause.recorded_at or cause.occurred_at,
            source=SOURCE,
            customer_id=self.customer_id,
            campaign_id=campaign_id,
            causation_id=cause.id,
            correlation_id=cause.correlation_id,
        )
