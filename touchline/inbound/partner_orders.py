"""A partner's order event (placed, shipped, cancelled) to a ``partner.order_*`` event.

One shape, the partner order webhook's, whichever way it arrives: the
signed webhook posts it as JSON, and a line of a dropped order file
(:mod:`touchline.inbound.order_files`) is read into it. Both publish with
``source`` :data:`SOURCE`, so one order event with one ``event_id`` is one
event whichever way it came.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

import msgspec

from touchline.events import Identities
from touchline.events.base import Payload
from touchline.events.partner import PartnerOrderCancelled, PartnerOrderPlaced, PartnerOrderShipped
from touchline.inbound.items import (
    Item,
    Mapped,
    Senders,
    Unmapped,
    item_id,
    mapped,
    no_senders,
    raw_id,
    text,
)

PARTNER_ORDERS = "partner-orders"
"""The provider name in event ids (``item_id(PARTNER_ORDERS, event_id)``)."""
SOURCE = "partner"
"""The events' ``source``."""

PARTNER_ORDER_TYPES: dict[str, type[Payload]] = {
    "order.placed": PartnerOrderPlaced,
    "order.shipped": PartnerOrderShipped,
    "order.cancelled": PartnerOrderCancelled,
}


def partner_order_item(item: object, senders: Senders, *, source: str) -> Item:
    """``{"event_id", "event": "order.placed|shipped|cancelled", "partner": {...},
    "customer": {"ref", "email"?, "phone"?}, "order": {...}, "occurred_at"}``,
    its id from the partner's ``event_id`` (else from its content)."""
    del senders  # a partner's order names no action of ours
    if not isinstance(item, Mapping):
        return Unmapped(raw_id(PARTNER_ORDERS, item), "invalid", "an order event is an object")
    key = text(item.get("event_id"))
    event_id = item_id(PARTNER_ORDERS, key) if key else raw_id(PARTNER_ORDERS, item)
    return partner_order(item, event_id=event_id, source=source)


def partner_order(item: Mapping[str, object], *, event_id: UUID, source: str) -> Mapped | Unmapped:
    """The event for one order event in the webhook's shape, under ``event_id``."""
    partner = item.get("partner")
    customer = item.get("customer")
    partner = partner if isinstance(partner, Mapping) else {}
    customer = customer if isinstance(customer, Mapping) else {}
    account, ref = text(partner.get("account")), text(customer.get("ref"))
    if account is None or ref is None:
        return Unmapped(event_id, "no_identifier", "no partner account or customer ref")
    identities = Identities(
        partner_account=account,
        partner_customer_ref=ref,
        email=text(customer.get("email")),
        phone=text(customer.get("phone")),
    )
    kind = text(item.get("event")) or ""
    head: dict[str, object] = {
        "partner_account": account,
        "partner_customer_ref": ref,
        "partner_name": text(partner.get("name")),
    }
    order = item.get("order")
    try:
        at = datetime.fromisoformat(str(item.get("occurred_at")))
        payload = msgspec.convert(
            {**head, **(order if isinstance(order, Mapping) else {})},
            PARTNER_ORDER_TYPES[kind],
            strict=False,
        )
    except KeyError:
        return Unmapped(
            event_id, "unknown_event", f"no catalogue type for order event {kind!r}", identities
        )
    except (ValueError, msgspec.ValidationError) as error:
        return Unmapped(event_id, "invalid", f"{kind}: {error}", identities)
    if at.tzinfo is None:
        return Unmapped(event_id, "invalid", "an occurred_at without its zone", identities)
    return mapped(
        payload,
        at=at,
        event_id=event_id,
        source=source,
        action_id=None,
        senders=no_senders,
        identities=identities,
    )
