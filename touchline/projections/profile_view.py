"""The customer profile as an agent's screen reads it, in one read.

:func:`render` turns a :class:`~touchline.projections.profile.ProfileState`
into a :class:`Profile` under :class:`ProfileRules`, at an injected ``now``.
Everything that depends on time or judgement is derived here, never stored:

- **Money**: lifetime value is kept per currency (no exchange rates): placed
  orders that were not cancelled, less their returns. A cancelled partner
  order counts nothing (its refund is not subtracted again); a return counts
  only against an order the profile knows, in that order's currency.
  The value tier reads the lifetime value in ``rules.currency`` (EUR by
  default); other currencies do not move it.
- **Complaints**: cases opened with ``is_complaint`` (at their opening) and
  ``email.complained`` (a spam report, which also revokes email marketing).
- **Owning partner**: the account of the latest partner event by time (the
  relationship as it stands now), not the one with most orders.
- **Engagement**: inbound events per UTC day; declining when the last 30 days
  hold less than half the monthly average of the 90 days before them (and that
  average is at least ``engagement_min_monthly``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, get_args

import msgspec

from touchline.events.base import money
from touchline.events.consent import ContactChannel

if TYPE_CHECKING:
    # Types only: touchline.projections.profile imports this module to re-export
    # render, Profile and ProfileRules, so a runtime import here would be a cycle.
    from touchline.projections.profile import Consent, Order, ProfileState


class ProfileRules(msgspec.Struct, frozen=True, kw_only=True):
    """How the profile judges value, complaints, churn and what to tell the agent."""

    currency: str = "EUR"
    """Value tiers read the lifetime value in this currency only (no exchange rates here)."""
    base_tier: str = "bronze"
    tiers: tuple[tuple[str, float], ...] = (("silver", 500.0), ("gold", 2000.0), ("platinum", 1e4))
    """(name, lifetime value from which it applies), ascending."""
    complaint_window: timedelta = timedelta(days=90)
    """Complaints this recent are shown, and pause offers in the talking points."""
    churn_after_complaint: timedelta = timedelta(days=60)
    """No purchase since a complaint at least this old is a churn signal..."""
    churn_complaint_lookback: timedelta = timedelta(days=365)
    """...when that complaint is at most this old."""
    engagement_recent_days: int = 30
    engagement_baseline_days: int = 90
    engagement_min_monthly: float = 2.0
    """Below this baseline monthly average there is too little to call a decline."""
    low_satisfaction: float = 0.4
    """A latest survey below this fraction of its scale is a churn signal."""
    satisfaction_window: timedelta = timedelta(days=90)
    """Only a survey this recent makes a signal or a talking point."""
    recent_order: timedelta = timedelta(days=30)
    max_talking_points: int = 6

    def __post_init__(self) -> None:
        thresholds = [threshold for _, threshold in self.tiers]
        if thresholds != sorted(thresholds):
            raise ValueError("`tiers` must ascend by threshold")


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


class Signal(_View, frozen=True, kw_only=True):
    code: str
    text: str


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


class Profile(_View, frozen=True, kw_only=True):
    """One customer on one screen; field names are a contract (JSON-friendly)."""

    customer_id: str
    identifiers: tuple[str, ...]
    consent: tuple[ConsentView, ...]
    marketing_channels: tuple[str, ...]
    """Contact channels marketing may use now: granted, and no do-not-contact."""
    do_not_contact: bool
    do_not_contact_until: datetime | None
    last_contact: dict[str, datetime]
    orders: OrdersSummary
    value_tier: str
    open_cases: tuple[CaseView, ...]
    recent_complaints: tuple[ComplaintView, ...]
    satisfaction: SatisfactionView
    engagement: EngagementView
    churn_signals: tuple[Signal, ...]
    owning_partner: PartnerView | None
    active_offers: tuple[OfferView, ...]
    talking_points: tuple[str, ...]


def render(
    customer_id: str,
    state: ProfileState,
    rules: ProfileRules,
    now: datetime,
    identifiers: Sequence[str] = (),
) -> Profile:
    """The read model of ``state`` as of ``now`` (an aware datetime)."""
    if now.tzinfo is None:
        raise ValueError("`now` must be an aware datetime")
    now = now.astimezone(UTC)
    dnc = state.do_not_contact
    dnc_on = dnc is not None and dnc.active and (dnc.until is None or dnc.until > now)
    orders = _orders(state)
    complaints = _complaints(state)
    profile = Profile(
        customer_id=customer_id,
        identifiers=tuple(identifiers),
        consent=tuple(
            _consent_view(channel, purpose, consent)
            for channel, purposes in sorted(state.consents.items())
            for purpose, consent in sorted(purposes.items())
        ),
        marketing_channels=() if dnc_on else _marketing_channels(state),
        do_not_contact=dnc_on,
        do_not_contact_until=dnc.until if dnc_on and dnc is not None else None,
        last_contact=dict(sorted(state.last_contact.items())),
        orders=orders,
        value_tier=_tier(orders, rules),
        open_cases=_open_cases(state),
        recent_complaints=tuple(c for c in complaints if c.at >= now - rules.complaint_window),
        satisfaction=_satisfaction(state),
        engagement=_engagement(state, rules, now),
        churn_signals=(),
        owning_partner=_owning_partner(state),
        active_offers=_active_offers(state, now),
        talking_points=(),
    )
    signals = _signals(state, profile, complaints, rules, now)
    points = _talking_points(state, profile, rules, now)
    return msgspec.structs.replace(
        profile, churn_signals=signals, talking_points=points[: rules.max_talking_points]
    )


def _consent_view(channel: str, purpose: str, consent: Consent) -> ConsentView:
    return ConsentView(
        channel=channel,
        purpose=purpose,
        granted=consent.granted,
        at=consent.at,
        cause=consent.cause,
    )


def _marketing_channels(state: ProfileState) -> tuple[str, ...]:
    return tuple(
        channel
        for channel in get_args(ContactChannel)
        if (consent := state.consent_for(channel, "marketing")) is not None and consent.granted
    )


def _all_orders(state: ProfileState) -> list[Order]:
    partner = [order for by_id in state.partner_orders.values() for order in by_id.values()]
    return [*state.orders.values(), *partner]


def _refunded_minor(order: Order, currency: str) -> int:
    return sum(r.amount_minor for r in order.returns.values() if r.currency == currency)


def _orders(state: ProfileState) -> OrdersSummary:
    placed = [order for order in _all_orders(state) if order.placed is not None]
    live = [order for order in placed if order.cancelled_at is None]
    totals: dict[str, int] = {}
    counts: dict[str, int] = {}
    for order in live:
        assert order.placed is not None  # filtered above; narrows for mypy
        currency = order.placed.currency
        net = order.placed.amount_minor - _refunded_minor(order, currency)
        totals[currency] = totals.get(currency, 0) + net
        counts[currency] = counts.get(currency, 0) + 1
    value = {currency: max(0, total) for currency, total in sorted(totals.items())}
    last = max(placed, key=_placed_key, default=None)
    return OrdersSummary(
        count=len(live),
        direct=sum(1 for order in live if order.partner_account is None),
        partner=sum(1 for order in live if order.partner_account is not None),
        cancelled=len(placed) - len(live),
        returned=sum(1 for order in placed if order.returns),
        lifetime_value={currency: total / 100 for currency, total in value.items()},
        average_order_value={
            currency: round(total / counts[currency] / 100, 2) for currency, total in value.items()
        },
        last_order=None if last is None else _order_view(last),
    )


def _placed_key(order: Order) -> tuple[datetime, str]:
    assert order.placed is not None  # only placed orders are compared
    return order.placed.at, order.placed.event_id


def _order_view(order: Order) -> OrderView:
    placed = order.placed
    assert placed is not None  # only placed orders are shown
    return OrderView(
        order_id=order.order_id,
        via=placed.via,
        partner_account=order.partner_account,
        placed_at=placed.at,
        amount=placed.amount_minor / 100,
        currency=placed.currency,
        refunded=_refunded_minor(order, placed.currency) / 100,
        cancelled=order.cancelled_at is not None,
    )


def _tier(orders: OrdersSummary, rules: ProfileRules) -> str:
    value = orders.lifetime_value.get(rules.currency, 0.0)
    tier = rules.base_tier
    for name, threshold in rules.tiers:
        if value >= threshold:
            tier = name
    return tier


def _open_cases(state: ProfileState) -> tuple[CaseView, ...]:
    views = []
    for case in state.cases.values():
        if case.status is None or not case.is_open():
            continue
        opened = case.opened
        views.append(
            CaseView(
                case_id=case.case_id,
                subject=opened.subject if opened else None,
                category=opened.category if opened else None,
                priority=opened.priority if opened else None,
                is_complaint=opened.is_complaint if opened else False,
                status=case.status.value,
                opened_at=opened.at if opened else None,
                status_at=case.status.at,
            )
        )
    return tuple(sorted(views, key=lambda view: (view.status_at, view.case_id), reverse=True))


def _complaints(state: ProfileState) -> list[ComplaintView]:
    """Every complaint, newest first."""
    complaints = [
        ComplaintView(
            at=case.opened.at, source="case", reference=case.case_id, subject=case.opened.subject
        )
        for case in state.cases.values()
        if case.opened is not None and case.opened.is_complaint
    ]
    complaints += [
        ComplaintView(at=spam.at, source="email", reference=spam.message_id, subject=spam.subject)
        for spam in state.spam_complaints.values()
    ]
    return sorted(
        complaints, key=lambda c: (c.at, c.source, c.reference, c.subject or ""), reverse=True
    )


def _satisfaction(state: ProfileState) -> SatisfactionView:
    surveys = [
        state.surveys[key] for key in sorted(state.surveys, key=lambda k: (state.surveys[k].at, k))
    ]
    if not surveys:
        return SatisfactionView(
            count=0, latest=None, latest_score=None, latest_at=None, average=None
        )
    latest = surveys[-1]
    average = sum(survey.satisfaction for survey in surveys) / len(surveys)
    return SatisfactionView(
        count=len(surveys),
        latest=latest.satisfaction,
        latest_score=f"{latest.score}/{latest.scale.split('-')[1]}",
        latest_at=latest.at,
        average=round(average, 4),
    )


def _engagement(state: ProfileState, rules: ProfileRules, now: datetime) -> EngagementView:
    today = now.date()
    recent = baseline = 0
    for day, count in state.engagement.items():
        age = (today - date.fromisoformat(day)).days
        if 0 <= age < rules.engagement_recent_days:
            recent += count
        elif 0 <= age - rules.engagement_recent_days < rules.engagement_baseline_days:
            baseline += count
    monthly = baseline * rules.engagement_recent_days / rules.engagement_baseline_days
    return EngagementView(recent=recent, baseline_monthly=round(monthly, 4))


def _owning_partner(state: ProfileState) -> PartnerView | None:
    if not state.partners:
        return None
    account, seen = max(state.partners.items(), key=lambda i: (i[1].last_at, i[1].last_event_id))
    orders = state.partner_orders.get(account, {}).values()
    return PartnerView(
        account=account,
        name=seen.name,
        last_seen_at=seen.last_at,
        orders=sum(1 for o in orders if o.placed is not None and o.cancelled_at is None),
    )


def _active_offers(state: ProfileState, now: datetime) -> tuple[OfferView, ...]:
    ends = list(state.offer_ends.values())
    active = [
        OfferView(
            campaign_id=offer.campaign_id or None,
            offer_code=offer.offer_code,
            via=offer.via,
            made_at=offer.made_at,
            expires_at=offer.expires_at,
            made_by=offer.made_by,
        )
        for offers in state.offers.values()
        for offer in offers.values()
        if (offer.expires_at is None or offer.expires_at > now)
        and not any(
            end.campaign_id == offer.campaign_id
            and end.at >= offer.made_at
            and end.offer_code in (None, offer.offer_code)
            and end.via in (None, offer.via)
            for end in ends
        )
    ]
    return tuple(
        sorted(active, key=lambda o: (o.made_at, o.campaign_id or "", o.offer_code), reverse=True)
    )


def _signals(
    state: ProfileState,
    profile: Profile,
    complaints: list[ComplaintView],
    rules: ProfileRules,
    now: datetime,
) -> tuple[Signal, ...]:
    signals = []
    if profile.do_not_contact:
        until = profile.do_not_contact_until
        text = "Do-not-contact is set" + (f" until {until:%Y-%m-%d}" if until else "")
        signals.append(Signal(code="do_not_contact", text=text))
    aged = [
        c
        for c in complaints
        if now - rules.churn_complaint_lookback <= c.at <= now - rules.churn_after_complaint
    ]
    if aged and not any(
        o.placed.at > aged[0].at
        for o in _all_orders(state)
        if o.placed is not None and o.cancelled_at is None
    ):
        text = f"No purchase since the complaint of {aged[0].at:%Y-%m-%d}"
        signals.append(Signal(code="no_purchase_since_complaint", text=text))
    engagement = profile.engagement
    if (
        engagement.baseline_monthly >= rules.engagement_min_monthly
        and engagement.recent < engagement.baseline_monthly / 2
    ):
        text = (
            f"Engagement fell to {engagement.recent} in the last {rules.engagement_recent_days}"
            f" days from {engagement.baseline_monthly:.1f} a month before"
        )
        signals.append(Signal(code="declining_engagement", text=text))
    satisfaction = profile.satisfaction
    if (
        satisfaction.latest is not None
        and satisfaction.latest_at is not None
        and satisfaction.latest_at >= now - rules.satisfaction_window
        and satisfaction.latest < rules.low_satisfaction
    ):
        text = f"Latest survey scored {satisfaction.latest_score}"
        signals.append(Signal(code="low_satisfaction", text=text))
    return tuple(signals)


def _talking_points(
    state: ProfileState, profile: Profile, rules: ProfileRules, now: datetime
) -> tuple[str, ...]:
    points = []
    if profile.do_not_contact:
        points.append("Do not make offers: do-not-contact is set.")
    for case in profile.open_cases:
        kind = "Complaint" if case.is_complaint else "Case"
        subject = f": '{case.subject}'" if case.subject else ""
        status = "" if case.status == "open" else f" ({case.status.replace('_', ' ')})"
        points.append(f"{kind} {case.case_id} is open{status}{subject}.")
    open_ids = {case.case_id for case in profile.open_cases}
    for complaint in profile.recent_complaints:
        if complaint.source == "email":
            subject = f" '{complaint.subject}'" if complaint.subject else ""
            points.append(f"Marked email{subject} as spam on {complaint.at:%Y-%m-%d}.")
        elif complaint.reference not in open_ids:
            points.append(f"Complained on {complaint.at:%Y-%m-%d} (case {complaint.reference}).")
    last = profile.orders.last_order
    if last is not None and last.placed_at >= now - rules.recent_order:
        via = _partner_name(state, last.partner_account) if last.partner_account else last.via
        said = f"Ordered {last.order_id} on {last.placed_at:%Y-%m-%d} via {via}"
        said += f", {money(last.amount, last.currency)}"
        if last.cancelled:
            said += ", cancelled"
        elif last.refunded:
            said += f", {money(last.refunded, last.currency)} refunded"
        points.append(f"{said}.")
    satisfaction = profile.satisfaction
    if (
        satisfaction.latest_at is not None
        and satisfaction.latest_at >= now - rules.satisfaction_window
    ):
        on = f"{satisfaction.latest_at:%Y-%m-%d}"
        points.append(f"Latest survey scored {satisfaction.latest_score} on {on}.")
    if profile.recent_complaints and not profile.do_not_contact and profile.active_offers:
        points.append("Hold back pending offers: a complaint is recent.")
    elif not profile.do_not_contact:
        for offer in profile.active_offers:
            campaign = f" (campaign {offer.campaign_id})" if offer.campaign_id else ""
            points.append(
                f"Offer {offer.offer_code}{campaign} is pending, made via {offer.via}"
                f" on {offer.made_at:%Y-%m-%d}."
            )
    return tuple(points)


def _partner_name(state: ProfileState, account: str) -> str:
    seen = state.partners.get(account)
    return seen.name if seen is not None and seen.name else account
