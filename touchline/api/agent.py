"""What an agent does over HTTP: the next best offer, and actions recorded as events.

Every action is an event naming the agent, appended through the same
publisher (and gate) as ``POST /v1/events``, so the edge checks it, the
processors apply it like any other, and the timeline shows who did what.
The request may carry its own ``event_id``: a client that retries after a
lost answer then gets ``duplicate``, never a second event. A retry must be
the same event, time included: the action's time is ``occurred_at`` when
given, else the time inside a UUIDv7 ``event_id``, else the server's clock
(then a retry with another clock reading is a conflict, 409).

A merged customer's id is answered 308 to the survivor's same route (a 308
keeps the method and the body), as the reads do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from anyio import to_thread
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from touchline.api.ingest import Ingest, append, json_pointer
from touchline.api.problems import PROBLEMS, ApiProblem, Problem, bad_request, not_found
from touchline.api.reads import MOVED, follow_merge, known_customer
from touchline.events import Envelope, new_event
from touchline.events.base import AwareDatetime, NonEmpty
from touchline.events.call import InboundCallEnded, OutboundCallMade
from touchline.events.campaign import OfferResponded
from touchline.events.consent import (
    ConsentChannel,
    ConsentGranted,
    ConsentPurpose,
    ConsentRevoked,
    ContactChannel,
)
from touchline.events.identity import CustomerUnmerged
from touchline.offers import Decision, NextBestOffer, shown
from touchline.publish import PublishResult
from touchline.queries import Queries

SOURCE = "touchline-api"
"""The ``source`` of every event the API records on an agent's behalf."""
MAX_OFFERS = 10

Seconds = Annotated[int, msgspec.Meta(ge=0, le=86_400)]


class Recorded(msgspec.Struct, kw_only=True):
    """An action, recorded as an event (or found recorded before: ``duplicate``)."""

    event_id: str
    type: str
    customer_id: str
    status: Literal["accepted", "duplicate"]


class ConsentChangeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agent: NonEmpty
    contact_channel: ConsentChannel
    purpose: ConsentPurpose
    granted: bool
    captured_via: NonEmpty | None = None
    reason: NonEmpty | None = None
    event_id: UUID | None = None
    occurred_at: AwareDatetime | None = None


class CallOutcomeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agent_id: NonEmpty
    call_id: NonEmpty
    direction: Literal["inbound", "outbound"]
    duration_seconds: Seconds
    agent_name: NonEmpty | None = None
    outcome: Literal["answered", "no_answer", "busy", "voicemail", "failed"] = "answered"
    """Outbound calls only: an inbound call was answered by the agent recording it."""
    disposition: NonEmpty | None = None
    queue: NonEmpty | None = None
    event_id: UUID | None = None
    occurred_at: AwareDatetime | None = None


class OfferResponseRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agent: NonEmpty
    campaign_id: NonEmpty
    response: Literal["accepted", "declined"]
    via: ContactChannel = "phone"
    offer_code: NonEmpty | None = None
    event_id: UUID | None = None
    occurred_at: AwareDatetime | None = None


class UnmergeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    requested_by: NonEmpty
    reason: NonEmpty
    event_id: UUID | None = None
    occurred_at: AwareDatetime | None = None


@get(
    "/v1/customers/{customer_id:str}/next-offer",
    summary="The next best offers for a customer, with why",
    description=(
        "The decision across every live campaign: consent, do-not-contact, complaints, "
        "contact pressure and quiet hours filter; priority and recent interest rank. "
        "With shown=true the offers are recorded as made (campaign.offer_made, made_by "
        "the agent): pass it when the offers are put in front of the customer."
    ),
    tags=["offers"],
    operation_id="getNextOffer",
    responses=MOVED,
    opt={"scope": "agent"},
)
async def next_offer_for_customer(
    *,
    customer_id: FromPath[str],
    request: Request[Any, Any, Any],
    queries: NamedDependency[Queries],
    next_offer: NamedDependency[NextBestOffer],
    ingest: NamedDependency[Ingest],
    channel: FromQuery[ContactChannel] = "phone",
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_OFFERS)] = 1,
    shown_by: Annotated[str | None, QueryParameter(min_length=1, max_length=500)] = None,
    shown_: Annotated[bool, QueryParameter(name="shown")] = False,
) -> Decision:
    await to_thread.run_sync(_existing, queries, customer_id, request)
    return await _decide(
        ingest,
        next_offer,
        customer_id,
        channel=channel,
        limit=limit,
        record=shown_,
        made_by=shown_by,
    )


