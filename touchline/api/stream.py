"""``GET /v1/streams/campaign-state``: campaign state changes as server-sent events.

For a campaign engine that cannot be a Kafka consumer (a browser, a SaaS
tool behind HTTP). Each change is an ``event: campaign-state`` whose data is
the ``campaign.state_changed`` event as the codec writes it, and whose id is
the stream's position on every partition just past it (see
:mod:`touchline.api.stream_ids`). A client that reconnects with the last id
it saw, in ``Last-Event-ID`` as ``EventSource`` sends it, gets every later
change once, in order per partition (so per customer); ``sequence`` in each
change numbers its pair's transitions, for a client's own check.

Without an id the stream starts at the log's end (``from=start``: at its
beginning). The first message is a comment carrying the starting id (or,
when a reset follows, the reset does), so a client that drops before any
change still resumes where it started. Then a
comment every ``TOUCHLINE_API_SSE_HEARTBEAT_SECONDS`` (under 15 s), so
proxies keep the connection and clients can tell a quiet stream from a
dead one. A position the log no longer holds is answered with an ``event:
reset`` naming what was skipped (see :mod:`touchline.api.stream_tail`),
never a silent gap.

Each stream reads the log itself (in a worker thread, polling when it has
caught up), so it can start anywhere. A stream ends when its client goes
(Litestar cancels it) or when the server shuts down: uvicorn waits for every
open response to finish before it stops, so :meth:`CampaignStream.close`,
called from :class:`touchline.api.serve.ApiServer`'s shutdown, ends them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

import anyio
import anyio.to_thread
import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from touchline.api.problems import bad_request
from touchline.api.sse_hub import StreamHub
from touchline.api.stream_ids import MalformedId, format_id, parse_id
from touchline.api.stream_tail import Change, Reset, Tail
from touchline.events import EventCodec
from touchline.log.port import Log

CHANGE = "campaign-state"
RESET = "reset"
POLL_SECONDS = 0.2
"""How long a caught-up stream waits before it reads the log again."""
BATCH = 200
"""Records read per partition at a time."""
READERS = 4
"""Streams reading the log at once: past these a poll waits its turn, so
subscribers never hold every worker thread the API's other routes need."""


class CampaignStream(StreamHub):
    """The route's dependency: the feed to read, and the streams now open."""

    def __init__(
        self,
        log: Log,
        topic: str,
        codec: EventCodec,
        *,
        heartbeat: float,
        poll: float = POLL_SECONDS,
    ) -> None:
        super().__init__(heartbeat=heartbeat, poll=poll, readers=READERS)
        self.log = log
        self.topic = topic
        self.codec = codec

    def start(self, asked: str | None, *, from_start: bool) -> tuple[Tail, Reset | None]:
        """The tail to serve from (blocking: it reads the log's offsets)."""
        asked_at = None
        if asked:
            try:
                asked_at = parse_id(asked, self.log.partitions(self.topic))
            except MalformedId as error:
                raise bad_request(
                    f"Last-Event-ID (or last_event_id) {asked[:100]!r}: {error}"
                ) from None
        return Tail.open(self.log, self.topic, self.codec, asked_at, from_start=from_start)

    async def messages(
        self, tail: Tail, reset: Reset | None
    ) -> AsyncIterator[ServerSentEventMessage]:
        async with self.serving() as wake:
            # Where the stream starts, unless a reset says it (a client that
            # dropped before the reset arrived must be told of it again).
            start = format_id(tail.positions) if reset is None else None
            yield ServerSentEventMessage(data=None, comment="campaign-state stream", id=start)
            if reset is not None:
                yield _message(reset)
            beat = anyio.current_time() + self.heartbeat
            while not self.closed:
                items = await anyio.to_thread.run_sync(tail.poll, BATCH, limiter=self.limiter())
                for item in items:
                    yield _message(item)
                now = anyio.current_time()
                if now >= beat:
                    yield ServerSentEventMessage(data=None, comment="heartbeat")
                    beat = now + self.heartbeat
                if not items:
                    with anyio.move_on_after(min(self.poll, beat - now)):
                        await wake.wait()


def _message(item: Change | Reset) -> ServerSentEventMessage:
    if isinstance(item, Change):
        return ServerSentEventMessage(data=item.data, event=CHANGE, id=item.id)
    return ServerSentEventMessage(data=msgspec.json.encode(item.notice), event=RESET, id=item.id)


@get(
    "/v1/streams/campaign-state",
    summary="Campaign state changes, as server-sent events",
    description=(
        "Each `event: campaign-state` carries a campaign.state_changed event as data, "
        "and as id the stream's position past it: reconnect with it in Last-Event-ID "
        "(or last_event_id) to get every later change once, in order per customer. "
        "Without an id the stream starts at the log's end (from=start: its beginning). "
        "A comment is sent at least every 15 s. A position the log no longer holds "
        "is answered with `event: reset` naming the partitions, the offsets asked "
        "for and the earliest still held, and the stream goes on from there."
    ),
    tags=["campaigns"],
    operation_id="streamCampaignState",
    media_type="text/event-stream",
    responses={
        200: ResponseSpec(
            str,
            media_type="text/event-stream",
            description=(
                "An endless stream: `event: campaign-state` (data: the event as JSON), "
                "`event: reset` (data: the partitions skipped), and comments"
            ),
            generate_examples=False,
        )
    },
    opt={"scope": "campaigns"},
)
async def stream_campaign_state(
    *,
    campaign_stream: NamedDependency[CampaignStream],
    last_event_id_header: Annotated[
        str | None,
        HeaderParameter(
            name="last-event-id",
            description="The id of the last message received; wins over last_event_id",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        QueryParameter(
            description="The same, for clients that cannot set headers", max_length=4_096
        ),
    ] = None,
    start: Annotated[
        Literal["start", "end"],
        QueryParameter(name="from", description="Where to start without an id"),
    ] = "end",
) -> ServerSentEvent:
    # The header first: EventSource reconnects to the same URL (query
    # parameter and all) with the newest id in the header.
    asked = last_event_id_header or last_event_id
    tail, reset = await anyio.to_thread.run_sync(
        lambda: campaign_stream.start(asked, from_start=start == "start")
    )
    return ServerSentEvent(campaign_stream.messages(tail, reset))
