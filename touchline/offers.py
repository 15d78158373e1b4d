"""Next-best-offer: which offers to make a customer now, across every active campaign.

In process, from the projections: the synchronizer's ledger (campaigns, the
customer's state in each, consent, do-not-contact, complaints, contact
pressure) and the customer's recent behaviour on the timeline. Two stages:

1. **Filters**, per campaign: launched and not ended; the customer's state
   still live (targeted, offered or engaged; a campaign that offers on the
   web also to anyone not targeted); consent for the channel and purpose; no
   do-not-contact; no recent complaint when the campaign pauses on one;
   contact pressure and quiet hours for an outbound channel (a web page the
   customer opened is no touch of ours).
2. **Arbitration** of the offers that pass: by priority, raised by
   :data:`AFFINITY_BOOST` when the customer viewed, put in a cart or bought
   one of the offer's products within :data:`BEHAVIOUR_DAYS`, then by value.

Every decision explains itself: its inputs, :data:`RULES_VERSION`, and why
each other offer lost. An offer actually shown is recorded with
:func:`shown`, as a ``campaign.offer_made`` event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import Connection, Engine, select

from touchline.events import EventCodec, new_event
from touchline.events.campaign import CampaignLaunched, OfferMade
from touchline.events.consent import ContactChannel
from touchline.events.instants import to_us
from touchline.events.order import OrderPlaced
from touchline.events.web import CartUpdated, ProductViewed
from touchline.handlers.campaign_model import Campaign, pressure_wait, quiet_until
from touchline.handlers.campaign_reads import stored_campaigns, stored_records
from touchline.handlers.campaign_records import ACTIVE, Facts, Pair
from touchline.publish import Publisher, PublishResult
from touchline.store import campaigns as store
from touchline.store.tables import timeline_entries

RULES_VERSION = "nbo-1"
AFFINITY_BOOST = 3
"""Priority levels an offer gains when it is about what the customer just looked at or bought."""
BEHAVIOUR_DAYS = 30
INBOUND = frozenset({"web"})
"""Channels where the customer came to us: no pressure, no quiet hours."""
_BEHAVIOUR = ("web.product_viewed", "web.cart_updated", "order.placed")


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: str
    offer_code: str
    priority: int
    value: float | None
    affinity: tuple[str, ...]
    """The offer's products the customer showed interest in."""
    score: tuple[int, float]
    outcome: str
    """``chosen``, ``ranked lower than …`` or ``filtered: …``."""


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str | None
    channel: ContactChannel
    at: datetime
    rules_version: str
    offers: tuple[Candidate, ...]
    """The offers to make, best first (at most ``limit``)."""
    considered: tuple[Candidate, ...]
    """Every offer looked at, chosen or not, with why."""
    inputs: dict[str, object]


