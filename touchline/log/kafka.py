"""The Kafka log engine: the log port on a Kafka cluster, through kafka-python.

One ``KafkaLog`` holds three clients, connected when it opens and reused by
every call until it closes: an admin client (topics, metadata, consumer-group
offsets), a producer (appends) and a consumer with no group (reads, end
offsets).

- Placement: a keyed record goes to ``partition_for_key(key, n)``, passed to
  the producer as an explicit partition, so a key lands where the embedded log
  puts it; keyless records rotate round robin, as there.
- Durability: ``acks="all"``, and ``append`` returns only once the producer has
  flushed and every record is acknowledged. When it fails, it has first waited
  for the producer's own verdict on each of its records (the producer gives up
  on a record at its delivery timeout): a record still queued would otherwise
  take the next append's records into its batch, and fail them with it when it
  expires, even with the broker back. The producer is not idempotent
  (positions live in the projection store, so correctness never rests on
  Kafka's transactions, and the Tansu test broker refuses InitProducerId), so
  it keeps one request in flight per connection: a retried batch can then
  never overtake the next one, and records of a key stay in order.
- Timestamps: topics are created with ``message.timestamp.type=LogAppendTime``
  so the broker stamps each record with its append time, the embedded log's
  meaning. A broker that ignores the setting (Tansu does) keeps the producer's
  send time instead, which differs by the network hop.
- Consumer-group positions go through the admin API (OffsetCommit and
  OffsetFetch without joining the group). Joining would cost a rebalance, and
  touchline's own positions live in the projection store anyway; these are for
  lag tools and for runtimes that resume from Kafka. Committing for a group
  that has live members fails, as Kafka only lets members commit then.
- Every wait is bounded by ``timeout_ms`` (bootstrap, each request, delivery),
  and every failure surfaces as ``LogError`` naming the bootstrap servers.

The Tansu broker the tests run on answers ListOffsets(latest) with the base
offset of the partition's last record batch plus one, not the high watermark,
so an end offset is too low whenever that batch holds several records. Its
Fetch responses are right, so reads and end offsets start from ListOffsets and
then fetch from a record known to exist (see ``read`` and ``end_offsets``).
On Apache Kafka this costs one small fetch and changes nothing.
"""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from touchline.log.port import (
    Log,
    LogError,
    OffsetOutOfRange,
    Position,
    Record,
    StoredRecord,
    TopicPartition,
    UnknownTopicError,
    check_topic_spec,
    place,
)

with warnings.catch_warnings():
    # kafka-python 3.0 reads its protocol schemas with
    # importlib.resources.read_text/open_text while importing, which Python
    # 3.11 deprecates; the strict test configuration turns that into an error.
    # Nothing to act on here: silence exactly those two, only for this import.
    warnings.filterwarnings(
        "ignore", r"(read|open)_text is deprecated", DeprecationWarning, r"kafka\.|importlib\."
    )
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KafkaTopicPartition
    from kafka.errors import (
        KafkaError,
        NoError,
        OffsetOutOfRangeError,
        RetriableError,
        TopicAlreadyExistsError,
        UnknownTopicOrPartitionError,
    )
    from kafka.structs import OffsetAndMetadata

COMPRESSIONS = ("none", "gzip")
"""Codecs offered: the ones kafka-python runs with no extra package installed."""

DEFAULT_TIMEOUT_MS = 10_000
MIN_TIMEOUT_MS = 100

_FETCH_MAX_WAIT_MS = 10
"""How long the broker may hold a fetch that finds nothing new.

Reads fetch from records that exist, so the broker answers them at once; this
only bounds the prefetch a poll leaves in flight, which the next read of that
partition waits out. (kafka-python needs the request timeout above it.)"""

_RETRY_BACKOFF_S = 0.1

_VERDICT_GRACE_S = 2.0
"""How long past a record's delivery timeout ``append`` waits for the producer
to report it expired (its sender thread notices on its next turn)."""

_DEFAULT_PORT = 9092

