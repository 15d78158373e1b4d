"""What the campaign synchronizer keeps: one record per (campaign, customer)
and one set of contact facts per customer.

These shapes are a storage contract (msgpack blobs in ``campaign_states`` and
``campaign_contacts``): new fields need defaults, existing ones keep their
names and types.

Contact facts fold like the profile: the latest decision by ``(time, event
id)`` stands, touches and complaints are keyed by id, and both are kept only
for a year before the latest, so the facts do not depend on arrival order
and stay bounded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from touchline.events.campaign import FollowUpDue
from touchline.events.campaign_feed import CampaignState

__all__ = [
    "ACTIVE",
    "ENDED",
    "Decision",
    "Facts",
    "Pair",
    "Touch",
    "Transition",
    "decode_facts",
    "decode_pair",
    "encode_facts",
    "encode_pair",
]

ACTIVE: frozenset[CampaignState] = frozenset({"targeted", "offered", "engaged"})
"""States in which the offer is still live: actions may go out."""
ENDED: frozenset[CampaignState] = frozenset({"responded", "converted", "suppressed", "expired"})

KEPT = timedelta(days=366)
"""Touches and complaints older than the latest by more are dropped: no
pressure window or complaint pause reaches that far."""


class _Record(msgspec.Struct, kw_only=True, omit_defaults=True):
    pass


class Transition(_Record, kw_only=True):
    state: CampaignState
    at: datetime
    caused_by: str
    via: str | None = None
    reason: str | None = None


class Pair(_Record, kw_only=True):
    """One customer in one campaign."""

    state: CampaignState
    sequence: int = 0
    """Transitions so far: the feed numbers them."""
    step: int = 0
    """The next step of the channel sequence to carry out."""
    offer_code: str | None = None
    offered_via: str | None = None
    offered_at: datetime | None = None
    made_by: str | None = None
    pending: list[str] = msgspec.field(default_factory=list)
    """Action ids requested and not ended: what a response cancels."""
    pending_via: dict[str, str] = msgspec.field(default_factory=dict)
    """Action id -> its channel, for cancelling one channel's actions."""
    order_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    partner_account: str | None = None
    history: list[Transition] = msgspec.field(default_factory=list)
    follow_up: FollowUpDue | None = None
    """The follow-up timer's event as set, and when it is due: a merge sets
    it again under the survivor."""
    follow_up_at: datetime | None = None
    expires_at: datetime | None = None


class Decision(_Record, kw_only=True):
    """A consent or do-not-contact decision, as of one event."""

    active: bool
    at: datetime
    event_id: str
    until: datetime | None = None

    def supersedes(self, other: Decision | None) -> bool:
        """Whether this is the latest word beside ``other``: by time, then by
        event id, so the order events arrive in never matters."""
        return other is None or (self.at, self.event_id) > (other.at, other.event_id)


class Touch(_Record, kw_only=True):
    at: datetime
    channel: str


class Facts(_Record, kw_only=True):
    consent: dict[str, Decision] = msgspec.field(default_factory=dict)
    """``channel/purpose`` (channel ``all`` for every one) -> granted (``active``) or not."""
    do_not_contact: Decision | None = None
    complaints: dict[str, datetime] = msgspec.field(default_factory=dict)
    """Event id -> when: cases opened as complaints, spam reports."""
    touches: dict[str, Touch] = msgspec.field(default_factory=dict)
    """Touch id (the action id for our own, else the event id) -> when and where."""
    feed_floors: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    """Customer id -> campaign id -> the last sequence the feed carried for a
    pair this record does not hold (a merged customer's, or one an unmerge
    took away): a pair made again for them continues past it, so a
    consumer's sequence per (campaign, customer) never goes back."""

    def floor(self, customer_id: str, campaign_id: str, sequence: int) -> None:
        """The feed carried ``sequence`` for (``campaign_id``, ``customer_id``)."""
        floors = self.feed_floors.setdefault(customer_id, {})
        floors[campaign_id] = max(sequence, floors.get(campaign_id, 0))

    def decide(self, key: str, decision: Decision) -> None:
        if decision.supersedes(self.consent.get(key)):
            self.consent[key] = decision

    def decide_do_not_contact(self, decision: Decision) -> None:
        if decision.supersedes(self.do_not_contact):
            self.do_not_contact = decision

    def refuses(self, channel: str, purpose: str) -> bool:
        """Whether the latest word on ``channel`` (or on all) for ``purpose`` is no.
        No word at all is no refusal: an opt-out anywhere is honoured everywhere."""
        own = self.consent.get(f"{channel}/{purpose}")
        everywhere = self.consent.get(f"all/{purpose}")
        latest = everywhere if everywhere is not None and everywhere.supersedes(own) else own
        return latest is not None and not latest.active

    def do_not_contact_at(self, at: datetime) -> bool:
        dnc = self.do_not_contact
        return dnc is not None and dnc.active and (dnc.until is None or dnc.until > at)

    def complained_since(self, since: datetime) -> bool:
        return any(at >= since for at in self.complaints.values())

    def touches_since(self, since: datetime, until: datetime) -> list[datetime]:
        return sorted(t.at for t in self.touches.values() if since < t.at <= until)

    def keep(self, kind: str, key: str, at: datetime, channel: str = "") -> None:
        """Record a complaint or a touch, and drop what has left every window."""
        if kind == "complaint":
            self.complaints[key] = at
        else:
            self.touches[key] = Touch(at=at, channel=channel)
        latest = max([*self.complaints.values(), *(t.at for t in self.touches.values())])
        horizon = latest - KEPT
        for stale in [k for k, when in self.complaints.items() if when < horizon]:
            del self.complaints[stale]
        for stale in [k for k, t in self.touches.items() if t.at < horizon]:
            del self.touches[stale]


_ENCODER = msgspec.msgpack.Encoder(order="deterministic")
_PAIR = msgspec.msgpack.Decoder(Pair)
_FACTS = msgspec.msgpack.Decoder(Facts)


def encode_pair(pair: Pair) -> bytes:
    return _ENCODER.encode(pair)


def decode_pair(blob: bytes) -> Pair:
    return _PAIR.decode(blob)


def encode_facts(facts: Facts) -> bytes:
    return _ENCODER.encode(facts)


def decode_facts(blob: bytes) -> Facts:
    return _FACTS.decode(blob)
