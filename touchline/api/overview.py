"""``GET /v1/customer-overview``: everything the agent console opens with, in one read.

An agent types whatever the caller gave (a phone number, an email, a CRM
id, a customer id) and the console must show the whole story at once: the
profile, the customer's campaigns, the offers that could be made now, and
the first page of the timeline. One request, so the page paints after one
round trip; the next timeline pages come from ``getTimeline`` by cursor, and
later changes from the customer's live stream (:mod:`touchline.api.live`).

The identifier is read as :meth:`touchline.queries.Queries.find` reads it
(as the CLI does): a bare email or phone number, ``kind:value`` for the
rest, or a customer id; a merged customer's id leads to its survivor.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from anyio import to_thread
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from touchline.api.agent import MAX_OFFERS
from touchline.api.problems import bad_request, not_found
from touchline.api.reads import MAX_PAGE
from touchline.events.consent import ContactChannel
from touchline.handlers.campaign_views import CampaignView
from touchline.offers import Decision, NextBestOffer
from touchline.projections.profile_view import Profile
from touchline.projections.timeline import TimelinePage
from touchline.queries import Queries

FIRST_PAGE = 30
"""Timeline entries in the first page: a screen and a half, so the page can
scroll before it asks for more."""


class CustomerStory(msgspec.Struct, kw_only=True):
    """What the console shows beside the timeline; the live stream sends it
    again whenever it changed."""

    customer_id: str
    profile: Profile | None
    """None while the profile has not seen the customer's first event yet."""
    campaigns: list[CampaignView]
    """Every campaign the customer is in, newest change first, with its state."""
    offers: Decision
    """The offers that could be made now on the overview's channel, best first."""


class CustomerOverview(CustomerStory, kw_only=True):
    """The console's first paint: the story, the first timeline page, and where to follow it."""

    matched: str
    """What the customer was found by, as the log stores it (``phone:+12005551000``)."""
    timeline: TimelinePage
    """The first page, newest first; its ``next_cursor`` goes to getTimeline."""
    live: str
    """The path of the customer's live stream (streamCustomer)."""


def tell(
    queries: Queries, next_offer: NextBestOffer, customer_id: str, *, channel: ContactChannel
) -> CustomerStory:
    """The story of ``customer_id`` as it stands now (blocking: it reads the stores)."""
    return CustomerStory(
        customer_id=customer_id,
        profile=queries.profile(customer_id),
        campaigns=queries.customer_campaigns(customer_id),
        offers=next_offer.decide(customer_id, channel=channel, limit=MAX_OFFERS),
    )


def live_path(customer_id: str) -> str:
    return f"/v1/customers/{customer_id}/live"


@get(
    "/v1/customer-overview",
    summary="A customer's profile, campaigns, offers and first timeline page, in one read",
    description=(
        "What the agent console opens with. q is an identifier as a person types it: "
        "an email or a phone number as they are, kind:value for the rest (crm_id:C-42, "
        "partner:acme/PC-7, web_id:..., fax:...), or a customer id (a merged one leads "
        "to its survivor). The offers are decided for channel, as getNextOffer decides "
        "them, and nothing is recorded. Further timeline pages: getTimeline with the "
        "page's next_cursor; later changes: the stream at live."
    ),
    tags=["customers"],
    operation_id="getCustomerOverview",
    opt={"scope": "agent"},
)
async def get_customer_overview(
    *,
    queries: NamedDependency[Queries],
    next_offer: NamedDependency[NextBestOffer],
    q: Annotated[str, QueryParameter(min_length=1, max_length=500)],
    channel: FromQuery[ContactChannel] = "phone",
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = FIRST_PAGE,
) -> CustomerOverview:
    # One worker thread for every read: the page's one round trip is not
    # spent hopping between threads.
    return await to_thread.run_sync(
        lambda: overview(queries, next_offer, q.strip(), channel=channel, limit=limit)
    )


def overview(
    queries: Queries,
    next_offer: NextBestOffer,
    asked: str,
    *,
    channel: ContactChannel,
    limit: int,
) -> CustomerOverview:
    try:
        lookup = queries.find(asked)
    except ValueError as error:
        raise bad_request(str(error)) from None
    customer_id = lookup.customer_id
    if customer_id is None:
        raise not_found(f"no customer has {lookup.asked}")
    story = tell(queries, next_offer, customer_id, channel=channel)
    return CustomerOverview(
        **msgspec.structs.asdict(story),
        matched=lookup.asked,
        timeline=queries.timeline(customer_id, limit=limit),
        live=live_path(customer_id),
    )
