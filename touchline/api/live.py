"""``GET /v1/customers/{id}/live``: one customer's changes, as server-sent events.

The agent console opens it beside a customer's first page and keeps it open
for the call: ``event: entries`` brings timeline entries as they land,
``event: story`` the profile, campaigns and offers whenever they changed,
and ``event: merged`` tells that the customer was merged into another (the
stream then ends: the console opens the survivor). See
:mod:`touchline.api.live_watch` for what counts as new.

No ids and no ``Last-Event-ID``: a stream (re)opened starts by sending the
customer's newest entries and story again, so a client that reconnects is
whole without the server remembering anything for it.

A browser's EventSource cannot send an Authorization header, and an API key
in the URL would end up in access logs and the browser's history, so the
console reads this stream with ``fetch()``, which sends the key as every
other call does; any SSE client that can set a header can do the same.

Each stream looks every :data:`POLL_SECONDS` in a worker thread (at most
:data:`READERS` looking at once, so streams never hold every thread the
other routes need), with a heartbeat comment every
``TOUCHLINE_API_SSE_HEARTBEAT_SECONDS``. It ends when its client goes
(Litestar cancels it) or when the server shuts down
(:meth:`CustomerStreams.close`, from :class:`touchline.api.serve.ApiServer`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage

from touchline.api.live_watch import CustomerWatch, Entries, Merged, Story
from touchline.api.overview import tell
from touchline.api.problems import not_found
from touchline.api.reads import MOVED, follow_merge, known_customer
from touchline.api.sse_hub import StreamHub
from touchline.events.consent import ContactChannel
from touchline.offers import NextBestOffer
from touchline.queries import Queries

POLL_SECONDS = 0.25
"""How often an open stream looks for changes: well inside the 2 s an agent
should wait to see an event that was just published."""
READERS = 4
"""Streams looking at once; past these a look waits its turn."""


class CustomerStreams(StreamHub):
    """The route's dependency: the streams now open, and how to end them."""

    def __init__(self, *, heartbeat: float, poll: float = POLL_SECONDS) -> None:
        super().__init__(heartbeat=heartbeat, poll=poll, readers=READERS)

    async def messages(self, watch: CustomerWatch) -> AsyncIterator[ServerSentEventMessage]:
        async with self.serving() as wake:
            yield ServerSentEventMessage(data=None, comment=f"live: {watch.customer_id}")
            beat = anyio.current_time() + self.heartbeat
            while not self.closed and not watch.ended:
                changes = await anyio.to_thread.run_sync(watch.look, limiter=self.limiter())
                for change in changes:
                    yield _message(change)
                now = anyio.current_time()
                if now >= beat:
                    yield ServerSentEventMessage(data=None, comment="heartbeat")
                    beat = now + self.heartbeat
                if not watch.ended:
                    with anyio.move_on_after(min(self.poll, beat - now)):
                        await wake.wait()


def _message(change: Entries | Story | Merged) -> ServerSentEventMessage:
    event = {Entries: "entries", Story: "story", Merged: "merged"}[type(change)]
    return ServerSentEventMessage(data=msgspec.json.encode(change.data), event=event)


@get(
    "/v1/customers/{customer_id:str}/live",
    summary="One customer's changes as they happen, as server-sent events",
    description=(
        "For a screen kept open during a call. `event: entries` (data: customer_id and "
        "entries, newest first) brings timeline entries as they land among the newest "
        "fifty, wherever they sort; `event: story` (data: profile, campaigns and offers, "
        "as in getCustomerOverview) comes whenever they changed; `event: merged` (data: "
        "merged_id and the surviving customer_id) ends the stream. The stream opens by "
        "sending the newest entries and the story, so a client that reconnects is whole "
        "again: drop entries already shown by event_id. Comments keep it alive."
    ),
    tags=["customers"],
    operation_id="streamCustomer",
    media_type="text/event-stream",
    responses={
        200: ResponseSpec(
            str,
            media_type="text/event-stream",
            description="An endless stream: `event: entries`, `event: story`, "
            "`event: merged` (JSON data), and comments",
            generate_examples=False,
        ),
        **MOVED,
    },
    opt={"scope": "agent"},
)
async def stream_customer(
    *,
    customer_id: FromPath[str],
    request: Request[Any, Any, Any],
    queries: NamedDependency[Queries],
    next_offer: NamedDependency[NextBestOffer],
    customer_streams: NamedDependency[CustomerStreams],
    channel: FromQuery[ContactChannel] = "phone",
) -> ServerSentEvent:
    await anyio.to_thread.run_sync(_live_customer, queries, customer_id, request)
    watch = CustomerWatch(
        queries, lambda live_id: tell(queries, next_offer, live_id, channel=channel), customer_id
    )
    return ServerSentEvent(customer_streams.messages(watch))


def _live_customer(queries: Queries, customer_id: str, request: Request[Any, Any, Any]) -> None:
    """308 to the survivor for a merged id, 404 for no one."""
    follow_merge(queries, customer_id, request)
    if not known_customer(queries, customer_id):
        raise not_found(f"no customer {customer_id}")
