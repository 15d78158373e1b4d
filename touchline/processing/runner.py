"""Drives one processor over its topic: read, decode, apply, checkpoint.

Each batch is one database transaction holding the processor's writes, its
timers and the positions it consumed. Whatever the batch emits is appended to
the log before that commit, so a crash in between re-emits (the same events,
deduplicated downstream by event id) instead of losing them; except on a
relayed topic (the campaign-state feed, read by consumers outside touchline),
whose records go to an outbox in that transaction and are appended once by
:mod:`touchline.processing.relay` after it. What a processor
raises is sorted as :mod:`touchline.processing.port` describes: retry later,
dead-letter the one event, or stop with a clear message. Records become
what the processor reads in :mod:`touchline.processing.decoding`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from touchline.events import Envelope, EnvelopeHead, EventCodec
from touchline.events.instants import to_us
from touchline.log.port import (
    Log,
    LogError,
    OffsetOutOfRange,
    Record,
    StoredRecord,
    TopicPartition,
    partition_for_key,
)
from touchline.processing.clock import Clock, SystemClock
from touchline.processing.dead_letter import dead_letter
from touchline.processing.decoding import Batch, Origin, read_records
from touchline.processing.packing import Packing, pack, policy_for
from touchline.processing.port import (
    CONFLICTING_DUPLICATE,
    CancelTimer,
    Outcome,
    Processor,
    ProcessorStopped,
    RetryLater,
    Timer,
)
from touchline.processing.relay import Relay
from touchline.store import outbox
from touchline.store.positions import load_positions, save_positions
from touchline.store.timers import StoredTimer, cancel_timers, count_due, set_timers, take_due

log = structlog.get_logger(__name__)

# Not the batch's fault: the database, the log or the network is briefly
# away. Checked first: OperationalError is a DBAPIError, and smtplib's and
# socket errors are OSErrors.
_TRANSIENT = (RetryLater, OperationalError, LogError, OSError)
# What a bad event can make a processor raise: that event is dead-lettered.
# Anything else is a fault in the code, and stops the runner (ProcessorStopped).
_APPLY_ERRORS = (DBAPIError, ValueError, TypeError, LookupError, ArithmeticError)


@dataclass(slots=True)
class RunnerStats:
    processed: int = 0
    dead_lettered: int = 0
    emitted: int = 0
    batches: int = 0
    conflicts: int = 0
    """Events whose id was already applied with other content (dead-lettered)."""
    timers_fired: int = 0
    retries: int = 0
    """Batches rolled back to be tried again (RetryLater, an outage)."""

    @property
    def taken(self) -> int:
        """Events consumed either way: applied or dead-lettered."""
        return self.processed + self.dead_lettered


_Reads = Sequence[tuple[TopicPartition, Sequence[StoredRecord]]]
"""Records read from one or more partitions of the runner's topic."""


def _where(reads: _Reads) -> str:
    """``topic[0] at offsets 3..5, [2] at 7..9``: what a batch held."""
    parts = [
        f"[{tp.partition}] at offsets {part[0].offset}..{part[-1].offset}" for tp, part in reads
    ]
    return f"{reads[0][0].topic}{', '.join(parts)}"


