"""The field sales force as a channel: what reps log in the sales-force system.

A rep's visit or meeting, a quote sent, and an opportunity's life (opened,
moved to another stage, won or lost). Every event names the rep who did it
(``rep_id``, the sales-force system's user id; ``rep_name`` for people), so
the profile can say who owns the relationship now and which opportunities
are open, and the campaign synchronizer can count a visit as a touch.

The envelope carries the customer's identifiers as usual (the sales-force
system's account id goes in ``crm_id``).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from touchline.events.base import (
    AwareDatetime,
    Currency,
    Money,
    NonEmpty,
    Payload,
    Text,
    clip,
    money,
    require_together,
)
from touchline.events.order import LineItem, describe_items

__all__ = [
    "SALES_EVENTS",
    "OpportunityLost",
    "OpportunityOpened",
    "OpportunityStageChanged",
    "OpportunityWon",
    "QuoteSent",
    "SalesEvent",
    "VisitLogged",
]

MeetingKind = Literal["visit", "meeting", "video_call"]
"""A visit is at the customer's site; a meeting anywhere else face to face."""
QuoteDelivery = Literal["in_person", "email", "fax", "post"]


class SalesEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "sales"

    rep_id: NonEmpty
    """The rep who did it, as the sales-force system names its users."""
    rep_name: str | None = None

    def _rep(self) -> str:
        return self.rep_name or self.rep_id


class _Priced(SalesEvent, frozen=True, kw_only=True):
    """An amount is optional, but never without its currency."""

    amount: Money | None = None
    currency: Currency | None = None

    def __post_init__(self) -> None:
        require_together(self.amount, self.currency, field="amount")

    def _value(self) -> str:
        if self.amount is None or self.currency is None:
            return ""
        return f", {money(self.amount, self.currency)}"


class VisitLogged(SalesEvent, frozen=True, kw_only=True):
    """A rep met the customer: a touch made by a person, face to face."""

    type: ClassVar[str] = "sales.visit_logged"

    kind: MeetingKind = "visit"
    notes: Text | None = None
    duration_minutes: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)] | None = None
    opportunity_id: str | None = None

    def summary(self) -> str:
        what = {"visit": "Visit", "meeting": "Meeting", "video_call": "Video call"}[self.kind]
        notes = f": {clip(self.notes)}" if self.notes else ""
        return f"{what} by {self._rep()}{notes}"


class QuoteSent(_Priced, frozen=True, kw_only=True):
    type: ClassVar[str] = "sales.quote_sent"

    quote_id: NonEmpty
    via: QuoteDelivery
    valid_until: AwareDatetime | None = None
    opportunity_id: str | None = None
    items: tuple[LineItem, ...] = ()

    def summary(self) -> str:
        items = f" ({describe_items(self.items)})" if self.items else ""
        return f"Quote {self.quote_id} sent via {self.via} by {self._rep()}{self._value()}{items}"


class OpportunityOpened(_Priced, frozen=True, kw_only=True):
    type: ClassVar[str] = "sales.opportunity_opened"

    opportunity_id: NonEmpty
    title: NonEmpty
    stage: NonEmpty = "qualification"
    expected_close_at: AwareDatetime | None = None

    def summary(self) -> str:
        return f"Opportunity '{clip(self.title)}' opened by {self._rep()}{self._value()}"


class OpportunityStageChanged(_Priced, frozen=True, kw_only=True):
    """Moved to another stage of the sales-force system's own pipeline."""

    type: ClassVar[str] = "sales.opportunity_stage_changed"

    opportunity_id: NonEmpty
    stage: NonEmpty

    def summary(self) -> str:
        return f"Opportunity {self.opportunity_id} moved to {clip(self.stage)}{self._value()}"


class OpportunityWon(_Priced, frozen=True, kw_only=True):
    type: ClassVar[str] = "sales.opportunity_won"

    opportunity_id: NonEmpty
    order_id: str | None = None
    """The order it became, when the order system's id is known."""

    def summary(self) -> str:
        order = f", order {self.order_id}" if self.order_id else ""
        return f"Opportunity {self.opportunity_id} won by {self._rep()}{self._value()}{order}"


class OpportunityLost(SalesEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "sales.opportunity_lost"

    opportunity_id: NonEmpty
    reason: str | None = None
    competitor: str | None = None

    def summary(self) -> str:
        why = f": {clip(self.reason)}" if self.reason else ""
        to = f" to {clip(self.competitor, 40)}" if self.competitor else ""
        return f"Opportunity {self.opportunity_id} lost{to}{why}"


SALES_EVENTS: tuple[type[Payload], ...] = (
    VisitLogged,
    QuoteSent,
    OpportunityOpened,
    OpportunityStageChanged,
    OpportunityWon,
    OpportunityLost,
)
