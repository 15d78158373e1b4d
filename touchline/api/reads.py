"""The read routes: find a customer, their profile and timeline, campaigns.

Everything reads through :class:`touchline.queries.Queries`, as the CLI does,
so a customer is found the same way everywhere.

A customer id that was merged into another is answered with a permanent
redirect (308) to the survivor's same resource: the id a client holds is
stale, and a redirect says so where silently serving the survivor's data
under the old id would not (a cache, or an agent's screen, keeps showing the
old id). A lookup by identifier answers with the survivor's id directly:
the identifier itself now belongs to the survivor, nothing is stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_308_PERMANENT_REDIRECT

from touchline.api.problems import bad_request, not_found
from touchline.handlers.campaign_views import CampaignView, Funnel
from touchline.projections.profile_view import Profile
from touchline.projections.timeline import InvalidCursor, TimelineFilter, TimelinePage
from touchline.queries import Queries

MAX_PAGE = 500
MOVED = {
    308: ResponseSpec(
        None, description="The customer was merged: the survivor's resource, in Location"
    ),
}


class CustomerFound(msgspec.Struct, kw_only=True):
    """A lookup's answer: the customer the identifier belongs to now."""

    customer_id: str
    matched: str
    """The identifier as the log stores it (``email:ann@example.com``)."""
    profile: str
    timeline: str


_KINDS = ("email", "phone", "crm_id", "web_id", "fax")


@get(
    "/v1/customers",
    summary="Find a customer by an identifier",
    description=(
        "Exactly one of email, phone, crm_id, web_id, fax, or partner_account with "
        "partner_customer_ref. Identifiers are normalised as at ingest (an email "
        "lower-cased, a phone to E.164). A merged customer's identifiers lead to the survivor."
    ),
    tags=["customers"],
    operation_id="findCustomer",
    opt={"scope": ("agent", "campaigns")},
    sync_to_thread=True,
)
def find_customer(
    *,
    queries: NamedDependency[Queries],
    email: FromQuery[str | None] = None,
    phone: FromQuery[str | None] = None,
    crm_id: FromQuery[str | None] = None,
    web_id: FromQuery[str | None] = None,
    fax: FromQuery[str | None] = None,
    partner_account: FromQuery[str | None] = None,
    partner_customer_ref: FromQuery[str | None] = None,
) -> CustomerFound:
    given = {
        kind: value
        for kind, value in zip(_KINDS, (email, phone, crm_id, web_id, fax), strict=True)
        if value is not None
    }
    if (partner_account is None) != (partner_customer_ref is None):
        raise bad_request("partner_account and partner_customer_ref go together: give both")
    if partner_account is not None:
        given["partner"] = f"{partner_account}/{partner_customer_ref}"
    if len(given) != 1:
        raise bad_request(
            "give exactly one identifier: email, phone, crm_id, web_id, fax, "
            "or partner_account with partner_customer_ref"
        )
    [(kind, value)] = given.items()
    try:
        lookup = queries.find(f"{kind}:{value}")
    except ValueError as error:
        raise bad_request(str(error)) from None
    if lookup.customer_id is None:
        raise not_found(f"no customer has {lookup.asked}")
    path = f"/v1/customers/{lookup.customer_id}"
    return CustomerFound(
        customer_id=lookup.customer_id,
        matched=lookup.asked,
        profile=path,
        timeline=f"{path}/timeline",
    )


@get(
    "/v1/customers/{customer_id:str}",
    summary="A customer's profile",
    tags=["customers"],
    operation_id="getProfile",
    opt={"scope": "agent"},
    sync_to_thread=True,
    responses=MOVED,
)
def get_profile(
    customer_id: FromPath[str], queries: NamedDependency[Queries], request: Request[Any, Any, Any]
) -> Profile:
    follow_merge(queries, customer_id, request)
    profile = queries.profile(customer_id)
    if profile is None:
        raise not_found(f"customer {customer_id} has no profile yet")
    return profile


@get(
    "/v1/customers/{customer_id:str}/timeline",
    summary="A page of a customer's timeline, newest first",
    tags=["customers"],
    operation_id="getTimeline",
    opt={"scope": "agent"},
    sync_to_thread=True,
    responses=MOVED,
)
def get_timeline(
    *,
    customer_id: FromPath[str],
    queries: NamedDependency[Queries],
    request: Request[Any, Any, Any],
    channel: Annotated[list[str] | None, QueryParameter(description="repeatable")] = None,
    type_: Annotated[
        list[str] | None, QueryParameter(name="type", description="repeatable")
    ] = None,
    campaign: FromQuery[str | None] = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
) -> TimelinePage:
    follow_merge(queries, customer_id, request)
    if not customer_id.startswith("cus_"):
        raise not_found(f"no customer {customer_id}")
    where = TimelineFilter(
        channels=channel or [], types=type_ or [], campaign_id=campaign, since=since, until=until
    )
    try:
        page = queries.timeline(customer_id, where=where, limit=limit, cursor=cursor)
    except InvalidCursor as error:
        raise bad_request(str(error)) from None
    if not page.entries and cursor is None and not known_customer(queries, customer_id):
        raise not_found(f"no customer {customer_id}")
    return page


@get(
    "/v1/campaigns/{campaign_id:str}",
    summary="A campaign's funnel",
    tags=["campaigns"],
    operation_id="getFunnel",
    opt={"scope": ("campaigns", "agent")},
    sync_to_thread=True,
)
def get_funnel(campaign_id: FromPath[str], queries: NamedDependency[Queries]) -> Funnel:
    funnel = queries.funnel(campaign_id)
    if funnel.customers == 0 and not queries.launched(campaign_id):
        raise not_found(f"no campaign {campaign_id}")
    return funnel


@get(
    "/v1/campaigns/{campaign_id:str}/customers/{customer_id:str}",
    summary="One customer's state in a campaign, with its history",
    tags=["campaigns"],
    operation_id="getCampaignCustomer",
    opt={"scope": ("campaigns", "agent")},
    sync_to_thread=True,
    responses=MOVED,
)
def get_campaign_customer(
    campaign_id: FromPath[str],
    customer_id: FromPath[str],
    queries: NamedDependency[Queries],
    request: Request[Any, Any, Any],
) -> CampaignView:
    follow_merge(queries, customer_id, request)
    for view in queries.customer_campaigns(customer_id):
        if view.campaign_id == campaign_id:
            return view
    raise not_found(f"customer {customer_id} is not in campaign {campaign_id}")


class Moved(Exception):
    """The customer id was merged: answered 308 to the survivor's resource."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def moved(_request: Request[Any, Any, Any], error: Moved) -> Redirect:
    """The exception handler for :class:`Moved`."""
    return Redirect(error.location, status_code=HTTP_308_PERMANENT_REDIRECT)


def follow_merge(
    queries: Queries, customer_id: FromPath[str], request: Request[Any, Any, Any]
) -> None:
    """Raise Moved when ``customer_id`` was merged into another customer."""
    survivor = queries.find(customer_id).customer_id if customer_id.startswith("cus_") else None
    if survivor is None or survivor == customer_id:
        return
    path = request.url.path.replace(f"/{customer_id}", f"/{survivor}", 1)
    query = request.url.query
    raise Moved(f"{path}?{query}" if query else path)


def known_customer(queries: Queries, customer_id: str) -> bool:
    """Whether ``customer_id`` is a customer's id (a path's id is never read
    as an identifier: ``/v1/customers/0`` is no one, not a phone number)."""
    return customer_id.startswith("cus_") and queries.find(customer_id).customer_id is not None
