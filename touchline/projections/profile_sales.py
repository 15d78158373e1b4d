"""The sales force in the profile: who owns the relationship, which deals are open.

Folded like the rest of the profile (see :mod:`touchline.projections.profile`):
order-insensitive, so every part is the latest by ``(occurred_at, event id)``,
or for an opportunity's opening the first. An opportunity is open until its
latest stage is ``won`` or ``lost``: a stage change dated after a win
reopens it, as the sales-force system says.
"""

from __future__ import annotations

from datetime import datetime

from touchline.events import Envelope
from touchline.events.sales import (
    OpportunityLost,
    OpportunityOpened,
    OpportunityStageChanged,
    OpportunityWon,
    QuoteSent,
    SalesEvent,
    VisitLogged,
)
from touchline.projections.profile_parts import OpportunityView, RepView
from touchline.projections.profile_state import (
    Opportunity,
    Priced,
    ProfileState,
    RepSeen,
    Status,
    minor_units,
    newer,
)


def fold_sales(state: ProfileState, event: Envelope, at: datetime, event_id: str) -> None:
    payload = event.payload
    if not isinstance(payload, SalesEvent):
        return
    rep = RepSeen(rep_id=payload.rep_id, at=at, event_id=event_id, name=payload.rep_name)
    state.rep = _later(state.rep, rep)
    match payload:
        case VisitLogged() | QuoteSent():
            return
        case OpportunityOpened() as opened:
            deal = _opportunity(state, opened.opportunity_id)
            if deal.opened_at is None or newer(deal.opened_at, deal.opened_event_id, at, event_id):
                deal.title, deal.opened_at, deal.opened_event_id = opened.title, at, event_id
                deal.expected_close_at = opened.expected_close_at
            stage = opened.stage
        case OpportunityStageChanged() as moved:
            deal = _opportunity(state, moved.opportunity_id)
            stage = moved.stage
        case OpportunityWon() as won:
            deal = _opportunity(state, won.opportunity_id)
            stage = "won"
        case OpportunityLost() as lost:
            deal = _opportunity(state, lost.opportunity_id)
            stage = "lost"
        case _:  # a sales event this fold does not know yet: the rep is all it says
            return
    deal.rep = _later(deal.rep, rep)
    status = Status(value=stage, at=at, event_id=event_id)
    if deal.stage is None or newer(at, event_id, deal.stage.at, deal.stage.event_id):
        deal.stage = status
    amount = getattr(payload, "amount", None)
    currency = getattr(payload, "currency", None)
    if amount is not None and currency is not None:
        priced = Priced(
            amount_minor=minor_units(amount), currency=currency, at=at, event_id=event_id
        )
        known = deal.amount
        if known is None or newer(at, event_id, known.at, known.event_id):
            deal.amount = priced


def owning_rep(state: ProfileState) -> RepView | None:
    rep = state.rep
    if rep is None:
        return None
    return RepView(rep_id=rep.rep_id, name=rep.name, last_seen_at=rep.at)


def open_opportunities(state: ProfileState) -> tuple[OpportunityView, ...]:
    """Open deals, the one that moved last first."""
    views = [
        OpportunityView(
            opportunity_id=deal.opportunity_id,
            title=deal.title,
            stage=deal.stage.value,
            stage_at=deal.stage.at,
            opened_at=deal.opened_at,
            amount=None if deal.amount is None else deal.amount.amount_minor / 100,
            currency=None if deal.amount is None else deal.amount.currency,
            rep_id=None if deal.rep is None else deal.rep.rep_id,
            expected_close_at=deal.expected_close_at,
        )
        for deal in state.opportunities.values()
        if deal.stage is not None and deal.is_open()
    ]
    return tuple(sorted(views, key=lambda v: (v.stage_at, v.opportunity_id), reverse=True))


def _later(known: RepSeen | None, seen: RepSeen) -> RepSeen:
    if known is None or newer(seen.at, seen.event_id, known.at, known.event_id):
        return seen
    return known


def _opportunity(state: ProfileState, opportunity_id: str) -> Opportunity:
    deal = state.opportunities.get(opportunity_id)
    if deal is None:
        deal = state.opportunities[opportunity_id] = Opportunity(opportunity_id=opportunity_id)
    return deal