class ProcessorRunner:
    """Runs a processor on every partition of its source topic."""

    def __init__(
        self,
        processor: Processor[Any],
        log: Log,
        engine: Engine,
        codec: EventCodec,
        *,
        dead_letter_topic: str,
        batch_size: int = 8000,
        clock: Clock | None = None,
        packing: Mapping[str, Packing] | None = None,
        relayed: Collection[str] = (),
    ) -> None:
        self.processor = processor
        self.log = log
        self.engine = engine
        self.codec = codec
        self.dead_letter_topic = dead_letter_topic
        self.batch_size = batch_size
        self.clock: Clock = clock or SystemClock()
        self.packing: Mapping[str, Packing] = packing or {}
        """How emits are packed into records, per target topic (default: per partition)."""
        self.relay = Relay(log, engine, relayed, batch_size)
        """Topics that must hold each record once go through the outbox and this relay."""
        self.stats = RunnerStats()
        self._positions: dict[int, int] | None = None
        # Partition counts never change (the log refuses to), so they are kept.
        self._partition_counts: dict[str, int] = {}
        # The Kafka worker applies batches in a thread while its event loop
        # handles rebalances: reloading positions waits for the batch in flight.
        self._lock = threading.RLock()
        # How many records to read per partition so that a batch holds about
        # ``batch_size`` events: a record may carry one event or hundreds, so
        # the first read takes one and the next ones follow what it carried.
        # (Reading many records blind once put a whole backlog, 100k events,
        # into one transaction, and nothing flowed downstream until its end.)
        self._read_size = 1
        # Bytes per event in the last batch: what bounds the next one.
        self._event_bytes = 1024

    @property
    def topic(self) -> str:
        return self.processor.source_topic

    def positions(self) -> dict[int, int]:
        """Next offset per partition, as stored with the processor's state."""
        if self._positions is None:
            with self.engine.connect() as connection:
                self._positions = load_positions(connection, self.processor.name, self.topic)
        return self._positions

    def lag(self) -> dict[int, int]:
        positions = self.positions()
        return {p: end - positions.get(p, 0) for p, end in self.log.end_offsets(self.topic).items()}

    def apply(self, tp: TopicPartition, records: Sequence[StoredRecord]) -> int:
        """Records pushed by a consumer (the Kafka worker): those the database
        already holds (offset below the stored position) are skipped, so a
        redelivery after a rebalance or restart changes nothing."""
        with self._lock:
            return self._apply(tp, records)

    def reload_positions(self) -> dict[int, int]:
        """Positions as the database has them now, once any batch in flight is done."""
        with self._lock:
            self.forget()
            return dict(self.positions())

    def _apply(self, tp: TopicPartition, records: Sequence[StoredRecord]) -> int:
        position = self.positions().get(tp.partition, 0)
        fresh = [record for record in records if record.offset >= position]
        if not fresh:
            return 0
        applied = 0
        # The consumer may start past the stored position (its own committed
        # offset is ahead of a restored or rebuilt database): read the gap
        # from the log first, or those records would never be applied.
        while position < fresh[0].offset:
            missing = self.log.read(tp, position, min(self.batch_size, fresh[0].offset - position))
            if not missing:
                raise LogError(
                    f"{tp.topic}[{tp.partition}] has no records {position}..{fresh[0].offset}"
                )
            log.warning(
                "filling a gap from the log",
                processor=self.processor.name,
                partition=tp.partition,
                start=position,
                records=len(missing),
            )
            self._run([(tp, missing)])
            applied += len(missing)
            position = missing[-1].offset + 1
        self._run([(tp, fresh)])
        return applied + len(fresh)

    def step(self) -> int:
        """One batch from every partition with records waiting, committed in
        one transaction (the per-transaction cost, a commit and the
        processor's own set-up, is paid once for all of them); how many
        records were consumed."""
        reads = []
        for partition in range(self.log.partitions(self.topic)):
            tp = TopicPartition(self.topic, partition)
            records = self._read(tp, self.positions().get(partition, 0))
            if records:
                reads.append((tp, records))
        if not reads:
            return 0
        batch = self._within_budget(reads)
        taken = self.stats.taken
        self._run(batch)
        consumed = sum(len(records) for _, records in batch)
        events = max(1, self.stats.taken - taken)
        # Read so that the next transaction holds about ``batch_size`` events:
        # a record may carry one event or hundreds.
        per_record = max(1, events // consumed)
        self._read_size = max(1, self.batch_size // (per_record * len(batch)))
        read_bytes = sum(len(record.value) for _, records in batch for record in records)
        self._event_bytes = max(1, read_bytes // events)
        return consumed

    def _read(self, tp: TopicPartition, position: int) -> list[StoredRecord]:
        try:
            return self.log.read(tp, position, self._read_size)
        except OffsetOutOfRange as error:
            # Not transient: retrying would loop forever on records that are
            # gone, and skipping to the log's start would lose them unseen.
            raise ProcessorStopped(
                f"{self.processor.name} stored position {position} on {tp.topic}"
                f"[{tp.partition}], but the log no longer holds it ({error}). Its store"
                " is older than the log: restored from a backup, new, or reset."
                " README, 'Retention: the interactions are a hand-off', says what"
                " to do"
            ) from None

    def _within_budget(self, reads: _Reads) -> _Reads:
        """At most about ``batch_size`` events' worth of bytes, shared by the
        partitions, at least one record each: the read size follows the
        records of the batch before, and when single-event records (campaign
        launches) come before packed ones it once read 100 times too much,
        half a million events in one transaction."""
        share = self.batch_size * self._event_bytes // len(reads)
        kept = []
        for tp, records in reads:
            used = 0
            end = 0
            for record in records:
                if end and used + len(record.value) > share:
                    break
                used += len(record.value)
                end += 1
            kept.append((tp, records[:end]))
        return kept

    def _run(self, reads: _Reads) -> None:
        """Partitions' batches in one transaction. On a data error, several
        partitions are tried each on its own, and one partition one event at
        a time, so the event that fails again is dead-lettered alone."""
        records = [record for _, part in reads for record in part]
        offsets = {tp: part[-1].offset + 1 for tp, part in reads}
        try:
            self._commit(offsets, self._decode(records))
        except _TRANSIENT as error:
            raise self._retry_later(reads, error) from error
        except _APPLY_ERRORS as error:
            self.forget()
            log.warning(
                "batch failed, retrying it in parts",
                processor=self.processor.name,
                partitions=[tp.partition for tp, _ in reads],
                error=str(error),
            )
            if len(reads) > 1:
                for read in reads:
                    self._run([read])
            else:
                self._run_singly(*reads[0])
        except Exception as error:
            self.forget()
            raise self._stopped(reads, error) from error

    def _retry_later(self, reads: _Reads, error: Exception) -> RetryLater:
        """The batch is rolled back and kept: the caller backs off and tries it again."""
        self.forget()
        self.stats.retries += 1
        if isinstance(error, RetryLater):
            return error
        return RetryLater(
            f"{self.processor.name} on {_where(reads)}: {type(error).__name__}: {error}"
        )

    def _stopped(self, reads: _Reads, error: Exception) -> ProcessorStopped:
        return ProcessorStopped(
            f"{self.processor.name} stopped on {_where(reads)}: {type(error).__name__}: {error} "
            "(a fault in the processor; nothing of the batch was committed, "
            "so it is applied once the fault is fixed and the runner restarted)"
        )

    def _run_singly(self, tp: TopicPartition, records: Sequence[StoredRecord]) -> None:
        """Isolate the event that fails: it goes to the dead letters, the rest apply.

        Inside a record that carries several events, each is committed on its
        own and the position moves past the record only with its last event:
        a crash in between replays the record, and event ids make that harmless.
        """
        for record in records:
            decoded = self._decode([record])
            units = [
                Batch([event], [origin], [])
                for event, origin in zip(decoded.events, decoded.origins, strict=True)
            ] or [Batch.empty()]
            units[0].dead.extend(decoded.dead)
            for number, unit in enumerate(units):
                next_offset = record.offset + 1 if number == len(units) - 1 else record.offset
                try:
                    self._commit({tp: next_offset}, unit)
                except _TRANSIENT as error:
                    raise self._retry_later([(tp, [record])], error) from error
                except _APPLY_ERRORS as error:
                    self.forget()
                    reason = f"{self.processor.name} failed: {type(error).__name__}: {error}"
                    letters = [self._letter(origin, reason, "failed") for origin in unit.origins]
                    self._commit({tp: next_offset}, Batch([], [], letters))
                except Exception as error:
                    self.forget()
                    raise self._stopped([(tp, [record])], error) from error

    def _decode(self, records: Sequence[StoredRecord]) -> Batch:
        read = self.processor.reads.reader(self.codec)
        return read_records(records, self.codec, read, self.processor.name)

    def _commit(self, offsets: dict[TopicPartition, int], batch: Batch) -> None:
        with self.engine.begin() as connection:
            outcome = self._process(connection, batch.events)
            rejected = self._rejections(batch, outcome)
            boxed = self._append(connection, outcome, batch.dead + rejected)
            self._keep_timers(connection, outcome)
            save_positions(connection, self.processor.name, offsets)
        positions = self.positions()
        for tp, next_offset in offsets.items():
            positions[tp.partition] = next_offset
        self.stats.batches += 1
        self.stats.processed += len(batch.events)
        self.stats.dead_lettered += len(batch.dead) + len(rejected)
        conflicts = sum(1 for item in outcome.rejected if item.code == CONFLICTING_DUPLICATE)
        if conflicts:
            self.stats.conflicts += conflicts
            log.warning("conflicting duplicates", processor=self.processor.name, count=conflicts)
        self.stats.emitted += len(outcome.emitted)
        if boxed:
            self._relay_committed(boxed)

    def _process(self, connection: Connection, events: list[Any]) -> Outcome:
        if not events:
            return Outcome.nothing()
        try:
            return self.processor.process(connection, events)
        except BaseException:
            self.processor.rolled_back()
            raise

    def _rejections(self, batch: Batch, outcome: Outcome) -> list[Record]:
        if not outcome.rejected:
            return []
        origin = {event.id: where for event, where in zip(batch.events, batch.origins, strict=True)}
        return [
            self._letter(origin[item.event.id], item.reason, item.code, item.details)
            for item in outcome.rejected
        ]

    def _letter(
        self, origin: Origin, reason: str, code: str, details: tuple[tuple[str, str], ...] = ()
    ) -> Record:
        """A dead letter holding the event's bytes as read."""
        record, index, data = origin
        item = None if index is None else (index, data)
        return dead_letter(
            record, reason, self.processor.name, item=item, code=code, details=details
        )

    def _append(self, connection: Connection, outcome: Outcome, dead: list[Record]) -> set[int]:
        """Append what the batch emitted, except for relayed topics: their
        records go to the outbox in the batch's transaction. The partitions
        given to the outbox."""
        by_topic: dict[str, list[tuple[Envelope | EnvelopeHead, bytes]]] = defaultdict(list)
        everywhere: list[tuple[str, Record]] = []
        for emit in outcome.emitted:
            if emit.everywhere:
                value = self.codec.encode(emit.event)
                everywhere.extend(
                    (emit.topic, Record(value=value, key=emit.key, partition=partition))
                    for partition in range(self._partitions_of(emit.topic))
                )
            else:
                by_topic[emit.topic].append((emit.event, emit.key))
        records: dict[str, list[Record]] = defaultdict(list)
        for topic, record in everywhere:
            records[topic].append(record)
        for topic, items in by_topic.items():
            policy = policy_for(self.packing, topic)
            packed = pack(self.codec, items, self._partitions_of(topic), policy)
            records[topic].extend(record for _, record in packed)
        if dead:
            records[self.dead_letter_topic].extend(dead)
        boxed: set[int] = set()
        for topic, batch in records.items():
            if topic in self.relay.topics:
                rows = [(self._partition_of(topic, r), r.key, r.value) for r in batch]
                outbox.enqueue(connection, topic, rows)
                boxed.update(partition for partition, _, _ in rows)
            else:
                self.log.append(topic, batch)
        return boxed

    def _partition_of(self, topic: str, record: Record) -> int:
        if record.partition is not None:
            return record.partition
        if record.key is None:
            raise ValueError(f"a record for {topic!r} needs a key or a partition")
        return partition_for_key(record.key, self._partitions_of(topic))

    def _relay_committed(self, partitions: set[int]) -> None:
        """Relay what the batch just committed to the outbox. Whatever goes
        wrong, the batch stands (it is committed, and must not be applied
        twice): the rows wait for :meth:`relay_waiting`, which retries an
        outage and stops the runner on a fault, with its message."""
        try:
            self.relay.run(partitions)
        except Exception as error:  # the batch stands whatever happens: see the docstring
            log.warning(
                "outbox not relayed yet, trying again later",
                processor=self.processor.name,
                error=f"{type(error).__name__}: {error}",
            )

    def relay_waiting(self) -> int:
        """Relay every outbox row still waiting (after a failed relay, a
        crash, or another worker's batch); how many records were appended."""
        if not self.relay.topics:
            return 0
        with self._lock:
            try:
                return self.relay.run()
            except _TRANSIENT as error:
                self.stats.retries += 1
                raise RetryLater(
                    f"{self.processor.name} could not relay its outbox: "
                    f"{type(error).__name__}: {error}"
                ) from error

    def _keep_timers(self, connection: Connection, outcome: Outcome) -> None:
        if not outcome.timers:
            return
        last: dict[str, Timer | CancelTimer] = {}
        for decision in outcome.timers:
            last[decision.name] = decision  # the last word on a name stands
        cancel = [name for name, decision in last.items() if isinstance(decision, CancelTimer)]
        cancel_timers(connection, self.processor.name, cancel)
        due = [self._stored(t) for t in last.values() if isinstance(t, Timer)]
        set_timers(connection, self.processor.name, due)

    def _stored(self, timer: Timer) -> StoredTimer:
        event = timer.event
        if event.recorded_at is None:
            # The due time, not the clock: every firing must carry the same bytes.
            event = msgspec.structs.replace(event, recorded_at=timer.due_at)
        return StoredTimer(
            timer.name, to_us(timer.due_at), timer.topic, timer.key, self.codec.encode(event)
        )

    def pending(self) -> int:
        """Timers due now and outbox rows not yet relayed: what the runner
        will append without reading anything more (a lag of 0 is not idle)."""
        with self.engine.connect() as connection:
            due = count_due(connection, self.processor.name, to_us(self.clock.now()))
            boxed = sum(outbox.waiting(connection, topic) for topic in self.relay.topics)
        return due + boxed

    def fire_due(self) -> int:
        """Append the timers due by the clock; how many fired.

        The append happens before the commit that deletes them, as with
        emits: a crash in between fires them again, with the same event ids.
        """
        now_us = to_us(self.clock.now())
        with self._lock:
            try:
                with self.engine.begin() as connection:
                    due = take_due(connection, self.processor.name, now_us, self.batch_size)
                    by_topic: dict[str, list[Record]] = defaultdict(list)
                    for timer in due:
                        by_topic[timer.topic].append(
                            Record(value=timer.event, key=timer.record_key)
                        )
                    for topic, records in by_topic.items():
                        self.log.append(topic, records)
            except _TRANSIENT as error:
                self.stats.retries += 1
                raise RetryLater(
                    f"{self.processor.name} could not fire its timers: "
                    f"{type(error).__name__}: {error}"
                ) from error
        self.stats.timers_fired += len(due)
        return len(due)

    def _partitions_of(self, topic: str) -> int:
        count = self._partition_counts.get(topic)
        if count is None:
            count = self._partition_counts[topic] = self.log.partitions(topic)
        return count

    def forget(self) -> None:
        """Drop cached state: the database is the truth after a failure, and
        after a rebalance (another worker may have moved the positions)."""
        self._positions = None
        self.processor.rolled_back()