@get(
    "/v1/next-offer",
    summary="The next best offers for a web visitor, known or not",
    description=(
        "By web_id (the site's visitor id): the visitor's customer when the id is linked "
        "to one, else an anonymous visitor (campaigns that offer on the web to anyone). "
        "With shown=true the offers are recorded as made on the web."
    ),
    tags=["offers"],
    operation_id="getNextOfferForVisitor",
    opt={"scope": "agent"},
)
async def next_offer_for_visitor(
    *,
    web_id: Annotated[str, QueryParameter(min_length=1, max_length=500)],
    queries: NamedDependency[Queries],
    next_offer: NamedDependency[NextBestOffer],
    ingest: NamedDependency[Ingest],
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_OFFERS)] = 1,
    shown_: Annotated[bool, QueryParameter(name="shown")] = False,
) -> Decision:
    try:
        found = await to_thread.run_sync(queries.find, f"web_id:{web_id}")
    except ValueError as error:
        raise bad_request(str(error)) from None
    return await _decide(
        ingest,
        next_offer,
        found.customer_id,
        channel="web",
        limit=limit,
        record=shown_,
        made_by=None,
    )


async def _decide(
    ingest: Ingest,
    next_offer: NextBestOffer,
    customer_id: str | None,
    *,
    channel: ContactChannel,
    limit: int,
    record: bool,
    made_by: str | None,
) -> Decision:
    decision = await to_thread.run_sync(
        lambda: next_offer.decide(customer_id, channel=channel, limit=limit)
    )
    if record and decision.offers and customer_id is not None:
        result = await append(
            ingest, lambda d: shown(ingest.publisher, d, made_by=made_by), decision
        )
        _refused(result)
    return decision


@post(
    "/v1/customers/{customer_id:str}/consent",
    status_code=202,
    summary="Record a consent change an agent took",
    tags=["agent actions"],
    operation_id="recordConsent",
    responses=MOVED,
    opt={"scope": "agent"},
)
async def record_consent(
    customer_id: FromPath[str],
    data: JSONBody[ConsentChangeRequest],
    request: Request[Any, Any, Any],
    queries: NamedDependency[Queries],
    ingest: NamedDependency[Ingest],
) -> Response[Recorded]:
    change: ConsentGranted | ConsentRevoked
    if data.granted:
        change = ConsentGranted(
            contact_channel=data.contact_channel,
            purpose=data.purpose,
            captured_via=data.captured_via or "agent",
            recorded_by=data.agent,
        )
    else:
        change = ConsentRevoked(
            contact_channel=data.contact_channel,
            purpose=data.purpose,
            reason=data.reason,
            recorded_by=data.agent,
        )
    return await _record(
        request,
        queries,
        ingest,
        customer_id,
        change,
        event_id=data.event_id,
        occurred_at=data.occurred_at,
    )


@post(
    "/v1/customers/{customer_id:str}/calls",
    status_code=202,
    summary="Record a call's outcome",
    tags=["agent actions"],
    operation_id="recordCall",
    responses=MOVED,
    opt={"scope": "agent"},
)
async def record_call(
    customer_id: FromPath[str],
    data: JSONBody[CallOutcomeRequest],
    request: Request[Any, Any, Any],
    queries: NamedDependency[Queries],
    ingest: NamedDependency[Ingest],
) -> Response[Recorded]:
    call: InboundCallEnded | OutboundCallMade
    if data.direction == "inbound":
        if data.outcome != "answered":
            raise bad_request("an inbound call recorded by its agent was answered: leave outcome")
        call = InboundCallEnded(
            call_id=data.call_id,
            duration_seconds=data.duration_seconds,
            queue=data.queue,
            agent_id=data.agent_id,
            agent_name=data.agent_name,
            disposition=data.disposition,
        )
    else:
        call = OutboundCallMade(
            call_id=data.call_id,
            duration_seconds=data.duration_seconds,
            agent_id=data.agent_id,
            agent_name=data.agent_name,
            outcome=data.outcome,
            disposition=data.disposition,
        )
    return await _record(
        request,
        queries,
        ingest,
        customer_id,
        call,
        event_id=data.event_id,
        occurred_at=data.occurred_at,
    )


