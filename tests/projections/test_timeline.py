"""The timeline projection and its query, on every projection store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select

from tests.conftest import DAY
from tests.helpers import ann_story, event, summaries
from touchline.events import CATALOGUE, Envelope, EventCodec, Identities
from touchline.events.email import EmailClicked
from touchline.events.instants import from_us, to_us
from touchline.projections.timeline import (
    InvalidCursor,
    TimelineFilter,
    TimelineProjection,
    read_timeline,
)
from touchline.store.tables import timeline_entries

CUSTOMER = "cus_ann"
CODEC = EventCodec(CATALOGUE)


def _attributed(events: list[Envelope], customer_id: str = CUSTOMER) -> list[Envelope]:
    return [e.with_customer(customer_id) for e in events]


@pytest.fixture
def projection() -> TimelineProjection:
    return TimelineProjection("touchline.interactions", CODEC)


def _apply(engine: Engine, projection: TimelineProjection, events: list[Envelope]) -> None:
    with engine.begin() as connection:
        projection.process(connection, projection.reads.feed(CODEC, events))


def test_newest_first_with_one_line_summaries(
    engine: Engine, projection: TimelineProjection
) -> None:
    """Entries come newest first, each with its human summary and channel."""
    _apply(engine, projection, _attributed(ann_story(DAY)))
    with engine.connect() as connection:
        page = read_timeline(connection, CUSTOMER)
    assert summaries(page.entries) == [
        "Inbound call, 4m12s, agent Lee: billing question",
        "Opened email 'Spring offer'",
        "Sent email 'Spring offer'",
    ]
    assert [entry.channel for entry in page.entries] == ["call", "email", "email"]
    assert page.entries[0].occurred_at == DAY + timedelta(hours=2)
    assert page.next_cursor is None


def test_applying_the_same_events_twice_changes_nothing(
    engine: Engine, projection: TimelineProjection
) -> None:
    """A redelivered batch (same event ids) leaves one row per event."""
    story = _attributed(ann_story(DAY))
    _apply(engine, projection, story)
    _apply(engine, projection, story)
    _apply(engine, projection, story[1:2])
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(timeline_entries)).scalar()
    assert count == 3


def test_filters_by_channel_type_campaign_and_time(
    engine: Engine, projection: TimelineProjection
) -> None:
    """Each filter narrows the timeline on its own and combined."""
    _apply(engine, projection, _attributed(ann_story(DAY)))

    def read(where: TimelineFilter) -> list[str]:
        with engine.connect() as connection:
            return summaries(read_timeline(connection, CUSTOMER, where=where).entries)

    assert read(TimelineFilter(channels=["call"])) == [
        "Inbound call, 4m12s, agent Lee: billing question"
    ]
    assert read(TimelineFilter(types=["email.sent"])) == ["Sent email 'Spring offer'"]
    assert len(read(TimelineFilter(campaign_id="spring"))) == 2
    assert read(TimelineFilter(since=DAY + timedelta(minutes=30), until=DAY + timedelta(hours=2)))
    assert read(
        TimelineFilter(since=DAY + timedelta(minutes=30), until=DAY + timedelta(hours=2))
    ) == ["Opened email 'Spring offer'"]
    assert read(TimelineFilter(channels=["email"], campaign_id="nope")) == []


def test_cursor_pagination_walks_every_entry_once(
    engine: Engine, projection: TimelineProjection
) -> None:
    """Pages of 7 over 50 entries (some at the same instant) give all 50, in order."""
    events = [
        event(
            EmailClicked(message_id="m", url=f"https://x.test/{i}"), DAY + timedelta(minutes=i // 3)
        )
        for i in range(50)
    ]
    _apply(engine, projection, _attributed(events))
    seen: list[str] = []
    cursor = None
    with engine.connect() as connection:
        while True:
            page = read_timeline(connection, CUSTOMER, limit=7, cursor=cursor)
            seen.extend(entry.event_id for entry in page.entries)
            cursor = page.next_cursor
            if cursor is None:
                break
    expected = sorted(events, key=lambda e: (e.occurred_at, str(e.id)), reverse=True)
    assert seen == [str(e.id) for e in expected]


def test_a_foreign_cursor_is_refused(engine: Engine) -> None:
    """A cursor this server never handed out gives a clear error."""
    with (
        engine.connect() as connection,
        pytest.raises(InvalidCursor, match="not a timeline cursor"),
    ):
        read_timeline(connection, CUSTOMER, cursor="bm9wZQ==")


def test_an_interaction_without_customer_is_rejected_not_dropped(
    engine: Engine, projection: TimelineProjection
) -> None:
    """An event that skipped identity resolution is handed back as rejected."""
    stray = event(EmailClicked(message_id="m", url="https://x.test"), DAY, identities=Identities())
    with engine.begin() as connection:
        outcome = projection.process(connection, projection.reads.feed(CODEC, [stray]))
    assert [r.event.id for r in outcome.rejected] == [stray.id]
    assert "customer_id" in outcome.rejected[0].reason


def test_microsecond_timestamps_round_trip() -> None:
    """Stored timestamps keep the microseconds and the UTC zone."""
    moment = DAY + timedelta(microseconds=123_457)
    assert from_us(to_us(moment)) == moment