class NextBestOffer:
    """Decisions over one deployment's stores. The campaigns' definitions are
    kept decoded between decisions and read again only when a launch or a
    close changed them (one small query tells)."""

    def __init__(
        self,
        campaigns_db: Engine,
        timeline_db: Engine,
        codec: EventCodec,
        *,
        complaint_window: timedelta = timedelta(days=90),
    ) -> None:
        self.campaigns_db = campaigns_db
        self.timeline_db = timeline_db
        self.codec = codec
        self.complaint_window = complaint_window
        self._campaigns: tuple[int, list[Campaign]] | None = None

    def decide(
        self,
        customer_id: str | None,
        *,
        channel: ContactChannel = "web",
        at: datetime | None = None,
        limit: int = 1,
    ) -> Decision:
        """The next best offers for ``customer_id`` (None: an anonymous visitor) via ``channel``."""
        now = (at or datetime.now(UTC)).astimezone(UTC)
        with self.campaigns_db.connect() as connection:
            campaigns = self._current(connection)
            pairs, facts = _ledger(connection, customer_id)
            if customer_id is None:
                bought: set[str] = set()
            elif self.timeline_db is self.campaigns_db:  # one database: one connection
                bought = _recent_interest(connection, self.codec, customer_id, now)
            else:
                with self.timeline_db.connect() as timeline:
                    bought = _recent_interest(timeline, self.codec, customer_id, now)
        window = self.complaint_window
        customer = _Customer(facts, now, window)
        considered: list[Candidate] = []
        for campaign in campaigns:
            why_not = _filtered(campaign, pairs.get(campaign.campaign_id), customer, channel)
            for offer in campaign.terms.offers:
                affinity = tuple(sorted(set(offer.products) & bought))
                priority = offer.priority + (AFFINITY_BOOST if affinity else 0)
                considered.append(
                    Candidate(
                        campaign_id=campaign.campaign_id,
                        offer_code=offer.code,
                        priority=offer.priority,
                        value=offer.value,
                        affinity=affinity,
                        score=(priority, offer.value or 0.0),
                        outcome=f"filtered: {why_not}" if why_not else "",
                    )
                )
        eligible = sorted(
            (c for c in considered if not c.outcome),
            key=lambda c: (c.score, c.campaign_id, c.offer_code),
            reverse=True,
        )
        chosen = eligible[:limit]
        explained = [_explain(c, chosen) for c in considered]
        return Decision(
            customer_id=customer_id,
            channel=channel,
            at=now,
            rules_version=RULES_VERSION,
            offers=tuple(c for c in explained if c.outcome == "chosen"),
            considered=tuple(sorted(explained, key=_by_outcome)),
            inputs={
                "states": {k: v.state for k, v in sorted(pairs.items())},
                "do_not_contact": customer.do_not_contact,
                "recent_complaint": customer.complained,
                "touches_last_30_days": len(facts.touches_since(now - timedelta(days=30), now)),
                "interest": sorted(bought),
            },
        )

    def _current(self, connection: Connection) -> list[Campaign]:
        version = store.campaigns_version(connection)
        if self._campaigns is None or self._campaigns[0] != version:
            self._campaigns = (version, list(stored_campaigns(connection).values()))
        return self._campaigns[1]


def shown(publisher: Publisher, decision: Decision, *, made_by: str | None = None) -> PublishResult:
    """Record the decision's offers as made (shown on the page, said by the agent)."""
    events = [
        new_event(
            OfferMade(via=decision.channel, offer_code=offer.offer_code, made_by=made_by),
            occurred_at=decision.at,
            source="touchline-next-offer",
            customer_id=decision.customer_id,
            campaign_id=offer.campaign_id,
        )
        for offer in decision.offers
    ]
    return publisher.publish(events)


def _explain(candidate: Candidate, chosen: Sequence[Candidate]) -> Candidate:
    if candidate.outcome:
        return candidate
    if candidate in chosen:
        return msgspec.structs.replace(candidate, outcome="chosen")
    best = chosen[0]
    beaten = f"{best.campaign_id}/{best.offer_code}"
    reason = f"ranked lower than {beaten} (score {candidate.score} < {best.score})"
    return msgspec.structs.replace(candidate, outcome=reason)


def _by_outcome(candidate: Candidate) -> tuple[bool, int, float]:
    """Chosen first, then the rest best score first."""
    return candidate.outcome != "chosen", -candidate.score[0], -candidate.score[1]


class _Customer:
    """What every campaign's filters ask of the customer, worked out once a decision."""

    def __init__(self, facts: Facts, at: datetime, complaint_window: timedelta) -> None:
        self.facts = facts
        self.at = at
        self.do_not_contact = facts.do_not_contact_at(at)
        self.complained = facts.complained_since(at - complaint_window)
        self._pressed: dict[object, bool] = {}

    def pressed(self, terms: CampaignLaunched) -> bool:
        """Whether the contact-pressure limit is reached (the same limits, once)."""
        known = self._pressed.get(terms.pressure)
        if known is None:
            known = self._pressed[terms.pressure] = (
                pressure_wait(self.facts, terms, self.at) is not None
            )
        return known


PRESSURE_REACHED = "the contact-pressure limit is reached"
QUIET_HOURS = "quiet hours"


