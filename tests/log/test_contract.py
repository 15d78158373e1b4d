"""The log port's contract: what every engine promises the handlers.

Each test runs once per engine in the registry (see ``conftest.py``); only
behaviour Kafka shares belongs here. Engine-specific behaviour (durability
across processes, round-robin placement) lives in the engine's own tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from touchline.log import Log, LogError, Record, StoredRecord, TopicPartition, UnknownTopicError
from touchline.log.port import murmur2, partition_for_key
from touchline.log.registry import open_log


def read_all(log: Log, tp: TopicPartition) -> list[StoredRecord]:
    """Every record of one partition, read in pages as a consumer would."""
    records: list[StoredRecord] = []
    while page := log.read(tp, len(records), 500):
        records.extend(page)
    return records


# -- topics -----------------------------------------------------------------


def test_create_topic_reports_its_partitions(log: Log, topic: str) -> None:
    """A created topic reports the partition count it was created with."""
    log.create_topic(topic, 3)
    assert log.partitions(topic) == 3


def test_create_topic_is_idempotent_with_the_same_count(log: Log, topic: str) -> None:
    """Creating a topic again with the same count is a no-op that keeps its records."""
    log.create_topic(topic, 2)
    log.append(topic, [Record(b"kept", key=b"k")])
    log.create_topic(topic, 2)
    assert log.partitions(topic) == 2
    assert sum(log.end_offsets(topic).values()) == 1


def test_create_topic_with_another_count_raises(log: Log, topic: str) -> None:
    """Re-creating a topic with another partition count raises and changes nothing."""
    log.create_topic(topic, 2)
    with pytest.raises(LogError, match=rf"{topic}.*2 partitions"):
        log.create_topic(topic, 4)
    assert log.partitions(topic) == 2


def test_create_topic_needs_a_partition(log: Log, topic: str) -> None:
    """A topic with no partitions is refused."""
    with pytest.raises(LogError, match=topic):
        log.create_topic(topic, 0)


def test_topics_have_independent_offsets(log: Log, topic: str) -> None:
    """Appending to one topic leaves another's offsets alone."""
    other = f"{topic}-other"
    log.create_topic(topic, 1)
    log.create_topic(other, 1)
    log.append(topic, [Record(b"a"), Record(b"b")])
    assert log.append(other, [Record(b"c")])[0].offset == 0
    assert log.end_offsets(topic) == {0: 2}


# -- placement and order ----------------------------------------------------


# Kafka's own vectors (clients UtilsTest.testMurmur2), as Java's signed ints.
_KAFKA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "java_hash"), sorted(_KAFKA_MURMUR2.items()))
def test_murmur2_matches_the_java_client(key: bytes, java_hash: int) -> None:
    """The key hash is bit for bit the Java client's, so both engines agree on placement."""
    assert murmur2(key) == java_hash & 0xFFFFFFFF
    assert partition_for_key(key, 12) == (java_hash & 0x7FFFFFFF) % 12


def test_same_key_lands_on_the_partition_kafka_would_choose(log: Log, topic: str) -> None:
    """A key always lands on ``partition_for_key(key, n)``, Kafka's murmur2 placement."""
    log.create_topic(topic, 8)
    keys = [f"customer-{i}".encode() for i in range(50)]
    positions = log.append(topic, [Record(b"x", key=key) for key in keys * 2])
    for key, position in zip(keys * 2, positions, strict=True):
        assert position.partition == partition_for_key(key, 8)
    assert len({p.partition for p in positions}) > 1  # the keys do spread


def test_keyless_records_land_in_valid_partitions(log: Log, topic: str) -> None:
    """Records without a key are all stored, each in one of the topic's partitions."""
    log.create_topic(topic, 4)
    positions = log.append(topic, [Record(str(i).encode()) for i in range(20)])
    assert all(0 <= p.partition < 4 for p in positions)
    assert sum(log.end_offsets(topic).values()) == 20


def test_order_is_kept_per_partition(log: Log, topic: str) -> None:
    """Records of one key read back in the order appended, across appends."""
    log.create_topic(topic, 4)
    key = b"customer-1"
    for batch in range(5):
        log.append(topic, [Record(f"{batch}-{i}".encode(), key=key) for i in range(10)])
    tp = TopicPartition(topic, partition_for_key(key, 4))
    values = [r.value for r in read_all(log, tp)]
    assert values == [f"{batch}-{i}".encode() for batch in range(5) for i in range(10)]


def test_offsets_are_dense_from_zero(log: Log, topic: str) -> None:
    """Each partition's offsets run 0, 1, 2, ... with no gap, across appends."""
    log.create_topic(topic, 3)
    for batch in range(4):
        log.append(topic, [Record(b"v", key=f"k{batch}-{i}".encode()) for i in range(25)])
    for partition, end in log.end_offsets(topic).items():
        offsets = [r.offset for r in read_all(log, TopicPartition(topic, partition))]
        assert offsets == list(range(end))


