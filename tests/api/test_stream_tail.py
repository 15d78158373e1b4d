"""What the stream sends, read off the embedded log without a server: repeats
the relay appended, records deleted mid-read, and the ids themselves."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import DAY
from touchline.api.stream_ids import MalformedId, format_id, parse_id
from touchline.api.stream_tail import Change, PartitionReset, Reset, Tail
from touchline.events import CATALOGUE, EventCodec, new_event
from touchline.events.campaign_feed import CampaignStateChanged
from touchline.log.port import Record
from touchline.log.sqlite import SqliteLog
from touchline.processing.relay import HEADER

TOPIC = "feed"
CODEC = EventCodec(CATALOGUE)


def _change(sequence: int) -> bytes:
    payload = CampaignStateChanged(state="targeted", sequence=sequence, caused_by=uuid.uuid4())
    return CODEC.encode(new_event(payload, occurred_at=DAY, source="test", customer_id="cus_a"))


def _relayed(log: SqliteLog, numbers: list[int]) -> list[bytes]:
    """Records as the relay appends them to partition 0, numbered."""
    values = [_change(number) for number in numbers]
    log.append(
        TOPIC,
        [
            Record(value, key=b"cus_a", headers=((HEADER, str(n).encode()),), partition=0)
            for n, value in zip(numbers, values, strict=True)
        ],
    )
    return values


def _sequences(items: list[Change | Reset]) -> list[int]:
    sequences = []
    for item in items:
        assert isinstance(item, Change)
        payload = CODEC.decode(item.data).payload
        assert isinstance(payload, CampaignStateChanged)
        sequences.append(payload.sequence)
    return sequences


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SqliteLog]:
    with SqliteLog(tmp_path / "log.db") as opened:
        opened.create_topic(TOPIC, 2)
        yield opened


def test_a_record_the_relay_appended_twice_is_sent_once(log: SqliteLog) -> None:
    """Numbers 1, 2, 2, 3: three changes, also for a stream resumed right
    before the repeat (it learns the number from the record before it)."""
    _relayed(log, [1, 2, 2, 3])
    tail, reset = Tail.open(log, TOPIC, CODEC, None, from_start=True)
    assert reset is None
    items = tail.poll(100)
    assert _sequences(items) == [1, 2, 3]
    assert [item.id for item in items] == ["0-1.1-0", "0-2.1-0", "0-4.1-0"]

    resumed, _ = Tail.open(log, TOPIC, CODEC, {0: 2, 1: 0})
    assert _sequences(resumed.poll(100)) == [3]


def test_records_deleted_while_a_stream_reads_are_a_reset(log: SqliteLog) -> None:
    """The stream read one change; retention deleted the next ones: a reset
    from where it stood to the earliest held, then what is held."""
    _relayed(log, [1, 2, 3, 4])
    tail, _ = Tail.open(log, TOPIC, CODEC, {0: 0, 1: 0})
    assert _sequences(tail.poll(1)) == [1]
    log.delete_records(TOPIC, {0: 3})
    [reset] = tail.poll(100)
    assert isinstance(reset, Reset)
    assert reset.notice.partitions == [
        PartitionReset(partition=0, requested=1, earliest=3, reason="retention")
    ]
    assert reset.id == "0-3.1-0"
    assert _sequences(tail.poll(100)) == [4]


@given(st.dictionaries(st.integers(0, 63), st.integers(0, 2**63 - 1), min_size=1))
def test_an_id_reads_back_as_the_positions_it_was_made_from(positions: dict[int, int]) -> None:
    """Any vector naming every partition of the topic round-trips; one
    naming a partition the topic lacks, or leaving one out, is refused."""
    partitions = max(positions) + 1
    complete = {p: positions.get(p, 0) for p in range(partitions)}
    assert parse_id(format_id(complete), partitions) == complete
    with pytest.raises(MalformedId, match="names partition"):
        parse_id(format_id(complete | {partitions: 0}), partitions)
    with pytest.raises(MalformedId, match="leaves out"):
        parse_id(format_id(complete), partitions + 1)
