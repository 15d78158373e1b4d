"""The customer profile's stored state: :class:`ProfileState`, its parts and its bytes.

This is what the projection keeps per customer (see
:mod:`touchline.projections.profile` for the fold that fills it). Its shape is
a storage contract: new fields need defaults and existing fields keep their
names, types and msgspec options, so stored blobs keep decoding. Moving a class
between modules is harmless (msgpack does not record class names).
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

__all__ = [
    "ENGAGEMENT_DAYS_KEPT",
    "RESOLVED",
    "SPAM_COMPLAINTS_KEPT",
    "Case",
    "CaseOpening",
    "Consent",
    "DoNotContact",
    "Offer",
    "OfferEnd",
    "Opportunity",
    "Order",
    "PartnerSeen",
    "Placement",
    "Priced",
    "ProfileState",
    "Refund",
    "RepSeen",
    "SpamComplaint",
    "Status",
    "Survey",
    "decode_state",
    "encode_state",
    "minor_units",
    "newer",
]

RESOLVED = "resolved"
"""A case's status after ``service.case_resolved`` (the others are :data:`CaseStatus`)."""

ENGAGEMENT_DAYS_KEPT = 150
"""Engagement day buckets kept: days at most this many days before the latest one.

Render reads the ``engagement_recent_days + engagement_baseline_days`` days up
to ``now`` (30 + 90 by default, so ages 0..119), and ``now`` is not before the
latest event, so 119 would do; the 31 more are margin for events dated a little
ahead of the reader's clock and for rules that widen the windows a little.
Render clamps wider windows to what is kept (see ``profile_view._engagement``);
``tests/projections/test_profile.py`` checks the defaults fit."""

SPAM_COMPLAINTS_KEPT = 400
"""Spam complaints kept: those at most this many days older than the latest one.

Render reads complaints up to ``churn_complaint_lookback`` (365 days by default)
before ``now``, never before the latest complaint: 35 days of margin as above."""