class Refusal(msgspec.Struct, frozen=True):
    """Why an action may not go out now, and when that passes by itself if it does."""

    reason: str
    passes_at: datetime | None = None
    """When the refusal ends with nothing else happening: quiet hours end, or
    enough touches leave the pressure window. None: it holds until something
    happens (consent, the campaign, a complaint ageing out is not waited for)."""


def refusal_at_send(
    campaign: Campaign | None,
    pair: Pair | None,
    facts: Facts,
    *,
    channel: str,
    at: datetime,
    complaint_window: timedelta,
    action_id: str,
) -> Refusal | None:
    """Why the action ``action_id`` may not go out via ``channel`` now, or None:
    the very filters a decision applies, on the records as they are now.

    The action's own touch was reserved when the synchronizer requested it,
    so it is left out of the pressure count: only touches made since (an
    agent's call, another campaign's email) can have taken its slot.
    """
    if campaign is None:
        return Refusal("the campaign is unknown")
    others = {key: touch for key, touch in facts.touches.items() if key != action_id}
    without_own = msgspec.structs.replace(facts, touches=others)
    reason = _filtered(campaign, pair, _Customer(without_own, at, complaint_window), channel)
    if reason is None:
        return None
    # The filters run in order, so these two are refusals only when every
    # final one (the campaign, consent, do-not-contact, a complaint) passed.
    passes_at = None
    if reason == PRESSURE_REACHED:
        passes_at = pressure_wait(without_own, campaign.terms, at)
    elif reason == QUIET_HOURS:
        passes_at = quiet_until(campaign.terms.quiet_hours, at)
    return Refusal(reason, passes_at)


def _filtered(
    campaign: Campaign, pair: Pair | None, customer: _Customer, channel: str
) -> str | None:
    """Why the campaign may make no offer to this customer now, or None: the
    first of the filters, in order, that says no."""
    terms = campaign.terms
    outbound = channel not in INBOUND
    at = customer.at
    checks: tuple[tuple[Callable[[], bool], str], ...] = (
        (lambda: campaign.ended_by(at), "the campaign has ended"),
        (lambda: channel not in campaign.channels, f"the campaign makes no offers via {channel}"),
        (lambda: pair is None and outbound, "the customer is not targeted"),
        (
            lambda: pair is not None and pair.state not in ACTIVE,
            f"the customer's offer is {pair.state if pair else ''}",
        ),
        (lambda: customer.do_not_contact, "do-not-contact"),
        (
            lambda: customer.facts.refuses(channel, terms.consent_purpose),
            f"no consent for {terms.consent_purpose} via {channel}",
        ),
        (
            lambda: terms.complaint_pauses and customer.complained,
            "a recent complaint pauses it",
        ),
        (lambda: outbound and customer.pressed(terms), PRESSURE_REACHED),
        (lambda: outbound and quiet_until(terms.quiet_hours, at) is not None, QUIET_HOURS),
    )
    return next((reason for says_no, reason in checks if says_no()), None)


def _ledger(connection: Connection, customer_id: str | None) -> tuple[dict[str, Pair], Facts]:
    if customer_id is None:
        return {}, Facts()
    pairs, facts = stored_records(connection, [customer_id])
    return pairs.get(customer_id, {}), facts.get(customer_id) or Facts()


def _recent_interest(
    connection: Connection, codec: EventCodec, customer_id: str, at: datetime
) -> set[str]:
    """SKUs the customer viewed, put in a cart or bought lately."""
    t = timeline_entries.c
    since = to_us(at - timedelta(days=BEHAVIOUR_DAYS))
    blobs = connection.execute(
        select(t.event).where(
            t.customer_id == customer_id, t.occurred_at_us >= since, t.type.in_(_BEHAVIOUR)
        )
    ).scalars()
    skus: set[str] = set()
    for blob in blobs:
        match codec.decode(blob).payload:
            case ProductViewed() as viewed:
                skus.add(viewed.sku)
            case CartUpdated() | OrderPlaced() as basket:
                skus.update(item.sku for item in basket.items)
    return skus
