"""The parts of the profile read model: plain structs, no judgement.

:mod:`~touchline.projections.profile_signals` judges :class:`ProfileFacts`;
:mod:`~touchline.projections.profile_view` gathers them from the state and
adds the judgements to make the :class:`~touchline.projections.profile_view.Profile`.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class _View(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the read model's parts: frozen, every field always present."""


class ConsentView(_View, frozen=True, kw_only=True):
    channel: str
    purpose: str
    granted: bool
    at: datetime
    cause: str


class OrderView(_View, frozen=True, kw_only=True):
    order_id: str
    via: str
    partner_account: str | None
    placed_at: datetime
    amount: float
    currency: str
    refunded: float
    cancelled: bool


class OrdersSummary(_View, frozen=True, kw_only=True):
    count: int
    """Placed and not cancelled, direct and partner together."""
    direct: int
    partner: int
    cancelled: int
    returned: int
    """Orders with at least one return."""
    lifetime_value: dict[str, float]
    average_order_value: dict[str, float]
    last_order: OrderView | None


class CaseView(_View, frozen=True, kw_only=True):
    case_id: str
    subject: str | None
    category: str | None
    priority: str | None
    is_complaint: bool
    status: str
    opened_at: datetime | None
    status_at: datetime


class ComplaintView(_View, frozen=True, kw_only=True):
    at: datetime
    source: str
    """``case`` or ``email`` (marked as spam)."""
    reference: str
    """The case id or the email's message id."""
    subject: str | None


class SatisfactionView(_View, frozen=True, kw_only=True):
    count: int
    latest: float | None
    """0 the worst, 1 the best (the survey's own scale in ``latest_score``)."""
    latest_score: str | None
    latest_at: datetime | None
    average: float | None


class EngagementView(_View, frozen=True, kw_only=True):
    recent: int
    """Inbound engagement in the last ``engagement_recent_days`` days."""
    baseline_monthly: float
    """The monthly average over the ``engagement_baseline_days`` days before them."""


class PartnerView(_View, frozen=True, kw_only=True):
    account: str
    name: str | None
    last_seen_at: datetime
    orders: int


class OfferView(_View, frozen=True, kw_only=True):
    campaign_id: str | None
    offer_code: str
    via: str
    made_at: datetime
    expires_at: datetime | None
    made_by: str | None


class RepView(_View, frozen=True, kw_only=True):
    rep_id: str
    name: str | None
    last_seen_at: datetime


class OpportunityView(_View, frozen=True, kw_only=True):
    opportunity_id: str
    title: str | None
    stage: str
    stage_at: datetime
    opened_at: datetime | None
    amount: float | None
    currency: str | None
    rep_id: str | None
    expected_close_at: datetime | None


class ProfileFacts(_View, frozen=True, kw_only=True):
    """What the profile knows of a customer, before any judgement."""

    customer_id: str
    identifiers: tuple[str, ...]
    consent: tuple[ConsentView, ...]
    marketing_channels: tuple[str, ...]
    """Contact channels marketing may use now: granted, and no do-not-contact."""
    do_not_contact: bool
    do_not_contact_until: datetime | None
    last_contact: dict[str, datetime]
    orders: OrdersSummary
    open_cases: tuple[CaseView, ...]
    recent_complaints: tuple[ComplaintView, ...]
    satisfaction: SatisfactionView
    engagement: EngagementView
    owning_partner: PartnerView | None
    partners: tuple[PartnerView, ...]
    """Every partner the customer has dealt with, the latest first (the
    owning partner leads): what routing a partner lead weighs."""
    active_offers: tuple[OfferView, ...]
    owning_rep: RepView | None
    """The rep of the latest sales-force event."""
    open_opportunities: tuple[OpportunityView, ...]
