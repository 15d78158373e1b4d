"""The campaign-state stream over real HTTP: resuming, heartbeats, resets, refusals.

Every wait is a read of the stream: a heartbeat comes every ``HEARTBEAT``
seconds, so a test that expects nothing more reads up to the next one.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import msgspec
import pytest

from tests.api.campaign_changes import launched, on_the_log, people, targeted_and_answering
from tests.api.conftest import LIMITS, Server, problem, serving
from touchline.bootstrap import build_backbone
from touchline.client.sse import Message, messages
from touchline.config import Settings
from touchline.events import Envelope
from touchline.events.campaign_feed import CampaignStateChanged
from touchline.log.sqlite import SqliteLog

STREAM = "/v1/streams/campaign-state"
HEARTBEAT = 0.05
PARTITIONS = 4  # tests/conftest.py's settings


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, **LIMITS, api_sse_heartbeat_seconds=HEARTBEAT)


@contextmanager
def _stream(
    api: Server, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> Iterator[Iterator[Message]]:
    """The stream's messages, on a connection of its own: leaving drops it."""
    with httpx.Client(
        base_url=api.client.base_url, timeout=30, headers=api.client.headers
    ) as client:
        request = client.build_request("GET", STREAM, params=params, headers=headers)
        response = client.send(request, stream=True)
        try:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            yield messages(response.iter_lines())
        finally:
            response.close()


def _changes(api: Server, stream: Iterator[Message], count: int) -> list[tuple[str, Envelope]]:
    """The next ``count`` changes (with their ids), past any comment."""
    got = []
    for message in stream:
        assert message.event in {"campaign-state", "message"}, message
        if message.event == "campaign-state":
            assert message.data is not None
            assert message.id is not None
            got.append((message.id, api.backbone.codec.decode(message.data.encode())))
            if len(got) == count:
                return got
    raise AssertionError(f"the stream ended after {len(got)} of {count} changes")


def _nothing_more(stream: Iterator[Message]) -> None:
    """The next message is a heartbeat: the stream had no other change to send."""
    message = next(stream)
    assert message.comments == ("heartbeat",), message


def _state(change: Envelope) -> CampaignStateChanged:
    assert isinstance(change.payload, CampaignStateChanged)
    return change.payload


def test_a_dropped_stream_resumes_from_its_last_id_with_every_change_once(api: Server) -> None:
    """Dropped halfway and resumed with Last-Event-ID, the stream gives every
    change on the log exactly once, each pair's in sequence order."""
    launched(api)
    targeted_and_answering(api, people(0, 6))
    logged = on_the_log(api)
    assert len(logged) == 18
    half = len(logged) // 2
    with _stream(api, params={"from": "start"}) as stream:
        before = _changes(api, stream, half)
    last_id = before[-1][0]
    with _stream(api, headers={"Last-Event-ID": last_id}) as stream:
        after = _changes(api, stream, len(logged) - half)
        _nothing_more(stream)

    received = [change for _, change in before + after]
    assert sorted(str(c.id) for c in received) == sorted(str(c.id) for c in logged)
    sequences: defaultdict[tuple[str | None, str | None], list[int]] = defaultdict(list)
    for change in received:
        sequences[change.campaign_id, change.customer_id].append(_state(change).sequence)
    assert len(sequences) == 6
    assert all(seen == [1, 2, 3] for seen in sequences.values()), sequences


def test_without_an_id_the_stream_starts_at_the_end_and_follows_the_log(api: Server) -> None:
    """No id: what was on the log before is not sent; what comes after is,
    and the first message's id is where the stream started."""
    launched(api)
    targeted_and_answering(api, people(0, 2))
    ends = api.backbone.log.end_offsets(api.backbone.settings.topics.campaign_state)
    with _stream(api) as stream:
        opening = next(stream)
        assert opening.data is None
        assert opening.id == ".".join(f"{p}-{ends[p]}" for p in range(PARTITIONS))
        targeted_and_answering(api, people(2, 1))
        later = [change for _, change in _changes(api, stream, 3)]
        _nothing_more(stream)
    assert {change.customer_id for change in later} == {
        api.backbone.queries.find("email:c2@example.com").customer_id
    }
    assert [_state(change).state for change in later] == ["targeted", "offered", "responded"]


