"""Partner and reseller touchpoints: orders, leads and claims a partner reports.

Every event names the partner (``partner_account``) and the partner's own
reference for the end customer (``partner_customer_ref``); the envelope's
identities carry the same pair so identity resolution can key on it.
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
    clip,
    money,
    require_together,
)
from touchline.events.order import LineItem, describe_items

__all__ = [
    "PARTNER_EVENTS",
    "ClaimSubmitted",
    "LeadRegistered",
    "LineItem",
    "PartnerEvent",
    "PartnerOrderCancelled",
    "PartnerOrderPlaced",
    "PartnerOrderShipped",
]


class PartnerEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "partner"

    partner_account: NonEmpty
    partner_customer_ref: NonEmpty
    partner_name: str | None = None
    """For people: ``Acme Resellers`` reads better than an account number."""

    def _partner(self) -> str:
        return self.partner_name or self.partner_account


class PartnerOrderPlaced(PartnerEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "partner.order_placed"

    order_id: NonEmpty
    items: Annotated[tuple[LineItem, ...], msgspec.Meta(min_length=1)]
    total: Money
    currency: Currency

    def summary(self) -> str:
        return (
            f"Partner order {self.order_id} via {self._partner()}: "
            f"{describe_items(self.items)}, {money(self.total, self.currency)}"
        )


class PartnerOrderShipped(PartnerEvent, frozen=True, kw_only=True):
    """``items`` lists what left in this shipment when it is partial."""

    type: ClassVar[str] = "partner.order_shipped"

    order_id: NonEmpty
    items: tuple[LineItem, ...] = ()
    carrier: str | None = None
    tracking_ref: str | None = None

    def summary(self) -> str:
        what = f" ({describe_items(self.items)})" if self.items else ""
        how = " ".join(part for part in (self.carrier, self.tracking_ref) if part)
        tracked = f", {how}" if how else ""
        return f"Partner order {self.order_id} shipped by {self._partner()}{what}{tracked}"


class PartnerOrderCancelled(PartnerEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "partner.order_cancelled"

    order_id: NonEmpty
    reason: str | None = None
    amount_refunded: Money | None = None
    currency: Currency | None = None

    def __post_init__(self) -> None:
        require_together(self.amount_refunded, self.currency, field="amount_refunded")

    def summary(self) -> str:
        refunded = (
            f", {money(self.amount_refunded, self.currency)} refunded"
            if self.amount_refunded is not None and self.currency is not None
            else ""
        )
        why = f": {clip(self.reason)}" if self.reason else ""
        return f"Partner order {self.order_id} cancelled via {self._partner()}{refunded}{why}"


class LeadRegistered(PartnerEvent, frozen=True, kw_only=True):
    """A partner registers a prospect it is working, claiming it for a while."""

    type: ClassVar[str] = "partner.lead_registered"

    lead_id: NonEmpty
    interest: str | None = None
    estimated_value: Money | None = None
    currency: Currency | None = None
    protected_until: AwareDatetime | None = None

    def __post_init__(self) -> None:
        require_together(self.estimated_value, self.currency, field="estimated_value")

    def summary(self) -> str:
        parts = [f"Lead {self.lead_id} registered by {self._partner()}"]
        if self.interest:
            parts.append(clip(self.interest))
        if self.estimated_value is not None and self.currency is not None:
            parts.append(f"est. {money(self.estimated_value, self.currency)}")
        return ", ".join(parts)


class ClaimSubmitted(PartnerEvent, frozen=True, kw_only=True):
    """A partner claims money back: a warranty repair, a return, a rebate."""

    type: ClassVar[str] = "partner.claim_submitted"

    claim_id: NonEmpty
    kind: Literal["warranty", "return", "damage", "rebate", "other"]
    amount: Money
    currency: Currency
    order_id: str | None = None
    items: tuple[LineItem, ...] = ()
    reason: str | None = None

    def summary(self) -> str:
        order = f" for order {self.order_id}" if self.order_id else ""
        why = f": {clip(self.reason)}" if self.reason else ""
        return (
            f"{self.kind.capitalize()} claim {self.claim_id} by {self._partner()}{order}, "
            f"{money(self.amount, self.currency)}{why}"
        )


PARTNER_EVENTS: tuple[type[Payload], ...] = (
    PartnerOrderPlaced,
    PartnerOrderShipped,
    PartnerOrderCancelled,
    LeadRegistered,
    ClaimSubmitted,
)