@post(
    "/v1/customers/{customer_id:str}/offer-responses",
    status_code=202,
    summary="Record a customer's answer to an offer, heard by an agent or rep",
    description="An acceptance or a decline ends the offer in every channel.",
    tags=["agent actions"],
    operation_id="recordOfferResponse",
    responses=MOVED,
    opt={"scope": "agent"},
)
async def record_offer_response(
    customer_id: FromPath[str],
    data: JSONBody[OfferResponseRequest],
    request: Request[Any, Any, Any],
    queries: NamedDependency[Queries],
    ingest: NamedDependency[Ingest],
) -> Response[Recorded]:
    answer = OfferResponded(
        response=data.response, via=data.via, offer_code=data.offer_code, recorded_by=data.agent
    )
    return await _record(
        request,
        queries,
        ingest,
        customer_id,
        answer,
        event_id=data.event_id,
        occurred_at=data.occurred_at,
        campaign_id=data.campaign_id,
    )


@post(
    "/v1/customers/{customer_id:str}/unmerge",
    status_code=202,
    summary="Split a merged customer out of its survivor",
    description=(
        "customer_id is the merged customer's own id (the one to restore). The resolver "
        "splits them and every projection rebuilds both."
    ),
    tags=["agent actions"],
    operation_id="unmergeCustomer",
    opt={"scope": "admin"},
)
async def unmerge_customer(
    customer_id: FromPath[str],
    data: JSONBody[UnmergeRequest],
    queries: NamedDependency[Queries],
    ingest: NamedDependency[Ingest],
) -> Response[Recorded]:
    if not customer_id.startswith("cus_"):
        raise not_found(f"no customer {customer_id}")
    survivor = (await to_thread.run_sync(queries.find, customer_id)).customer_id
    if survivor is None:
        raise not_found(f"no customer {customer_id}")
    if survivor == customer_id:
        raise ApiProblem(
            Problem(
                type=f"{PROBLEMS}not-merged",
                title="Not merged",
                status=409,
                detail=f"{customer_id} is not merged into another customer",
            )
        )
    request = CustomerUnmerged(
        survivor_id=survivor,
        restored_id=customer_id,
        requested_by=data.requested_by,
        reason=data.reason,
    )
    event = _event(request, survivor, data.event_id, data.occurred_at)
    return await _append(ingest, event)


async def _record(
    request: Request[Any, Any, Any],
    queries: Queries,
    ingest: Ingest,
    customer_id: str,
    payload: Any,
    *,
    event_id: UUID | None,
    occurred_at: datetime | None,
    campaign_id: str | None = None,
) -> Response[Recorded]:
    await to_thread.run_sync(_existing, queries, customer_id, request)
    event = _event(payload, customer_id, event_id, occurred_at, campaign_id)
    return await _append(ingest, event)


def _existing(queries: Queries, customer_id: str, request: Request[Any, Any, Any]) -> None:
    """A customer id that is live: 308 when merged, 404 when unknown."""
    follow_merge(queries, customer_id, request)
    if not known_customer(queries, customer_id):
        raise not_found(f"no customer {customer_id}")


def _event(
    payload: Any,
    customer_id: str,
    event_id: UUID | None,
    occurred_at: datetime | None,
    campaign_id: str | None = None,
) -> Envelope:
    return new_event(
        payload,
        occurred_at=occurred_at or _time_of(event_id) or datetime.now(UTC),
        source=SOURCE,
        customer_id=customer_id,
        event_id=event_id,
        campaign_id=campaign_id,
    )


def _time_of(event_id: UUID | None) -> datetime | None:
    """The millisecond a UUIDv7 was made (RFC 9562: its first 48 bits)."""
    if event_id is None or event_id.version != 7:
        return None
    return datetime.fromtimestamp((event_id.int >> 80) / 1000, tz=UTC)


async def _append(ingest: Ingest, event: Envelope) -> Response[Recorded]:
    result = await append(ingest, ingest.publisher.publish, [event])
    _refused(result)
    status: Literal["accepted", "duplicate"] = "duplicate" if result.duplicates else "accepted"
    recorded = Recorded(
        event_id=str(event.id), type=event.type, customer_id=event.customer_id or "", status=status
    )
    return Response(recorded, status_code=202)


def _refused(result: PublishResult) -> None:
    """An action the edge refused (an id reused with other content, a value
    out of bounds): 422 with the publisher's reason."""
    if not result.rejected:
        return
    error = result.rejected[0]
    code = 409 if error.code == "conflicting_duplicate" else 422
    raise ApiProblem(
        Problem(
            type=f"{PROBLEMS}action-refused",
            title="Action refused",
            status=code,
            detail=f"{error.reason} (at {json_pointer(error.field) or '/'})",
        )
    )