def test_a_heartbeat_comes_while_nothing_changes(api: Server) -> None:
    """A quiet stream sends heartbeat comments (TOUCHLINE_API_SSE_HEARTBEAT_SECONDS)."""
    with _stream(api) as stream:
        assert next(stream).comments == ("campaign-state stream",)
        _nothing_more(stream)
        _nothing_more(stream)


def test_a_position_the_log_no_longer_holds_is_answered_with_a_reset(api: Server) -> None:
    """Records deleted by retention: an id from before them gets an explicit
    reset naming each partition, then the changes from the earliest held."""
    launched(api)
    targeted_and_answering(api, people(0, 6))
    log = api.backbone.log
    assert isinstance(log, SqliteLog)
    topic = api.backbone.settings.topics.campaign_state
    ends = log.end_offsets(topic)
    cut = {partition: end // 2 for partition, end in ends.items()}
    assert log.delete_records(topic, cut) == cut
    trimmed = {p: offset for p, offset in cut.items() if offset > 0}
    assert trimmed

    with _stream(api, params={"last_event_id": "0-0.1-0.2-0.3-0"}) as stream:
        assert next(stream).id is None  # the opening comment: the reset gives the id
        reset = next(stream)
        assert reset.event == "reset"
        assert reset.id == ".".join(f"{p}-{cut[p]}" for p in range(PARTITIONS))
        assert reset.data is not None
        assert msgspec.json.decode(reset.data) == {
            "partitions": [
                {"partition": p, "requested": 0, "earliest": offset, "reason": "retention"}
                for p, offset in sorted(trimmed.items())
            ]
        }
        kept = sum(ends[p] - cut[p] for p in ends)
        _changes(api, stream, kept)
        _nothing_more(stream)


def test_a_position_past_the_end_is_answered_with_a_reset(api: Server) -> None:
    """An id from another log (past this one's end) is reset to the earliest held."""
    with _stream(api, headers={"Last-Event-ID": "0-0.1-0.2-7.3-0"}) as stream:
        next(stream)
        reset = next(stream)
    assert reset.event == "reset"
    assert reset.data is not None
    assert msgspec.json.decode(reset.data)["partitions"] == [
        {"partition": 2, "requested": 7, "earliest": 0, "reason": "beyond_end"}
    ]


@pytest.mark.parametrize(
    "asked",
    [
        "nonsense",
        "0-1.1-1.2-1",  # partition 3 left out
        "0-1.1-1.2-1.3-1.4-1",  # the topic has no partition 4
        "0-1.0-2.1-1.2-1.3-1",  # partition 0 twice
        "0-1.1-1.2-1.3--1",
        "0-9223372036854775808.1-0.2-0.3-0",  # past a 64-bit offset
    ],
)
def test_a_malformed_id_is_a_400_problem(api: Server, asked: str) -> None:
    """An id that is not this topic's vector of positions is refused, in the
    header or the query."""
    body = problem(api.client.get(STREAM, headers={"Last-Event-ID": asked}), 400)
    assert "Last-Event-ID" in str(body["detail"])
    problem(api.client.get(STREAM, params={"last_event_id": asked}), 400)
    problem(api.client.get(STREAM, params={"from": "middle"}), 400)


def test_a_dropped_client_ends_its_stream_on_the_server(api: Server) -> None:
    """The server stops reading the log for a client that went away."""
    with _stream(api) as stream:
        next(stream)
        assert api.app.streams.open == 1
    deadline = time.monotonic() + 10
    while api.app.streams.open and time.monotonic() < deadline:
        time.sleep(0.01)
    assert api.app.streams.open == 0


def test_a_server_stopping_ends_its_streams(api_settings: Settings) -> None:
    """A stop ends the open streams: uvicorn would wait for them to finish
    (serving() fails when its server does not stop), and the client sees
    its stream end."""
    with build_backbone(api_settings) as backbone:
        served = serving(backbone)
        api = served.__enter__()
        with _stream(api) as stream:
            next(stream)
            assert api.app.streams.open == 1
            served.__exit__(None, None, None)
            rest = list(stream)  # runs out: the server ended the response
        assert all(message.data is None for message in rest)
        assert api.app.streams.open == 0
