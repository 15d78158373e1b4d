"""touchline.client against the running server, and through a proxy that fails on cue.

The client's waits go through its ``sleep``: the tests hand it
``waits.append``, so a retry is immediate and the wait it asked for is
there to check (Retry-After honoured, the backoff growing), with no clock.
"""

from __future__ import annotations

import socket
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from itertools import islice

import msgspec
import pytest

from tests.api.campaign_changes import launched, on_the_log, people, targeted_and_answering
from tests.api.conftest import LIMITS, Server
from tests.api.flaky import FlakyProxy
from tests.conftest import DAY
from tests.helpers import event
from touchline.client import (
    Change,
    Client,
    ConnectionFailed,
    ProblemError,
    Reset,
)
from touchline.config import Settings
from touchline.events import Envelope, Identities
from touchline.events.call import InboundCallEnded
from touchline.events.email import EmailSent
from touchline.log.sqlite import SqliteLog


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """A heartbeat every 50 ms: a stream's client that went is noticed soon."""
    return msgspec.structs.replace(settings, **LIMITS, api_sse_heartbeat_seconds=0.05)


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(api: Server, waits: list[float]) -> Iterator[Client]:
    with Client(
        str(api.client.base_url),
        api_key=api.admin.token,
        retries=3,
        backoff=0.1,
        sleep=waits.append,
    ) as client:
        yield client


def _calls(count: int, start: int = 0) -> list[Envelope]:
    return [
        event(InboundCallEnded(call_id=f"c{i}", duration_seconds=30), DAY + timedelta(minutes=i))
        for i in range(start, start + count)
    ]


def _timeline_ids(api: Server, client: Client) -> list[str]:
    api.backbone.runtime.catch_up()
    found = client.find_customer(email="ann@example.com")
    assert found is not None
    return [entry["event_id"] for entry in client.timeline(found["customer_id"])]


def test_publish_one_event_and_a_batch_with_a_result_each(api: Server, client: Client) -> None:
    """One event, a batch (sent in chunks of batch_size), and the same again:
    every result in order, the repeat all duplicates, the timeline once each."""
    one = _calls(1)[0]
    assert [r.status for r in client.publish(one).results] == ["accepted"]
    assert client.publish(one).duplicates == 1

    batch = _calls(5, start=1)
    client.batch_size = 2
    published = client.publish(batch)
    assert (published.accepted, published.duplicates, published.rejected) == (5, 0, 0)
    assert [(r.index, r.id) for r in published.results] == [
        (i, str(e.id)) for i, e in enumerate(batch)
    ]
    again = client.publish(batch)
    assert (again.accepted, again.duplicates) == (0, 5)
    assert sorted(_timeline_ids(api, client)) == sorted(str(e.id) for e in [one, *batch])


def test_an_event_as_data_gets_an_id_and_a_refusal_is_a_problem(
    api: Server, client: Client
) -> None:
    """A dict without an id is given one; a lone refused event raises the
    problem with its result; in a batch it is that event's result."""
    data = msgspec.to_builtins(_calls(1)[0])
    del data["id"]
    [result] = client.publish(data).results
    assert result.status == "accepted"
    assert result.id is not None
    assert _timeline_ids(api, client) == [result.id]

    nobody = msgspec.to_builtins(_calls(1, start=1)[0]) | {"identities": {}}
    with pytest.raises(ProblemError) as refused:
        client.publish(nobody)
    assert refused.value.status == 422
    assert refused.value.errors[0]["code"] == "no_identifier"
    mixed = client.publish([nobody, _calls(1, start=2)[0]])
    assert [(r.status, r.code) for r in mixed.results] == [
        ("rejected", "no_identifier"),
        ("accepted", None),
    ]


def test_a_publish_is_retried_through_a_restart_and_overload(
    api: Server, waits: list[float]
) -> None:
    """The server appends then dies before answering, then is away (503), then
    overloaded (429, Retry-After 7): the client sends the same body each time,
    waits as told, and ends with every event taken exactly once."""
    batch = _calls(3)
    script = ["forward-then-drop", "503", "429 7"]
    with (
        FlakyProxy(str(api.client.base_url), script) as proxy,
        Client(proxy.url, api_key=api.admin.token, backoff=0.1, sleep=waits.append) as client,
    ):
        published = client.publish(batch)
        assert [r.status for r in published.results] == ["duplicate"] * 3
        assert len(proxy.seen) == 4
        assert len({seen.body for seen in proxy.seen}) == 1
        assert waits[2] == 7.0
        assert all(0.05 * 2**i <= wait <= 0.1 * 2**i for i, wait in enumerate(waits[:2]))
    with Client(str(api.client.base_url), api_key=api.admin.token) as direct:
        assert sorted(_timeline_ids(api, direct)) == sorted(str(e.id) for e in batch)


