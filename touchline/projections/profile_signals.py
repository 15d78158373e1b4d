"""What the profile concludes about a customer: value tier, churn signals, talking points.

:func:`~touchline.projections.profile_view.render` gathers the facts
(:class:`~touchline.projections.profile_parts.ProfileFacts`)
and asks this module what they mean, under :class:`ProfileRules`:

- **Value tier**: the lifetime value in ``rules.currency`` (EUR by default)
  against ``rules.tiers``; other currencies do not move it.
- **Churn signals**: do-not-contact; no purchase since a complaint between
  ``churn_after_complaint`` and ``churn_complaint_lookback`` old; engagement
  declining (the last 30 days hold less than half the monthly average of the
  90 days before them, and that average is at least ``engagement_min_monthly``);
  a recent survey below ``low_satisfaction``.
- **Talking points**: what an agent should know before speaking (``render``
  keeps the first ``max_talking_points``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from touchline.events.base import money
from touchline.projections.profile_parts import ComplaintView, OrdersSummary, ProfileFacts
from touchline.projections.profile_state import ProfileState

__all__ = ["ProfileRules", "Signal", "churn_signals", "talking_points", "value_tier"]


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
    """...when that complaint is at most this old (spam complaints are kept
    :data:`~touchline.projections.profile_state.SPAM_COMPLAINTS_KEPT` days only)."""
    engagement_recent_days: int = 30
    engagement_baseline_days: int = 90
    """Together at most ``ENGAGEMENT_DAYS_KEPT + 1`` days
    (:mod:`~touchline.projections.profile_state`): render cuts longer windows to that."""
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


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """A reason to fear the customer may leave: a stable ``code`` and a sentence."""

    code: str
    text: str


def value_tier(orders: OrdersSummary, rules: ProfileRules) -> str:
    value = orders.lifetime_value.get(rules.currency, 0.0)
    tier = rules.base_tier
    for name, threshold in rules.tiers:
        if value >= threshold:
            tier = name
    return tier


def churn_signals(
    state: ProfileState,
    profile: ProfileFacts,
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
        for o in state.all_orders()
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


def talking_points(
    state: ProfileState, profile: ProfileFacts, rules: ProfileRules, now: datetime
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
    points.extend(_deal_points(profile))
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


def _deal_points(profile: ProfileFacts) -> list[str]:
    points = []
    for deal in profile.open_opportunities:
        value = f", {money(deal.amount, deal.currency)}" if deal.amount and deal.currency else ""
        rep = f" (rep {deal.rep_id})" if deal.rep_id else ""
        title = f"'{deal.title}'" if deal.title else deal.opportunity_id
        points.append(f"Opportunity {title} is open at {deal.stage}{value}{rep}.")
    return points


def _partner_name(state: ProfileState, account: str) -> str:
    seen = state.partners.get(account)
    return seen.name if seen is not None and seen.name else account
