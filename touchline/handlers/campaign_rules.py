"""The campaign synchronizer's rules for one customer: pure decisions, no I/O.

:class:`CustomerCampaigns` takes one customer's events in log order and moves
each of their campaigns through targeted -> offered -> engaged -> responded /
converted / suppressed / expired, keeping the contact facts every campaign
shares (consent, do-not-contact, complaints, contact pressure). What it
decides goes into :class:`Effects`: the state changes for the feed, the
actions for the adapters and their cancellations, and timers.

Everything it writes is derived from what it read: ids from the campaign,
the customer and the step (an action's id is its idempotency key), times
from the causing event (a timer's event from its due time). So a replay of
the same log, in any batch sizes, writes the very same events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from uuid import uuid5

from touchline.events import Envelope, Payload
from touchline.events.campaign import (
    CampaignConverted,
    CustomerTargeted,
    FollowUpDue,
    OfferExpired,
    OfferMade,
    OfferResponded,
)
from touchline.events.campaign_feed import (
    ActionRequested,
    CampaignState,
)
from touchline.events.consent import (
    ConsentGranted,
    ConsentRevoked,
    DoNotContactCleared,
    DoNotContactSet,
)
from touchline.events.email import EmailClicked, EmailComplained, EmailReplied, EmailUnsubscribed
from touchline.events.order import OrderPlaced
from touchline.events.partner import PartnerOrderPlaced
from touchline.events.service import CaseOpened
from touchline.events.web import PageViewed
from touchline.handlers.campaign_model import (
    Campaign,
    Effects,
    Ledger,
    pressure_wait,
    quiet_until,
    shows_offer,
)
from touchline.handlers.campaign_records import ACTIVE, Decision, Facts, Pair
from touchline.handlers.campaign_writes import ACTIONS, CampaignWrites

ACTION_LIFETIME = timedelta(days=30)
"""How long an adapter may carry out an action whose offer and campaign set no end."""

TOUCHES = frozenset(
    {"email.sent", "fax.sent", "call.outbound_made", "sales.visit_logged", "sales.quote_sent"}
)
"""Outbound contacts that count as pressure, whoever made them; an offer an
agent or rep made (``campaign.offer_made`` with ``made_by``) counts too.
Inbound contacts the customer started never count."""


class CustomerCampaigns(CampaignWrites):
    """One customer's campaigns and contact facts, moved by their events."""

    def __init__(
        self,
        customer_id: str,
        *,
        facts: Facts,
        pairs: dict[str, Pair],
        campaigns: Mapping[str, Campaign],
        complaint_window: timedelta,
        effects: Effects,
    ) -> None:
        super().__init__(customer_id, pairs, effects)
        self.facts = facts
        self.campaigns = campaigns
        self.complaint_window = complaint_window

    def apply(self, event: Envelope) -> str | None:
        """Fold ``event`` in; a reason when it must be refused."""
        at = event.occurred_at.astimezone(UTC)
        payload = event.payload
        self._contact_facts(event, payload, at)
        if payload.type in TOUCHES or (isinstance(payload, OfferMade) and payload.made_by):
            # An adapter's report of our own action (caused by it) is the touch
            # reserved when the action was requested, not a second one.
            cause = str(event.causation_id)
            touch = cause if cause in self.facts.touches else str(event.id)
            self.facts.keep("touch", touch, at, payload.channel)
        match payload:
            case CustomerTargeted():
                return self._target(event, at)
            case OfferMade() as made:
                self._made_elsewhere(event, at, made)
            case EmailClicked():
                self._engaged(self._pair_of(event, arriving_early=True), event, at, "email")
            case PageViewed() as viewed:
                for campaign_id in self._pages_matching(viewed.url):
                    self._engaged(campaign_id, event, at, "web")
            case OfferResponded() as answer:
                answered = self._pair_of(event, arriving_early=True)
                self._respond(answered, event, at, answer.via, answer.response)
            case EmailReplied():
                self._respond(self._pair_of(event, arriving_early=True), event, at, "email", None)
            case OfferExpired():
                self._end(self._pair_of(event), event, at, "expired", "offer_expired")
            case FollowUpDue() as due:
                self._step_due(self._pair_of(event), event, at, due.step)
            case CampaignConverted() | OrderPlaced() | PartnerOrderPlaced():
                self._convert(event, at, payload)
        return None

    # --- contact facts -------------------------------------------------------------

    def _contact_facts(self, event: Envelope, payload: Payload, at: datetime) -> None:
        event_id = str(event.id)
        match payload:
            case ConsentGranted() | ConsentRevoked() as consent:
                granted = isinstance(consent, ConsentGranted)
                key = f"{consent.contact_channel}/{consent.purpose}"
                self.facts.decide(key, Decision(active=granted, at=at, event_id=event_id))
                if not granted:
                    self._opted_out(consent.contact_channel, consent.purpose, event, at)
            case EmailUnsubscribed() | EmailComplained():
                no = Decision(active=False, at=at, event_id=event_id)
                self.facts.decide("email/marketing", no)
                self._opted_out("email", "marketing", event, at)
                if isinstance(payload, EmailComplained):
                    self._complaint(event, at)
            case CaseOpened(is_complaint=True):
                self._complaint(event, at)
            case DoNotContactSet() | DoNotContactCleared():
                setting = isinstance(payload, DoNotContactSet)
                until = payload.until if isinstance(payload, DoNotContactSet) else None
                change = Decision(active=setting, at=at, event_id=event_id, until=until)
                self.facts.decide_do_not_contact(change)
                self.honour_do_not_contact(event, at)

    def honour_do_not_contact(self, event: Envelope, at: datetime) -> None:
        """Under do-not-contact at ``at``, every active campaign is suppressed."""
        if self.facts.do_not_contact_at(at):
            for campaign_id in self._active():
                self._end(campaign_id, event, at, "suppressed", "do_not_contact")

    def _opted_out(self, channel: str, purpose: str, event: Envelope, at: datetime) -> None:
        """Cancel what is pending through ``channel``; suppress a campaign left with no channel."""
        for campaign_id in self._active():
            terms = self.campaigns[campaign_id].terms
            if terms.consent_purpose != purpose:
                continue
            pair = self.pairs[campaign_id]
            for action_id, via in list(pair.pending_via.items()):
                # A late revocation older than a newer grant refuses nothing.
                if channel in ("all", via) and self.facts.refuses(via, purpose):
                    self._cancel(
                        campaign_id, pair, action_id, event, at=at, why=f"opted_out_of_{via}"
                    )
            if all(self.facts.refuses(c, purpose) for c in terms.eligible()):
                self._end(campaign_id, event, at, "suppressed", "opted_out")

    def _complaint(self, event: Envelope, at: datetime) -> None:
        self.facts.keep("complaint", str(event.id), at)
        for campaign_id in self._active():
            if self.campaigns[campaign_id].terms.complaint_pauses:
                self._end(campaign_id, event, at, "suppressed", "recent_complaint")

    # --- one campaign ----------------------------------------------------------------

    def _target(self, event: Envelope, at: datetime) -> str | None:
        campaign_id = event.campaign_id
        campaign = self.campaigns.get(campaign_id or "")
        if campaign_id is None or campaign is None:
            return f"campaign {campaign_id!r} was never launched (campaign.launched comes first)"
        if campaign_id in self.pairs:
            return None  # targeted already: nothing changes
        pair = self._open(campaign_id)
        self._move(campaign_id, pair, "targeted", event, at)
        blocked = self._blocked(campaign, at)
        if blocked is not None:
            state: CampaignState = "expired" if blocked == "campaign_ended" else "suppressed"
            self._end(campaign_id, event, at, state, blocked)
            return None
        if campaign.terms.ends_at is not None:
            self._expire_at(campaign_id, campaign.terms.ends_at, event)
        self._follow_up(campaign_id, pair, 0, event, at)  # the first step counts from targeting
        return None

    def _blocked(self, campaign: Campaign, at: datetime) -> str | None:
        """Why nothing may go out now, for the campaign as a whole."""
        terms = campaign.terms
        if campaign.ended_by(at):
            return "campaign_ended"
        if self.facts.do_not_contact_at(at):
            return "do_not_contact"
        if terms.complaint_pauses and self.facts.complained_since(at - self.complaint_window):
            return "recent_complaint"
        if all(self.facts.refuses(c, terms.consent_purpose) for c in terms.eligible()):
            return "opted_out"
        return None

    def _carry_out(
        self, campaign_id: str, pair: Pair, step: int, event: Envelope, at: datetime
    ) -> None:
        """Step ``step`` of the sequence now, or a timer for when it may go."""
        campaign = self.campaigns[campaign_id]
        terms = campaign.terms
        if step >= len(terms.sequence):
            return
        channel = terms.sequence[step].channel
        pair.step = step
        self.changed.add(campaign_id)
        if self.facts.refuses(channel, terms.consent_purpose):
            self._follow_up(campaign_id, pair, step + 1, event, at)  # skip a refused channel
            return
        wait = pressure_wait(self.facts, terms, at) or quiet_until(terms.quiet_hours, at)
        if wait is not None:
            self._timer(campaign_id, "follow-up", wait, FollowUpDue(step=step, via=channel), event)
            return
        offer = campaign.best_offer()
        action_id = uuid5(ACTIONS, f"{campaign_id}/{self.customer_id}/{step}")
        first_made = at if pair.offered_at is None else pair.offered_at
        valid = None if offer.valid_days is None else first_made + timedelta(days=offer.valid_days)
        expires = min((t for t in (valid, terms.ends_at) if t is not None), default=None)
        # An action always has an end: one left undone that long is stale.
        deadline = expires or at + ACTION_LIFETIME
        action = ActionRequested(via=channel, offer_code=offer.code, step=step, expires_at=deadline)
        self.effects.actions.append(self._event(action, event, campaign_id, action_id))
        self.effects.ledger.append(
            Ledger(
                str(action_id),
                campaign_id,
                self.customer_id,
                channel,
                offer.code,
                step,
                "pending",
                at,
                deadline,
            )
        )
        self.facts.keep("touch", str(action_id), at, channel)  # reserved before it goes out
        pair.pending.append(str(action_id))
        pair.pending_via[str(action_id)] = channel
        pair.offer_code = offer.code
        if pair.state == "targeted":
            pair.offered_via, pair.offered_at = channel, at
            self._move(campaign_id, pair, "offered", event, at, via=channel)
            if valid is not None:  # an offer is open for its days from when it is first made
                self._expire_at(campaign_id, expires or valid, event)
        self._follow_up(campaign_id, pair, step + 1, event, at)

    def _follow_up(
        self, campaign_id: str, pair: Pair, step: int, event: Envelope, at: datetime
    ) -> None:
        sequence = self.campaigns[campaign_id].terms.sequence
        pair.step = step
        if step >= len(sequence):
            return
        if sequence[step].after_days == 0:
            self._carry_out(campaign_id, pair, step, event, at)  # at once, in parallel
            return
        due = at + timedelta(days=sequence[step].after_days)
        self._timer(
            campaign_id, "follow-up", due, FollowUpDue(step=step, via=sequence[step].channel), event
        )

    def _step_due(self, campaign_id: str | None, event: Envelope, at: datetime, step: int) -> None:
        pair = self.pairs.get(campaign_id or "")
        if campaign_id is None or pair is None or pair.state not in ("targeted", "offered"):
            return  # engaged or ended: no follow-up
        if step != pair.step:
            return  # an older timer, moved since
        blocked = self._blocked(self.campaigns[campaign_id], at)
        if blocked is not None:
            state: CampaignState = "expired" if blocked == "campaign_ended" else "suppressed"
            self._end(campaign_id, event, at, state, blocked)
            return
        self._carry_out(campaign_id, pair, step, event, at)

    def _made_elsewhere(self, event: Envelope, at: datetime, made: OfferMade) -> None:
        """An offer made in a channel (an agent on a call, a rep): every channel knows,
        and the sequence does not make it again elsewhere for this step."""
        campaign_id = event.campaign_id
        if campaign_id is None or campaign_id not in self.campaigns:
            return
        pair = self.pairs.get(campaign_id)
        if pair is None:
            pair = self._open(campaign_id)
            self._move(campaign_id, pair, "targeted", event, at)
        if pair.state != "targeted" and pair.state not in ACTIVE:
            return
        for action_id, via in list(pair.pending_via.items()):
            if via != made.via:
                self._cancel(
                    campaign_id, pair, action_id, event, at=at, why=f"offered_via_{made.via}"
                )
        if pair.state == "targeted":
            pair.offer_code, pair.made_by = made.offer_code, made.made_by
            pair.offered_via, pair.offered_at = made.via, at
            self._move(campaign_id, pair, "offered", event, at, via=made.via)

    def _engaged(self, campaign_id: str | None, event: Envelope, at: datetime, via: str) -> None:
        pair = self.pairs.get(campaign_id or "")
        if campaign_id is None or pair is None or pair.state not in ("targeted", "offered"):
            return
        self._move(campaign_id, pair, "engaged", event, at, via=via)
        self._stop_timers(campaign_id, "follow-up")

    def _respond(
        self,
        campaign_id: str | None,
        event: Envelope,
        at: datetime,
        via: str,
        response: str | None,
    ) -> None:
        reason = response or "replied"
        self._end(campaign_id, event, at, "responded", reason, via=via)

    def _convert(self, event: Envelope, at: datetime, payload: Payload) -> None:
        campaign_id = event.campaign_id or self._last_touched()
        pair = self.pairs.get(campaign_id or "")
        if campaign_id is None or pair is None:
            return
        accepted = pair.state == "responded" and pair.history[-1].reason == "accepted"
        if pair.state not in ACTIVE and not accepted:
            return
        match payload:
            case CampaignConverted() as done:
                pair.order_id, via = done.order_id, done.via
                amount, currency = done.amount, done.currency
            case OrderPlaced() as order:
                pair.order_id, via, amount, currency = (
                    order.order_id,
                    order.via,
                    order.total,
                    order.currency,
                )
            case PartnerOrderPlaced() as order:
                pair.order_id, via, amount, currency = (
                    order.order_id,
                    "partner",
                    order.total,
                    order.currency,
                )
                pair.partner_account = order.partner_account
            case _:
                return
        if amount is not None and currency is not None:
            pair.amount_minor, pair.currency = round(amount * 100), currency
        self._end(campaign_id, event, at, "converted", "order", via=via, force=accepted)

    def _last_touched(self) -> str | None:
        """The campaign an order without one is credited to: the live offer made last."""
        live = [
            (pair.offered_at, campaign_id)
            for campaign_id, pair in self.pairs.items()
            if pair.offered_at is not None
            and (
                pair.state in ACTIVE
                or (pair.state == "responded" and pair.history[-1].reason == "accepted")
            )
        ]
        return max(live)[1] if live else None

    def _end(
        self,
        campaign_id: str | None,
        event: Envelope,
        at: datetime,
        state: CampaignState,
        reason: str,
        *,
        via: str | None = None,
        force: bool = False,
    ) -> None:
        pair = self.pairs.get(campaign_id or "")
        if campaign_id is None or pair is None or (pair.state not in ACTIVE and not force):
            return
        for action_id in list(pair.pending):
            self._cancel(campaign_id, pair, action_id, event, at=at, why=f"{state}_{reason}")
        self._stop_timers(campaign_id, "follow-up", "expiry")
        self._move(campaign_id, pair, state, event, at, via=via, reason=reason)

    def _pair_of(self, event: Envelope, *, arriving_early: bool = False) -> str | None:
        """The campaign of ``event`` when this customer is in it. With
        ``arriving_early``, a click or an answer about a launched campaign
        that arrives before the customer's targeting (channels are not in
        step with each other) puts them in it: it was made to them."""
        campaign_id = event.campaign_id
        if campaign_id is None:
            return None
        if campaign_id not in self.pairs and arriving_early and campaign_id in self.campaigns:
            pair = self._open(campaign_id)
            self._move(campaign_id, pair, "targeted", event, event.occurred_at.astimezone(UTC))
        return campaign_id if campaign_id in self.pairs else None

    def _active(self) -> list[str]:
        return sorted(c for c, pair in self.pairs.items() if pair.state in ACTIVE)

    def _pages_matching(self, url: str) -> list[str]:
        return [
            campaign_id
            for campaign_id in self._active()
            if any(
                offer.page and shows_offer(url, offer.page)
                for offer in self.campaigns[campaign_id].terms.offers
            )
        ]

    def rename_action(self, campaign_id: str, old: str, new: str) -> None:
        """A pending action goes out under another id: the pair and the touch
        it reserved follow it."""
        pair = self.pairs[campaign_id]
        pair.pending[pair.pending.index(old)] = new
        pair.pending_via[new] = pair.pending_via.pop(old)
        touch = self.facts.touches.pop(old, None)
        if touch is not None:
            self.facts.touches[new] = touch

    def _open(self, campaign_id: str) -> Pair:
        """A new pair, numbered on from what the feed already carried for it."""
        floor = self.facts.feed_floors.get(self.customer_id, {}).get(campaign_id, 0)
        pair = self.pairs[campaign_id] = Pair(state="targeted", sequence=floor)
        return pair
