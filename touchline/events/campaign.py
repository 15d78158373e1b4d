"""Campaigns and the life of an offer to one customer, in any channel.

The campaign is named by the envelope's ``campaign_id`` (as for every event
a campaign caused), not repeated here. ``campaign.launched``,
``campaign.customers_targeted`` and ``campaign.closed`` are about the
campaign as a whole; the offer events are about one customer, the one the
envelope resolves to, and drive the campaign-synchronization state:
targeted, offered, responded or converted, suppressed, expired.

Offer channels use the consent vocabulary (:data:`ContactChannel`), so an
offer's channel is checked against consent by the same name.
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
from touchline.events.consent import ContactChannel
from touchline.events.order import SalesChannel

SuppressionReason = Literal[
    "opted_out",
    "do_not_contact",
    "recent_complaint",
    "contact_pressure",
    "already_converted",
    "manual",
    "other",
]


class CampaignEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "campaign"


class CampaignLaunched(CampaignEvent, frozen=True, kw_only=True):
    """``channels`` is the sequence to try: the next one only after
    ``follow_up_after_days`` without engagement (never, if not given)."""

    type: ClassVar[str] = "campaign.launched"

    name: NonEmpty
    channels: Annotated[tuple[ContactChannel, ...], msgspec.Meta(min_length=1)]
    offer_code: str | None = None
    follow_up_after_days: Annotated[int, msgspec.Meta(ge=1)] | None = None
    ends_at: AwareDatetime | None = None

    def summary(self) -> str:
        offer = f", offer {self.offer_code}" if self.offer_code else ""
        return f"Campaign '{clip(self.name)}' launched: {', then '.join(self.channels)}{offer}"


class CustomersTargeted(CampaignEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "campaign.customers_targeted"

    segment: NonEmpty
    count: Annotated[int, msgspec.Meta(ge=0)]

    def summary(self) -> str:
        people = "1 customer" if self.count == 1 else f"{self.count:,} customers"
        return f"Targeted segment '{clip(self.segment)}' ({people})"


class OfferMade(CampaignEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "campaign.offer_made"

    via: ContactChannel
    offer_code: NonEmpty
    made_by: str | None = None
    """The agent, rep or partner desk that made it, for human-assisted offers."""
    expires_at: AwareDatetime | None = None

    def summary(self) -> str:
        by = f" by {self.made_by}" if self.made_by else ""
        return f"Offer {self.offer_code} made via {self.via}{by}"


class OfferResponded(CampaignEvent, frozen=True, kw_only=True):
    """Accepted or declined, in whichever channel: it ends the offer everywhere."""

    type: ClassVar[str] = "campaign.offer_responded"

    response: Literal["accepted", "declined"]
    via: ContactChannel
    offer_code: str | None = None

    def summary(self) -> str:
        offer = f"Offer {self.offer_code}" if self.offer_code else "Offer"
        return f"{offer} {self.response} via {self.via}"


class CampaignConverted(CampaignEvent, frozen=True, kw_only=True):
    """An order attributed to the campaign, partner orders included."""

    type: ClassVar[str] = "campaign.converted"

    order_id: NonEmpty
    via: SalesChannel
    amount: Money | None = None
    currency: Currency | None = None
    offer_code: str | None = None

    def __post_init__(self) -> None:
        require_together(self.amount, self.currency, field="amount")

    def summary(self) -> str:
        value = (
            f", {money(self.amount, self.currency)}"
            if self.amount is not None and self.currency is not None
            else ""
        )
        return f"Converted via {self.via}: order {self.order_id}{value}"


class CampaignSuppressed(CampaignEvent, frozen=True, kw_only=True):
    """No (more) offers to this customer; ``via`` limits it to one channel."""

    type: ClassVar[str] = "campaign.suppressed"

    reason: SuppressionReason
    detail: str | None = None
    via: ContactChannel | None = None

    def summary(self) -> str:
        where = f" for {self.via}" if self.via else ""
        detail = f" ({clip(self.detail)})" if self.detail else ""
        return f"Campaign suppressed{where}: {self.reason.replace('_', ' ')}{detail}"


class OfferExpired(CampaignEvent, frozen=True, kw_only=True):
    """The offer to this customer ran out without a response."""

    type: ClassVar[str] = "campaign.expired"

    offer_code: str | None = None

    def summary(self) -> str:
        return f"Offer {self.offer_code} expired" if self.offer_code else "Campaign offer expired"


class CampaignClosed(CampaignEvent, frozen=True, kw_only=True):
    """The campaign ended: pending actions are cancelled, open offers expire."""

    type: ClassVar[str] = "campaign.closed"

    reason: str | None = None
    closed_by: str | None = None

    def summary(self) -> str:
        by = f" by {self.closed_by}" if self.closed_by else ""
        why = f": {clip(self.reason)}" if self.reason else ""
        return f"Campaign closed{by}{why}"


CAMPAIGN_EVENTS: tuple[type[Payload], ...] = (
    CampaignLaunched,
    CustomersTargeted,
    OfferMade,
    OfferResponded,
    CampaignConverted,
    CampaignSuppressed,
    OfferExpired,
    CampaignClosed,
)
