"""Direct orders (web shop, app, store, phone, mail) and their returns.

Orders placed through a partner or reseller are ``partner.*`` events; both
kinds count towards conversion and lifetime value. :class:`LineItem` and
:func:`describe_items` are shared by every event that lists goods (web cart,
partner orders and claims).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

import msgspec

from touchline.events.base import Currency, Money, NonEmpty, Payload, clip, money

Quantity = Annotated[int, msgspec.Meta(gt=0)]

DirectChannel = Literal["web", "app", "store", "phone", "email", "fax", "post"]
"""Where a customer ordered directly from us."""
SalesChannel = Literal[DirectChannel, "partner"]
"""Where any order came from, partner orders included (for attribution)."""


class LineItem(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    forbid_unknown_fields=True,
    gc=False,
):
    """One line of an order, cart or claim: so many units of one SKU at a unit price."""

    sku: NonEmpty
    quantity: Quantity
    unit_price: Money
    description: str | None = None

    @property
    def amount(self) -> float:
        return self.quantity * self.unit_price


def describe_items(items: Sequence[LineItem]) -> str:
    """``3 items`` (units, not lines): how many things changed hands."""
    units = sum(item.quantity for item in items)
    return f"{units:,} item" if units == 1 else f"{units:,} items"


class OrderEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "order"

    order_id: NonEmpty


class OrderPlaced(OrderEvent, frozen=True, kw_only=True):
    """A direct order. ``total`` is what the customer pays, after discounts,
    so it need not equal the sum of the lines."""

    type: ClassVar[str] = "order.placed"

    items: Annotated[tuple[LineItem, ...], msgspec.Meta(min_length=1)]
    total: Money
    currency: Currency
    via: DirectChannel
    store_id: str | None = None
    taken_by: str | None = None
    """The agent or sales rep who took the order, for assisted sales."""

    def summary(self) -> str:
        return (
            f"Order {self.order_id} placed via {self.via}: "
            f"{describe_items(self.items)}, {money(self.total, self.currency)}"
        )


class OrderReturned(OrderEvent, frozen=True, kw_only=True):
    """Goods came back; ``items`` lists them when the return is partial."""

    type: ClassVar[str] = "order.returned"

    amount_refunded: Money
    currency: Currency
    reason: str | None = None
    items: tuple[LineItem, ...] = ()

    def summary(self) -> str:
        what = f" ({describe_items(self.items)})" if self.items else ""
        why = f": {clip(self.reason)}" if self.reason else ""
        refunded = money(self.amount_refunded, self.currency)
        return f"Order {self.order_id} returned{what}, {refunded} refunded{why}"


ORDER_EVENTS: tuple[type[Payload], ...] = (OrderPlaced, OrderReturned)
