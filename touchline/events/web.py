"""Web touchpoints: browsing, search, cart and checkout, forms and live chat.

The visitor is named by the envelope's identities (``web_id`` for an anonymous
browser, ``email`` or ``crm_id`` once they log in); ``session_id`` groups one
visit.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from touchline.events.base import (
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

Count = Annotated[int, msgspec.Meta(ge=0)]


class WebEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "web"

    session_id: str | None = None


class PageViewed(WebEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "web.page_viewed"

    url: NonEmpty
    title: str | None = None
    referrer: str | None = None

    def summary(self) -> str:
        url = clip(self.url, 80)
        page = f"'{clip(self.title)}' ({url})" if self.title else url
        came = f" from {clip(self.referrer, 80)}" if self.referrer else ""
        return f"Viewed page {page}{came}"


class ProductViewed(WebEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "web.product_viewed"

    sku: NonEmpty
    name: str | None = None
    price: Money | None = None
    currency: Currency | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        require_together(self.price, self.currency, field="price")

    def summary(self) -> str:
        product = f"'{clip(self.name)}' ({self.sku})" if self.name else self.sku
        priced = (
            f", {money(self.price, self.currency)}"
            if self.price is not None and self.currency is not None
            else ""
        )
        return f"Viewed product {product}{priced}"


class Searched(WebEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "web.searched"

    query: NonEmpty
    result_count: Count

    def summary(self) -> str:
        if self.result_count == 0:
            found = "no results"
        elif self.result_count == 1:
            found = "1 result"
        else:
            found = f"{self.result_count:,} results"
        return f"Searched '{clip(self.query)}' ({found})"


class CartUpdated(WebEvent, frozen=True, kw_only=True):
    """The whole cart after the change (not the delta): the latest one wins."""

    type: ClassVar[str] = "web.cart_updated"

    items: tuple[LineItem, ...]
    cart_value: Money
    currency: Currency
    cart_id: str | None = None

    def summary(self) -> str:
        if not self.items:
            return "Emptied cart"
        value = money(self.cart_value, self.currency)
        return f"Cart updated: {describe_items(self.items)}, {value}"


class CheckoutCompleted(WebEvent, frozen=True, kw_only=True):
    """The shop's view of a finished checkout; the order itself is ``order.placed``."""

    type: ClassVar[str] = "web.checkout_completed"

    order_id: NonEmpty
    total: Money
    currency: Currency

    def summary(self) -> str:
        return f"Checkout completed: order {self.order_id}, {money(self.total, self.currency)}"


class FormSubmitted(WebEvent, frozen=True, kw_only=True):
    """A web form sent in; ``fields`` holds what the visitor typed, by field name."""

    type: ClassVar[str] = "web.form_submitted"

    form: NonEmpty
    fields: dict[str, str] = msgspec.field(default_factory=dict)
    url: str | None = None

    def summary(self) -> str:
        count = len(self.fields)
        filled = f" ({count} field{'' if count == 1 else 's'})" if count else ""
        return f"Submitted form '{clip(self.form)}'{filled}"


class ChatMessageSent(WebEvent, frozen=True, kw_only=True):
    """One message in a live chat, from either side."""

    type: ClassVar[str] = "web.chat_message_sent"

    conversation_id: NonEmpty
    sender: Literal["customer", "agent", "bot"]
    text: Text
    agent_id: str | None = None
    agent_name: str | None = None

    def summary(self) -> str:
        who = self.sender.capitalize()
        if self.sender == "agent" and (self.agent_name or self.agent_id):
            who = f"Agent {self.agent_name or self.agent_id}"
        return f"{who} in chat: {clip(self.text)}"


WEB_EVENTS: tuple[type[Payload], ...] = (
    PageViewed,
    ProductViewed,
    Searched,
    CartUpdated,
    CheckoutCompleted,
    FormSubmitted,
    ChatMessageSent,
)