def test_append_returns_where_each_record_landed(log: Log, topic: str) -> None:
    """The positions returned, in input order, address exactly the records appended."""
    log.create_topic(topic, 3)
    records = [Record(f"v{i}".encode(), key=f"k{i % 7}".encode()) for i in range(30)]
    positions = log.append(topic, records)
    assert len(positions) == len(records)
    for record, (partition, offset) in zip(records, positions, strict=True):
        [stored] = log.read(TopicPartition(topic, partition), offset, 1)
        assert (stored.topic, stored.partition, stored.offset) == (topic, partition, offset)
        assert (stored.key, stored.value) == (record.key, record.value)


def test_empty_append_writes_nothing(log: Log, topic: str) -> None:
    """Appending no records returns no positions and moves no offset."""
    log.create_topic(topic, 2)
    assert log.append(topic, []) == []
    assert log.end_offsets(topic) == {0: 0, 1: 0}


def test_large_batch_round_trips(log: Log, topic: str) -> None:
    """A 10,000-record append reads back whole, in order, value for value."""
    log.create_topic(topic, 4)
    records = [Record(f"{i:06d}".encode() * 20, key=f"c{i % 997}".encode()) for i in range(10_000)]
    positions = log.append(topic, records)
    stored = {
        (r.partition, r.offset): r
        for p in range(4)
        for r in read_all(log, TopicPartition(topic, p))
    }
    assert len(stored) == 10_000
    for record, position in zip(records, positions, strict=True):
        assert stored[position].value == record.value
        assert stored[position].key == record.key


# -- what a record keeps ----------------------------------------------------


def test_headers_round_trip(log: Log, topic: str) -> None:
    """Headers come back in order, with repeated names and empty values intact."""
    log.create_topic(topic, 1)
    headers = (("trace", b"abc"), ("empty", b""), ("trace", b"\x00\xff"), ("ünï", b"1"))
    log.append(topic, [Record(b"v", key=b"k", headers=headers), Record(b"w")])
    first, second = log.read(TopicPartition(topic, 0), 0, 10)
    assert first.headers == headers
    assert second.headers == ()


def test_null_key_and_empty_value_round_trip(log: Log, topic: str) -> None:
    """A missing key stays None and an empty value stays empty bytes."""
    log.create_topic(topic, 1)
    log.append(topic, [Record(b"", key=None), Record(b"v", key=b"")])
    first, second = log.read(TopicPartition(topic, 0), 0, 10)
    assert (first.key, first.value) == (None, b"")
    assert (second.key, second.value) == (b"", b"v")


def test_timestamp_is_the_append_time(log: Log, topic: str) -> None:
    """Each record carries the wall-clock time it was appended, in milliseconds."""
    log.create_topic(topic, 1)
    before = time.time_ns() // 1_000_000
    log.append(topic, [Record(b"v")])
    after = time.time_ns() // 1_000_000
    [stored] = log.read(TopicPartition(topic, 0), 0, 1)
    # A second of slack either side: a broker's clock is not ours.
    assert before - 1_000 <= stored.timestamp_ms <= after + 1_000


# -- reading ----------------------------------------------------------------


def test_read_from_an_offset_returns_at_most_max_records(log: Log, topic: str) -> None:
    """A read starts at the given offset and returns no more than asked for."""
    log.create_topic(topic, 1)
    log.append(topic, [Record(str(i).encode()) for i in range(10)])
    tp = TopicPartition(topic, 0)
    assert [r.offset for r in log.read(tp, 3, 4)] == [3, 4, 5, 6]
    assert [r.value for r in log.read(tp, 8, 100)] == [b"8", b"9"]


def test_read_at_or_past_the_end_is_empty(log: Log, topic: str) -> None:
    """Reading from the end offset (a caught-up consumer) or beyond returns nothing."""
    log.create_topic(topic, 1)
    log.append(topic, [Record(b"v")])
    assert log.read(TopicPartition(topic, 0), 1, 10) == []
    assert log.read(TopicPartition(topic, 0), 50, 10) == []


def test_read_refuses_a_negative_offset(log: Log, topic: str) -> None:
    """A negative offset is a caller's bug and raises rather than reading from 0."""
    log.create_topic(topic, 1)
    with pytest.raises(LogError, match=topic):
        log.read(TopicPartition(topic, 0), -1, 10)


def test_read_refuses_to_ask_for_no_records(log: Log, topic: str) -> None:
    """A read for fewer than one record is a caller's bug and raises."""
    log.create_topic(topic, 1)
    with pytest.raises(LogError, match="max_records"):
        log.read(TopicPartition(topic, 0), 0, 0)


