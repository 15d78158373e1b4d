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
    LegacyPayload,
    Money,
    NonEmpty,
    Payload,
    clip,
    money,
    require_together,
)
from touchline.events.campaign_terms import ContactPressure, OfferTerms, QuietHours, Step
from touchline.events.consent import ConsentPurpose, ContactChannel
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
    """A campaign's definition; the envelope's ``campaign_id`` names it.

    It concerns no one customer: the resolver hands it to every partition
    of the interactions, so each synchronizer meets it before the events
    published after it. Customers join by ``campaign.targeted``.
    """

    type: ClassVar[str] = "campaign.launched"
    version: ClassVar[int] = 2

    name: NonEmpty
    offers: Annotated[tuple[OfferTerms, ...], msgspec.Meta(min_length=1, max_length=50)]
    sequence: Annotated[tuple[Step, ...], msgspec.Meta(min_length=1, max_length=20)]
    channels: tuple[ContactChannel, ...] = ()
    """Where the offer may also be made or answered (an agent on an inbound
    call, a rep's visit); the sequence's channels always are."""
    pressure: ContactPressure | None = None
    quiet_hours: QuietHours | None = None
    ends_at: AwareDatetime | None = None
    complaint_pauses: bool = True
    """A complaint within the profile's complaint window suppresses it."""
    consent_purpose: ConsentPurpose = "marketing"

    def __post_init__(self) -> None:
        codes = [offer.code for offer in self.offers]
        if len(set(codes)) != len(codes):
            raise ValueError("offer codes must be unique within a campaign")

    def eligible(self) -> tuple[ContactChannel, ...]:
        """Every channel the offer may go through, the sequence's first."""
        return tuple(dict.fromkeys([*(step.channel for step in self.sequence), *self.channels]))

    def summary(self) -> str:
        steps = ", then ".join(step.channel for step in self.sequence)
        offers = ", ".join(offer.code for offer in self.offers)
        return f"Campaign '{clip(self.name)}' launched: {steps}; offer {offers}"


class CampaignLaunchedV1(LegacyPayload, frozen=True, kw_only=True):
    """``channels`` is the sequence to try: the next one only after
    ``follow_up_after_days`` without engagement (never, if not given)."""

    type: ClassVar[str] = "campaign.launched"
    channel: ClassVar[str] = "campaign"

    name: NonEmpty
    channels: Annotated[tuple[ContactChannel, ...], msgspec.Meta(min_length=1)]
    offer_code: str | None = None
    follow_up_after_days: Annotated[int, msgspec.Meta(ge=1)] | None = None
    ends_at: AwareDatetime | None = None

    def upcast(self) -> CampaignLaunched:
        first, *rest = self.channels
        follow_up = self.follow_up_after_days
        later = [Step(channel=c, after_days=follow_up) for c in rest] if follow_up else []
        return CampaignLaunched(
            name=self.name,
            offers=(OfferTerms(code=self.offer_code or DEFAULT_OFFER),),
            sequence=(Step(channel=first), *later),
            channels=self.channels,
            ends_at=self.ends_at,
        )


DEFAULT_OFFER = "default"
"""The offer code of a campaign launched at version 1 without one."""


class CustomerTargeted(CampaignEvent, frozen=True, kw_only=True):
    """This customer joins the campaign (the envelope's ``campaign_id``)."""

    type: ClassVar[str] = "campaign.targeted"

    segment: str | None = None
    """The segment that chose them, when a segment did."""
    targeted_by: str | None = None

    def summary(self) -> str:
        why = f" (segment '{clip(self.segment)}')" if self.segment else ""
        return f"Targeted by the campaign{why}"


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
    recorded_by: str | None = None
    """The agent or rep who heard the answer, for answers given to a person."""

    def summary(self) -> str:
        offer = f"Offer {self.offer_code}" if self.offer_code else "Offer"
        by = f" (recorded by {self.recorded_by})" if self.recorded_by else ""
        return f"{offer} {self.response} via {self.via}{by}"


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


class FollowUpDue(CampaignEvent, frozen=True, kw_only=True):
    """The synchronizer's own timer: step ``step`` of the channel sequence is due
    (the previous one got no engagement in time, or it waited for quiet hours
    or contact pressure to allow it)."""

    type: ClassVar[str] = "campaign.follow_up_due"

    step: Annotated[int, msgspec.Meta(ge=0)]
    via: ContactChannel

    def summary(self) -> str:
        return f"Campaign step {self.step + 1} due via {self.via}"


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
    CustomerTargeted,
    CustomersTargeted,
    OfferMade,
    OfferResponded,
    CampaignConverted,
    CampaignSuppressed,
    OfferExpired,
    FollowUpDue,
    CampaignClosed,
)

CAMPAIGN_LEGACY: tuple[type[LegacyPayload], ...] = (CampaignLaunchedV1,)

CAMPAIGN_WIDE: frozenset[str] = frozenset({CampaignLaunched.type, "campaign.closed"})
"""Events about a campaign as a whole, about no one customer: every
synchronizer needs them, so they reach every partition of the interactions."""