def test_retries_are_bounded_and_a_client_error_is_not_retried(
    api: Server, waits: list[float]
) -> None:
    """A server that stays away: ProblemError after 1 + retries attempts, the
    waits doubling; a 4xx raises at once; no server at all: ConnectionFailed."""
    with (
        FlakyProxy(str(api.client.base_url), ["503"] * 3) as proxy,
        Client(
            proxy.url, api_key=api.admin.token, retries=2, backoff=0.1, sleep=waits.append
        ) as client,
    ):
        with pytest.raises(ProblemError) as away:
            client.profile("cus_nobody")
        assert away.value.status == 503
        assert len(proxy.seen) == 3
        assert 0.05 <= waits[0] <= 0.1
        assert 0.1 <= waits[1] <= 0.2
        with pytest.raises(ProblemError) as missing:
            client.profile("cus_nobody")  # the 4th request: forwarded, 404
        assert missing.value.status == 404
        assert missing.value.problem["title"] == "Not found"
        assert len(proxy.seen) == 4

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    nowhere = Client(f"http://127.0.0.1:{port}", retries=1, sleep=waits.append)
    with nowhere, pytest.raises(ConnectionFailed, match="2 attempts"):
        nowhere.funnel("spring")


def test_reads_find_page_and_follow_campaigns(api: Server, client: Client) -> None:
    """Find by identifier (None for no one), the profile, the whole timeline
    across pages, a campaign's funnel, one customer's state, the next offer."""
    calls = _calls(7)
    client.publish([*calls, event(EmailSent(message_id="m", subject="Hi"), DAY)])
    launched(api)
    targeted_and_answering(api, [Identities(email="ann@example.com")])
    found = client.find_customer(email="Ann@Example.com")
    assert found is not None
    customer = found["customer_id"]
    assert client.find_customer(email="bob@example.com") is None
    assert "email:ann@example.com" in client.profile(customer)["identifiers"]

    entries = list(client.timeline(customer, channels=["call"], page_size=3))
    assert sorted(entry["event_id"] for entry in entries) == sorted(str(c.id) for c in calls)
    assert len(list(islice(client.timeline(customer, page_size=2), 5))) == 5

    assert client.funnel("spring")["customers"] == 1
    assert client.campaign_customer("spring", customer)["state"] == "responded"
    assert "offers" in client.next_offer(customer, channel="phone")
    with pytest.raises(ProblemError) as none:
        client.funnel("no-such-campaign")
    assert none.value.status == 404


def test_a_subscription_resumes_after_a_dropped_connection(api: Server, waits: list[float]) -> None:
    """The connection breaks off after 5 changes; the subscription reconnects
    with the last id it saw and yields every change once, in order per pair."""
    launched(api)
    targeted_and_answering(api, people(0, 4))
    logged = on_the_log(api)
    with (
        FlakyProxy(str(api.client.base_url), ["cut-after 5"]) as proxy,
        Client(proxy.url, api_key=api.admin.token, backoff=0.1, sleep=waits.append) as client,
        client.subscribe(from_start=True) as changes,
    ):
        got = list(islice(changes, len(logged)))
        assert changes.reconnects == 1
    assert all(isinstance(change, Change) for change in got)
    received = [change for change in got if isinstance(change, Change)]
    assert proxy.seen[1].headers["last-event-id"] == received[4].id
    assert sorted(str(c.event.id) for c in received) == sorted(str(e.id) for e in logged)
    sequences: defaultdict[str | None, list[int]] = defaultdict(list)
    for change in received:
        sequences[change.event.customer_id].append(change.state.sequence)
    assert list(sequences.values()) == [[1, 2, 3]] * 4


def test_a_subscription_surfaces_a_reset(api: Server, client: Client) -> None:
    """Resuming from a position retention deleted yields a Reset first, then
    the changes still held; an id that is no position raises at once."""
    with client.subscribe("nonsense") as refused, pytest.raises(ProblemError) as bad:
        next(refused)
    assert bad.value.status == 400
    launched(api)
    targeted_and_answering(api, people(0, 2))
    log = api.backbone.log
    assert isinstance(log, SqliteLog)
    topic = api.backbone.settings.topics.campaign_state
    ends = log.end_offsets(topic)
    log.delete_records(topic, ends)
    targeted_and_answering(api, people(2, 1))
    with client.subscribe("0-0.1-0.2-0.3-0") as changes:
        reset = next(changes)
        assert isinstance(reset, Reset)
        assert {p.partition: p.earliest for p in reset.partitions} == {
            p: end for p, end in ends.items() if end
        }
        later = [next(changes) for _ in range(3)]
    assert [c.state.state for c in later if isinstance(c, Change)] == [
        "targeted",
        "offered",
        "responded",
    ]