def test_end_offsets_are_the_next_offset_per_partition(log: Log, topic: str) -> None:
    """end_offsets names every partition, 0 when empty, else one past the last record."""
    log.create_topic(topic, 3)
    assert log.end_offsets(topic) == {0: 0, 1: 0, 2: 0}
    positions = log.append(topic, [Record(b"v", key=f"k{i}".encode()) for i in range(40)])
    expected = dict.fromkeys(range(3), 0)
    for partition, offset in positions:
        expected[partition] = max(expected[partition], offset + 1)
    assert log.end_offsets(topic) == expected


def test_start_offsets_are_zero_until_records_are_deleted(log: Log, topic: str) -> None:
    """start_offsets names every partition, 0 on a log nothing was deleted from,
    records or not (deleting is retention's, engine by engine)."""
    log.create_topic(topic, 3)
    assert log.start_offsets(topic) == {0: 0, 1: 0, 2: 0}
    log.append(topic, [Record(b"v", partition=1) for _ in range(5)])
    assert log.start_offsets(topic) == {0: 0, 1: 0, 2: 0}


@pytest.mark.parametrize("partition", [-1, 3])
def test_partition_out_of_range_raises(log: Log, topic: str, partition: int) -> None:
    """Reading or committing a partition the topic lacks names topic and partition."""
    log.create_topic(topic, 3)
    tp = TopicPartition(topic, partition)
    with pytest.raises(LogError, match=rf"{topic}.*{partition}"):
        log.read(tp, 0, 1)
    with pytest.raises(LogError, match=rf"{topic}.*{partition}"):
        log.commit("group", {tp: 0})


# -- consumer groups --------------------------------------------------------


def test_committed_is_empty_before_any_commit(log: Log, topic: str) -> None:
    """A group that never committed has no stored positions."""
    log.create_topic(topic, 2)
    assert log.committed("group", topic) == {}


def test_commit_is_kept_per_group(log: Log, topic: str) -> None:
    """Each group's positions are its own; a later commit overwrites only its partitions."""
    log.create_topic(topic, 3)
    log.append(topic, [Record(b"v", key=f"k{i}".encode()) for i in range(30)])
    log.commit("a", {TopicPartition(topic, 0): 2, TopicPartition(topic, 1): 5})
    log.commit("b", {TopicPartition(topic, 1): 1})
    log.commit("a", {TopicPartition(topic, 1): 7})
    assert log.committed("a", topic) == {0: 2, 1: 7}
    assert log.committed("b", topic) == {1: 1}


def test_committed_is_kept_per_topic(log: Log, topic: str) -> None:
    """A group's positions in one topic do not show in another."""
    other = f"{topic}-other"
    log.create_topic(topic, 1)
    log.create_topic(other, 1)
    log.commit("group", {TopicPartition(topic, 0): 1})
    assert log.committed("group", other) == {}


# -- unknown topics ---------------------------------------------------------

_TOPIC_OPERATIONS: dict[str, Callable[[Log, str], object]] = {
    "partitions": lambda log, name: log.partitions(name),
    "append": lambda log, name: log.append(name, [Record(b"v")]),
    "append nothing": lambda log, name: log.append(name, []),
    "read": lambda log, name: log.read(TopicPartition(name, 0), 0, 1),
    "end_offsets": lambda log, name: log.end_offsets(name),
    "start_offsets": lambda log, name: log.start_offsets(name),
    "commit": lambda log, name: log.commit("group", {TopicPartition(name, 0): 0}),
    "committed": lambda log, name: log.committed("group", name),
}


@pytest.mark.parametrize("operation", sorted(_TOPIC_OPERATIONS))
def test_unknown_topic_raises_naming_it(log: Log, topic: str, operation: str) -> None:
    """Every operation on a topic never created raises UnknownTopicError naming it."""
    with pytest.raises(UnknownTopicError, match=topic):
        _TOPIC_OPERATIONS[operation](log, topic)


# -- the registry -----------------------------------------------------------


def test_open_log_names_the_known_engines_for_an_unknown_one() -> None:
    """An unknown engine in a log URL is refused with the list of known engines."""
    with pytest.raises(LogError, match=r"unknown log engine 'x' \(known: .*sqlite"):
        open_log("x://somewhere")


def test_open_log_needs_an_engine() -> None:
    """A log URL without an engine scheme is refused."""
    with pytest.raises(LogError, match="no engine"):
        open_log("/data/log.db")


def test_an_explicit_partition_overrides_the_key(log: Log, topic: str) -> None:
    """A record with a partition lands there whatever its key; out of range is refused."""
    log.create_topic(topic, 3)
    positions = log.append(
        topic, [Record(value=b"a", key=b"k", partition=2), Record(value=b"b", partition=0)]
    )
    assert [p.partition for p in positions] == [2, 0]
    with pytest.raises(LogError, match="no partition 3"):
        log.append(topic, [Record(value=b"c", partition=3)])