class _Record(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of the state's parts: mutable, keyword-only, compact on the wire."""


class Consent(_Record, kw_only=True):
    granted: bool
    at: datetime
    event_id: str
    cause: str
    """The event type that set it (``consent.revoked``, ``email.unsubscribed``...)."""


class DoNotContact(_Record, kw_only=True):
    active: bool
    at: datetime
    event_id: str
    reason: str
    until: datetime | None = None


class Placement(_Record, kw_only=True):
    at: datetime
    event_id: str
    amount_minor: int
    currency: str
    via: str
    """``web``, ``store``... for direct orders, ``partner`` for partner orders."""


class Refund(_Record, kw_only=True):
    at: datetime
    amount_minor: int
    currency: str


class Order(_Record, kw_only=True):
    order_id: str
    partner_account: str | None = None
    placed: Placement | None = None
    returns: dict[str, Refund] = msgspec.field(default_factory=dict)
    """Keyed by the return's event id: several partial returns are several refunds."""
    cancelled_at: datetime | None = None
    last_shipped_at: datetime | None = None


class CaseOpening(_Record, kw_only=True):
    at: datetime
    event_id: str
    subject: str
    category: str | None = None
    priority: str = "normal"
    is_complaint: bool = False
    opened_via: str | None = None


class Status(_Record, kw_only=True):
    value: str
    at: datetime
    event_id: str


class Case(_Record, kw_only=True):
    case_id: str
    opened: CaseOpening | None = None
    status: Status | None = None
    """The latest of opened (``open``), updated and resolved, by time."""

    def is_open(self) -> bool:
        return self.status is not None and self.status.value != RESOLVED


class Survey(_Record, kw_only=True):
    at: datetime
    survey_id: str
    scale: str
    score: int
    satisfaction: float
    case_id: str | None = None


class SpamComplaint(_Record, kw_only=True):
    at: datetime
    message_id: str
    subject: str | None = None


class PartnerSeen(_Record, kw_only=True):
    last_at: datetime
    last_event_id: str
    name: str | None = None
    named_at: datetime | None = None
    named_event_id: str = ""


class Offer(_Record, kw_only=True):
    campaign_id: str
    offer_code: str
    via: str
    made_at: datetime
    event_id: str
    made_by: str | None = None
    expires_at: datetime | None = None


class OfferEnd(_Record, kw_only=True):
    """A response, conversion, expiry, suppression or close: it ends the campaign's
    offers made up to ``at`` (only ``offer_code``'s, only via ``via``, when given)."""

    campaign_id: str
    kind: str
    at: datetime
    offer_code: str | None = None
    via: str | None = None


class RepSeen(_Record, kw_only=True):
    """A sales rep, as of one event of theirs."""

    rep_id: str
    at: datetime
    event_id: str
    name: str | None = None


class Priced(_Record, kw_only=True):
    amount_minor: int
    currency: str
    at: datetime
    event_id: str


class Opportunity(_Record, kw_only=True):
    """Each part is the latest (or, for the opening, the first) by time."""

    opportunity_id: str
    title: str | None = None
    opened_at: datetime | None = None
    opened_event_id: str = ""
    stage: Status | None = None
    """The latest of opened, stage changed, won and lost; ``won`` and ``lost`` close it."""
    amount: Priced | None = None
    rep: RepSeen | None = None
    expected_close_at: datetime | None = None

    def is_open(self) -> bool:
        return self.stage is not None and self.stage.value not in CLOSED_STAGES


CLOSED_STAGES = frozenset({"won", "lost"})


class ProfileState(_Record, kw_only=True):
    """One customer's folded events; ``ProfileState()`` is the empty state."""

    consents: dict[str, dict[str, Consent]] = msgspec.field(default_factory=dict)
    """contact channel (or ``all``) -> purpose -> the latest grant or revocation."""
    do_not_contact: DoNotContact | None = None
    last_contact: dict[str, datetime] = msgspec.field(default_factory=dict)
    orders: dict[str, Order] = msgspec.field(default_factory=dict)
    """Direct orders by order id."""
    partner_orders: dict[str, dict[str, Order]] = msgspec.field(default_factory=dict)
    """partner account -> order id -> order (partners' order ids may collide)."""
    cases: dict[str, Case] = msgspec.field(default_factory=dict)
    spam_complaints: dict[str, SpamComplaint] = msgspec.field(default_factory=dict)
    """By event id; only those within :data:`SPAM_COMPLAINTS_KEPT` days of the latest."""
    surveys: dict[str, Survey] = msgspec.field(default_factory=dict)
    """By event id: the same survey answered twice is two answers."""
    partners: dict[str, PartnerSeen] = msgspec.field(default_factory=dict)
    engagement: dict[str, int] = msgspec.field(default_factory=dict)
    """UTC day (``2026-11-20``) -> inbound engagement events that day, for the days
    within :data:`ENGAGEMENT_DAYS_KEPT` of ``engagement_latest`` (older ones are dropped)."""
    engagement_latest: date | None = None
    """The latest day in ``engagement`` (``None`` when empty, or stored before the bound)."""
    offers: dict[str, dict[str, Offer]] = msgspec.field(default_factory=dict)
    """campaign id (``""`` when none) -> offer code -> the latest time it was made."""
    offer_ends: dict[str, OfferEnd] = msgspec.field(default_factory=dict)
    rep: RepSeen | None = None
    """The rep of the latest sales event: who owns the relationship now."""
    opportunities: dict[str, Opportunity] = msgspec.field(default_factory=dict)

    def consent_for(self, channel: str, purpose: str) -> Consent | None:
        """The decision in force: the later of ``channel``'s own and the ``all`` one."""
        own = self.consents.get(channel, {}).get(purpose)
        everywhere = self.consents.get("all", {}).get(purpose)
        if own is None or (
            everywhere is not None
            and newer(everywhere.at, everywhere.event_id, own.at, own.event_id)
        ):
            return everywhere
        return own

    def all_orders(self) -> list[Order]:
        """Direct orders, then partner orders."""
        partner = [order for by_id in self.partner_orders.values() for order in by_id.values()]
        return [*self.orders.values(), *partner]


def minor_units(amount: float) -> int:
    """Hundredths of the major unit, exact from here on."""
    return round(amount * 100)


def newer(at: datetime, event_id: str, than_at: datetime, than_id: str) -> bool:
    """``(at, event_id)`` comes after ``(than_at, than_id)``: time first, id breaks ties."""
    return (at, event_id) > (than_at, than_id)


_DETERMINISTIC = msgspec.msgpack.Encoder(order="deterministic")
_DECODER = msgspec.msgpack.Decoder(ProfileState)


def encode_state(state: ProfileState) -> bytes:
    """The state as msgpack with dict keys sorted: equal states give equal bytes.

    ``msgspec.msgpack.encode(state)`` decodes to an equal state too, but keeps
    dicts in insertion (arrival) order, so its bytes depend on that order.
    """
    return _DETERMINISTIC.encode(state)


def decode_state(blob: bytes) -> ProfileState:
    return _DECODER.decode(blob)