_T = TypeVar("_T")


class KafkaLog(Log):
    """The log on a Kafka cluster (or any broker speaking its protocol).

    ``bootstrap_servers``: ``"host:port"``, several comma-separated, or a list.
    ``compression``: ``"none"`` or ``"gzip"``; ``linger_ms`` and ``batch_size``
    shape the producer's batches; ``timeout_ms`` bounds every wait;
    ``replication_factor`` for new topics (-1: the broker's default).

    Safe to share between threads: the producer and admin client are, and
    reads take a lock around the one consumer.
    """

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        *,
        compression: str = "none",
        linger_ms: int = 5,
        batch_size: int = 256 * 1024,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        replication_factor: int = -1,
        client_id: str = "touchline",
    ) -> None:
        servers = (
            [s.strip() for s in bootstrap_servers.split(",")]
            if isinstance(bootstrap_servers, str)
            else list(bootstrap_servers)
        )
        if not servers or not all(servers):
            raise LogError(f"a Kafka log needs bootstrap servers, not {bootstrap_servers!r}")
        if compression not in COMPRESSIONS:
            raise LogError(f"compression {compression!r} is not one of {', '.join(COMPRESSIONS)}")
        if timeout_ms < MIN_TIMEOUT_MS or linger_ms < 0 or batch_size < 0:
            raise LogError(
                f"timeout_ms must be at least {MIN_TIMEOUT_MS};"
                " linger_ms and batch_size must not be negative"
            )
        self._servers = servers
        self._timeout_ms = timeout_ms
        # kafka-python requires delivery >= linger + request timeout.
        self._delivery_timeout_ms = timeout_ms + linger_ms
        self._replication_factor = replication_factor
        common: dict[str, Any] = {
            "bootstrap_servers": servers,
            "client_id": client_id,
            "request_timeout_ms": timeout_ms,
            "bootstrap_timeout_ms": timeout_ms,
            # Reconnect soon after a broker comes back, not after
            # kafka-python's default exponential backoff of up to 30 s.
            "reconnect_backoff_max_ms": min(1000, timeout_ms // 4),
        }
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._closed = False
        # Topics never change their partition count here, so a count once seen
        # is kept for the life of the instance.
        self._partition_counts: dict[str, int] = {}
        self._round_robin: dict[str, int] = {}
        self._check_reachable()
        with ExitStack() as opened, self._kafka_errors("connecting"):
            self._admin: Any = KafkaAdminClient(**common)
            opened.callback(self._admin.close)
            self._producer: Any = KafkaProducer(
                **common,
                acks="all",
                enable_idempotence=False,
                max_in_flight_requests_per_connection=1,
                compression_type=None if compression == "none" else compression,
                linger_ms=linger_ms,
                batch_size=batch_size,
                max_block_ms=timeout_ms,
                delivery_timeout_ms=self._delivery_timeout_ms,
                allow_auto_create_topics=False,
            )
            opened.callback(self._producer.close, timeout=0)
            self._consumer: Any = KafkaConsumer(
                **common,
                group_id=None,
                enable_auto_commit=False,
                # Never jump elsewhere silently: reading from an offset that
                # is gone raises instead.
                auto_offset_reset="none",
                fetch_max_wait_ms=_FETCH_MAX_WAIT_MS,
                allow_auto_create_topics=False,
            )
            opened.pop_all()  # all three up: they live until close()

    def __repr__(self) -> str:
        return f"KafkaLog({','.join(self._servers)!r})"

    @property
    def bootstrap_servers(self) -> list[str]:
        """The ``host:port`` of each bootstrap server, as configured."""
        return list(self._servers)

    # -- the port -----------------------------------------------------------

    def create_topic(self, name: str, partitions: int) -> None:
        check_topic_spec(name, partitions)
        spec = {
            "num_partitions": partitions,
            "replication_factor": self._replication_factor,
            "configs": {"message.timestamp.type": "LogAppendTime"},
        }
        response = self._admin_call(
            f"creating topic {name!r}",
            lambda: self._admin.create_topics(
                {name: spec}, raise_errors=False, wait_for_metadata=True
            ),
        )
        [result] = response["topics"]
        code = result["error_code"]
        if code == TopicAlreadyExistsError.errno:
            existing = self.partitions(name)
            if existing != partitions:
                raise LogError(
                    f"topic {name!r} exists with {existing} partitions, not {partitions}"
                    " (the partition count never changes: keys would move)"
                )
        elif code != NoError.errno:
            raise LogError(
                f"{self!r}: creating topic {name!r} failed: error {code}: {result['error_message']}"
            )
        self._partition_counts[name] = partitions

    def partitions(self, topic: str) -> int:
        count = self._partition_counts.get(topic)
        if count is None:
            [described] = self._admin_call(
                f"describing topic {topic!r}", lambda: self._admin.describe_topics([topic])
            )
            code = described["error_code"]
            if code == UnknownTopicOrPartitionError.errno:
                raise UnknownTopicError(f"unknown topic {topic!r}")
            if code != NoError.errno or not described["partitions"]:
                raise LogError(f"{self!r}: topic {topic!r} is not available (error {code})")
            count = len(described["partitions"])
            self._partition_counts[topic] = count
        return count

    def append(self, topic: str, records: Sequence[Record]) -> list[Position]:
        count = self.partitions(topic)
        if not records:
            return []
        placed = self._place(topic, count, records)
        producer = self._open(self._producer)
        with self._kafka_errors(f"appending {len(records)} records to {topic!r}", partial=True):
            futures = [
                producer.send(
                    topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                    partition=partition,
                )
                for record, partition in zip(records, placed, strict=True)
            ]
            # Until every record has its verdict: delivered, or expired by the
            # producer itself (see the module's docstring).
            settle_s = self._delivery_timeout_ms / 1000 + _VERDICT_GRACE_S
            deadline = time.monotonic() + settle_s
            producer.flush(timeout=settle_s)
            landed = [
                future.get(timeout=max(0.0, deadline - time.monotonic())) for future in futures
            ]
        return [Position(int(meta.partition), int(meta.offset)) for meta in landed]

    def read(self, tp: TopicPartition, offset: int, max_records: int) -> list[StoredRecord]:
        self._check_partition(tp)
        if offset < 0:
            raise LogError(f"cannot read {tp.topic!r}[{tp.partition}] from offset {offset}")
        if max_records < 1:
            raise LogError(f"max_records must be at least 1, not {max_records}")
        with self._read_lock, self._kafka_errors(f"reading {tp.topic!r}[{tp.partition}]"):
            end = self._listed_ends([tp])[tp]
            if end == 0:
                return []
            # Fetch from a record known to exist, so the broker answers at once
            # (a fetch at the end would wait out fetch_max_wait_ms), and read
            # on until the last wanted record the listed end promises. Past
            # that end, the fetch of the last listed record also brings any
            # records the listed end misses on Tansu (the rest of its batch).
            start = min(offset, end - 1)
            through = min(offset + max_records, end) - 1 if offset < end else start
            fetched = self._fetch(tp, start, through, limit=offset - start + max_records)
        return [r for r in fetched if r.offset >= offset][:max_records]

    def start_offsets(self, topic: str) -> dict[int, int]:
        tps = [KafkaTopicPartition(topic, p) for p in range(self.partitions(topic))]
        with self._read_lock, self._kafka_errors(f"reading the start offsets of {topic!r}"):
            starts = self._open(self._consumer).beginning_offsets(tps)
        return {int(tp.partition): int(start) for tp, start in starts.items()}

    def end_offsets(self, topic: str) -> dict[int, int]:
        tps = [TopicPartition(topic, p) for p in range(self.partitions(topic))]
        with self._read_lock, self._kafka_errors(f"reading the end offsets of {topic!r}"):
            listed = self._listed_ends(tps)
            return {tp.partition: end for tp, end in self._true_ends(listed).items()}

    def commit(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, next_offset in offsets.items():
            self._check_partition(tp)
            if next_offset < 0:
                raise LogError(
                    f"cannot commit offset {next_offset} for {tp.topic!r}[{tp.partition}]"
                )
        if not offsets:
            return
        request = {
            KafkaTopicPartition(tp.topic, tp.partition): OffsetAndMetadata(offset, "", None)
            for tp, offset in offsets.items()
        }
        results = self._admin_call(
            f"committing offsets of group {group!r}",
            lambda: self._admin.alter_group_offsets(group, request),
        )
        failed = {
            f"{tp.topic}[{tp.partition}]": error.__name__
            for tp, error in results.items()
            if error is not NoError
        }
        if failed:
            raise LogError(f"{self!r}: group {group!r} could not commit {failed}")

    def committed(self, group: str, topic: str) -> dict[int, int]:
        tps = [KafkaTopicPartition(topic, p) for p in range(self.partitions(topic))]
        listed = self._admin_call(
            f"fetching offsets of group {group!r}",
            lambda: self._admin.list_group_offsets({group: tps}),
        )
        stored = listed.get(group, {})
        # -1: nothing stored for that partition.
        return {
            int(tp.partition): int(meta.offset)
            for tp, meta in sorted(stored.items())
            if meta.offset >= 0
        }

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        timeout = self._timeout_ms / 1000
        # Every client closes even if another fails to; the first error wins.
        with self._kafka_errors("closing"), ExitStack() as closing:
            closing.callback(self._admin.close)
            closing.callback(self._consumer.close)
            closing.callback(self._producer.close, timeout=timeout)

    # -- helpers ------------------------------------------------------------

    def _check_partition(self, tp: TopicPartition) -> None:
        count = self.partitions(tp.topic)
        if not 0 <= tp.partition < count:
            raise LogError(
                f"topic {tp.topic!r} has {count} partitions; no partition {tp.partition}"
            )

    def _place(self, topic: str, count: int, records: Sequence[Record]) -> list[int]:
        """The partition of each record, by the rule every engine shares."""
        placed, self._round_robin[topic] = place(
            topic, count, records, self._round_robin.get(topic, 0)
        )
        return placed

    def _listed_ends(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """ListOffsets(latest): the end on Kafka, a lower bound of it on Tansu."""
        ends = self._open(self._consumer).end_offsets([KafkaTopicPartition(*tp) for tp in tps])
        return {TopicPartition(tp.topic, tp.partition): int(end) for tp, end in ends.items()}

    def _true_ends(self, listed: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The high watermarks: from a fetch of each partition's last listed record.

        The fetch response carries the partition's high watermark, right on
        every broker, and fetching a record that exists answers at once.
        """
        ends = dict(listed)
        pending = {KafkaTopicPartition(*tp): end - 1 for tp, end in listed.items() if end > 0}
        if not pending:
            return ends
        consumer = self._open(self._consumer)
        consumer.assign(list(pending))
        for ktp, last in pending.items():
            consumer.seek(ktp, last)
        deadline = time.monotonic() + self._timeout_ms / 1000
        while pending:
            fetched = consumer.poll(timeout_ms=self._remaining_ms(deadline), max_records=1)
            for ktp in fetched:
                tp = TopicPartition(ktp.topic, ktp.partition)
                ends[tp] = max(ends[tp], int(consumer.highwater(ktp) or 0))
                pending.pop(ktp, None)
        return ends

    def _fetch(
        self, tp: TopicPartition, start: int, through: int, limit: int
    ) -> list[StoredRecord]:
        """Records of ``tp`` from ``start`` until ``through`` is in, at most ``limit``."""
        ktp = KafkaTopicPartition(tp.topic, tp.partition)
        consumer = self._open(self._consumer)
        if consumer.assignment() != {ktp}:
            consumer.assign([ktp])
        consumer.seek(ktp, start)
        deadline = time.monotonic() + self._timeout_ms / 1000
        records: list[StoredRecord] = []
        while not records or (records[-1].offset < through and len(records) < limit):
            try:
                fetched = consumer.poll(
                    timeout_ms=self._remaining_ms(deadline), max_records=limit - len(records)
                )
            except OffsetOutOfRangeError:
                raise OffsetOutOfRange(
                    f"{self!r}: offset {start} of {tp.topic!r}[{tp.partition}] is no longer"
                    " retained (records before it were deleted)"
                ) from None
            records.extend(_stored(r) for r in fetched.get(ktp, ()))
        return records

    def _remaining_ms(self, deadline: float) -> int:
        remaining = int((deadline - time.monotonic()) * 1000)
        if remaining <= 0:
            raise LogError(f"{self!r}: no answer within {self._timeout_ms} ms")
        return remaining

    def _open(self, client: _T) -> _T:
        if self._closed:
            raise LogError(f"{self!r} is closed")
        return client

    def _check_reachable(self) -> None:
        """Fail at once, and clearly, when no bootstrap server accepts a connection.

        kafka-python would wait out its bootstrap timeout to say much the same,
        and leaves a socket behind when its bootstrap fails.
        """
        timeout_s = min(self._timeout_ms / 1000, 2.0)
        for server in self._servers:
            host, sep, port = server.rpartition(":")
            if not sep or not port.isdigit():
                host, port = server, str(_DEFAULT_PORT)
            try:
                with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                    return
            except OSError:
                continue
        raise LogError(f"no Kafka broker accepts connections at {','.join(self._servers)}")

    def _admin_call(self, action: str, call: Callable[[], _T]) -> _T:
        """An admin request, retried on retriable errors (a broker just restarting,
        a coordinator moving) until the timeout."""
        deadline = time.monotonic() + self._timeout_ms / 1000
        self._open(self._admin)
        with self._kafka_errors(action):
            while True:
                try:
                    return call()
                except RetriableError:
                    if time.monotonic() + _RETRY_BACKOFF_S >= deadline:
                        raise
                    time.sleep(_RETRY_BACKOFF_S)

    @contextmanager
    def _kafka_errors(self, action: str, *, partial: bool = False) -> Iterator[None]:
        """Report kafka-python's failures as LogError naming the brokers."""
        try:
            yield
        except KafkaError as error:
            detail = (
                " (some of the records may have been appended: a retry can duplicate them)"
                if partial
                else ""
            )
            raise LogError(
                f"{action} failed on Kafka at {','.join(self._servers)}: {error}{detail}"
            ) from error


def _stored(record: Any) -> StoredRecord:
    return StoredRecord(
        record.topic,
        int(record.partition),
        int(record.offset),
        record.key,
        # A null value (a tombstone some other producer wrote) reads as empty.
        b"" if record.value is None else record.value,
        int(record.timestamp),
        tuple((name, value) for name, value in record.headers),
    )


_URL_OPTIONS = {
    "compression": str,
    "linger_ms": int,
    "batch_size": int,
    "timeout_ms": int,
    "replication_factor": int,
    "client_id": str,
}


def open_kafka_log(target: str) -> KafkaLog:
    """``host:port[,host:port...][?option=value&...]``: the part after ``kafka://``.

    Options: ``compression`` (none, gzip), ``linger_ms``, ``batch_size``,
    ``timeout_ms``, ``replication_factor``, ``client_id``.
    """
    servers, _, query = target.partition("?")
    servers = servers.rstrip("/")
    if not servers:
        raise LogError("a kafka log URL needs bootstrap servers, e.g. 'kafka://127.0.0.1:9092'")
    options: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        convert = _URL_OPTIONS.get(name)
        if convert is None:
            known = ", ".join(sorted(_URL_OPTIONS))
            raise LogError(f"unknown kafka log option {name!r} (known: {known})")
        try:
            options[name] = convert(value)
        except ValueError:
            raise LogError(
                f"kafka log option {name}={value!r} is not a {convert.__name__}"
            ) from None
    return KafkaLog(servers, **options)
