"""The customer profile as an agent's screen reads it, in one read.

:func:`render` turns a :class:`~touchline.projections.profile.ProfileState`
into a :class:`Profile` under :class:`ProfileRules`, at an injected ``now``.
Everything that depends on time or judgement is derived here, never stored:

- **Money**: lifetime value is kept per currency (no exchange rates): placed
  orders that were not cancelled, less their returns. A cancelled partner
  order counts nothing (its refund is not subtracted again); a return counts
  only against an order the profile knows, in that order's currency.
- **Complaints**: cases opened with ``is_complaint`` (at their opening) and
  ``email.complained`` (a spam report, which also revokes email marketing).
- **Owning partner**: the account of the latest partner event by time (the
  relationship as it stands now), not the one with most orders.
- **Engagement**: inbound events per UTC day, counted over the recent and the
  baseline windows (cut to the days the state keeps, if the rules ask for more).

The judgements (value tier, churn signals, talking points) and the
:class:`ProfileRules` they follow are in :mod:`touchline.projections.profile_signals`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import get_args

import msgspec

from touchline.events.consent import ContactChannel
from touchline.projections.profile_parts import (
    CaseView,
    ComplaintView,
    ConsentView,
    EngagementView,
    OfferView,
    OpportunityView,
    OrdersSummary,
    OrderView,
    PartnerView,
    ProfileFacts,
    RepView,
    SatisfactionView,
)
from touchline.projections.profile_sales import open_opportunities, owning_rep
from touchline.projections.profile_signals import (
    ProfileRules,
    Signal,
    churn_signals,
    talking_points,
    value_tier,
)
from touchline.projections.profile_state import (
    ENGAGEMENT_DAYS_KEPT,
    Consent,
    Order,
    ProfileState,
)

__all__ = [
    "CaseView",
    "ComplaintView",
    "ConsentView",
    "EngagementView",
    "OfferView",
    "OpportunityView",
    "OrderView",
    "OrdersSummary",
    "PartnerView",
    "Profile",
    "ProfileRules",
    "RepView",
    "SatisfactionView",
    "Signal",
    "render",
]


class Profile(ProfileFacts, frozen=True, kw_only=True):
    """One customer on one screen; field names are a contract (JSON-friendly)."""

    value_tier: str
    churn_signals: tuple[Signal, ...]
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
    facts = ProfileFacts(
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
        open_cases=_open_cases(state),
        recent_complaints=tuple(c for c in complaints if c.at >= now - rules.complaint_window),
        satisfaction=_satisfaction(state),
        engagement=_engagement(state, rules, now),
        owning_partner=_owning_partner(state),
        partners=_partners(state),
        active_offers=_active_offers(state, now),
        owning_rep=owning_rep(state),
        open_opportunities=open_opportunities(state),
    )
    points = talking_points(state, facts, rules, now)
    return Profile(
        **msgspec.structs.asdict(facts),
        value_tier=value_tier(orders, rules),
        churn_signals=churn_signals(state, facts, complaints, rules, now),
        talking_points=points[: rules.max_talking_points],
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


def _refunded_minor(order: Order, currency: str) -> int:
    return sum(r.amount_minor for r in order.returns.values() if r.currency == currency)


def _orders(state: ProfileState) -> OrdersSummary:
    placed = [order for order in state.all_orders() if order.placed is not None]
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
    # The state keeps the days up to ENGAGEMENT_DAYS_KEPT before its latest one,
    # so ages 0..ENGAGEMENT_DAYS_KEPT from now are all there: windows asking for
    # more are cut to those days (the baseline first) rather than averaged over
    # days that were dropped.
    readable = ENGAGEMENT_DAYS_KEPT + 1
    recent_days = min(rules.engagement_recent_days, readable)
    baseline_days = min(rules.engagement_baseline_days, readable - recent_days)
    today = now.date()
    recent = baseline = 0
    for day, count in state.engagement.items():
        age = (today - date.fromisoformat(day)).days
        if 0 <= age < recent_days:
            recent += count
        elif 0 <= age - recent_days < baseline_days:
            baseline += count
    monthly = baseline * recent_days / baseline_days if baseline_days > 0 else 0.0
    return EngagementView(recent=recent, baseline_monthly=round(monthly, 4))


def _owning_partner(state: ProfileState) -> PartnerView | None:
    partners = _partners(state)
    return partners[0] if partners else None


def _partners(state: ProfileState) -> tuple[PartnerView, ...]:
    """Latest first, by time then event id (the same order whichever came in first)."""
    seen = sorted(
        state.partners.items(), key=lambda i: (i[1].last_at, i[1].last_event_id), reverse=True
    )
    return tuple(
        PartnerView(
            account=account,
            name=partner.name,
            last_seen_at=partner.last_at,
            orders=sum(
                1
                for o in state.partner_orders.get(account, {}).values()
                if o.placed is not None and o.cancelled_at is None
            ),
        )
        for account, partner in seen
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
