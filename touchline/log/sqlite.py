"""The embedded log engine: a durable, Kafka-shaped log in one SQLite file.

Topics, partitions placed by key hash, dense offsets from 0, and consumer-group
positions, so the handlers run unchanged on one machine. It is the hot path of
the single-machine runtime, so it talks to ``sqlite3`` directly: an append is one
``executemany`` in one transaction, a read is one indexed range query.

Several processes and threads may read and write the same file at once. WAL
mode lets readers run beside the writer; writers serialise on ``BEGIN
IMMEDIATE`` (the write lock is taken before the next offsets are read, so two
writers never hand out the same offset) and wait up to ``BUSY_TIMEOUT_MS``
for it instead of failing.

Durability: every write commits before it returns, in WAL mode with
``synchronous=NORMAL``. That survives a crash of the process (kill -9, an
exception, an OOM kill) because a committed transaction is in the WAL file
before COMMIT returns; what it gives up is the fsync on each commit, so a power
loss or kernel panic can lose the last few commits (never corrupt the file).
Surviving a process crash is what the pipeline needs; an fsync per batch would
cost more than the rest of the append. Where a power loss must lose nothing
either, ``sqlite:///path?synchronous=full`` fsyncs the WAL on every commit
(the ingest benchmark measures both).

Retention: nothing is deleted on its own. ``delete_records`` deletes a
partition's records below an offset, as Kafka's DeleteRecords does, and the
partition's start offset moves there; a read from below it raises
OffsetOutOfRange, as it does on Kafka, and offsets go on from the end.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import msgspec

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

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's write transaction to finish."""
SYNCHRONOUS = ("normal", "full")
"""SQLite's ``synchronous`` settings a log may take (WAL mode): ``full`` adds
an fsync on every commit."""

# A rowid table with a separate index on the position, not the rows in the
# position's b-tree (WITHOUT ROWID): a record's value (a packed batch, tens of
# KB) spills into overflow pages, and in an index b-tree the interior cells
# carry the row too, so every comparison on the way down read those pages: a
# seek to a partition's end took ~55 us on a day's log, four levels deep, and
# grew with the log. Here the index holds only the position and the rowid
# (~2 us a seek), and the rows go in rowid order, appended.
_RECORDS = """CREATE TABLE IF NOT EXISTS records (
    topic_id INTEGER NOT NULL REFERENCES topics (id),
    "partition" INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    headers BLOB
)"""
_RECORDS_POSITION = (
    "CREATE UNIQUE INDEX IF NOT EXISTS records_position"
    ' ON records (topic_id, "partition", "offset")'
)

# Separate statements, not one executescript(): executescript commits any open
# transaction first, and the schema is created inside a write transaction so
# that processes opening a new file at once do not race.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    partitions INTEGER NOT NULL CHECK (partitions > 0)
)""",
    _RECORDS,
    _RECORDS_POSITION,
    # A partition's start offset once records were deleted (no row: 0). Kept
    # apart from the records so that a partition emptied by a deletion still
    # knows its end: offsets never go back.
    """CREATE TABLE IF NOT EXISTS log_starts (
    topic_id INTEGER NOT NULL REFERENCES topics (id),
    "partition" INTEGER NOT NULL,
    start_offset INTEGER NOT NULL,
    PRIMARY KEY (topic_id, "partition")
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS group_offsets (
    "group" TEXT NOT NULL,
    topic_id INTEGER NOT NULL REFERENCES topics (id),
    "partition" INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY ("group", topic_id, "partition")
) WITHOUT ROWID""",
)

_COLUMNS = 'topic_id, "partition", "offset", key, value, timestamp_ms, headers'
_INSERT = f"INSERT INTO records ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_READ = (
    'SELECT "offset", key, value, timestamp_ms, headers FROM records'
    ' WHERE topic_id = ? AND "partition" = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?'
)
# Offsets are dense, so the partition's end is its last offset + 1, found by
# one descent of the position's index; or its start offset, when a deletion left
# no record.
_END_OFFSET = (
    "SELECT MAX("
    ' COALESCE((SELECT "offset" + 1 FROM records WHERE topic_id = ?1 AND "partition" = ?2'
    ' ORDER BY "offset" DESC LIMIT 1), 0),'
    ' COALESCE((SELECT start_offset FROM log_starts WHERE topic_id = ?1 AND "partition" = ?2), 0))'
)
_FIRST_OFFSET = (
    'SELECT "offset" FROM records WHERE topic_id = ? AND "partition" = ? ORDER BY "offset" LIMIT 1'
)
_STORED_START = 'SELECT start_offset FROM log_starts WHERE topic_id = ? AND "partition" = ?'


def _records_with_rowid(conn: sqlite3.Connection) -> None:
    """A file written before records had a rowid (their rows in the
    position's b-tree, ``WITHOUT ROWID``) gets the table of :data:`_RECORDS`,
    every record copied across in the caller's write transaction: all or
    nothing, and a process opening the file meanwhile waits for it and then
    finds nothing to do. The copy needs as much free disk as the records."""
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'records'"
    ).fetchone()
    if row is None or "WITHOUT ROWID" not in row[0].upper():
        return
    conn.execute("ALTER TABLE records RENAME TO records_without_rowid")
    conn.execute(_RECORDS)
    conn.execute(
        f"INSERT INTO records ({_COLUMNS}) SELECT {_COLUMNS} FROM records_without_rowid"
        ' ORDER BY topic_id, "partition", "offset"'
    )
    conn.execute("DROP TABLE records_without_rowid")


_Headers = tuple[tuple[str, bytes], ...]
_encode_headers = msgspec.msgpack.Encoder().encode
_decode_headers = msgspec.msgpack.Decoder(_Headers).decode


@contextmanager
def _as_log_error(log: SqliteLog) -> Iterator[None]:
    """Report SQLite's failures (locked past the timeout, disk full) as LogError."""
    try:
        yield
    except sqlite3.Error as error:
        raise LogError(f"{log!r}: {error}") from error


class _Topic(NamedTuple):
    id: int
    name: str
    partitions: int


class SqliteLog(Log):
    """A durable log in one SQLite file, safe across threads and processes.

    Records with a key go to ``partition_for_key(key, n)``, as on Kafka. Records
    without one are spread round robin, one partition after the other, from a
    counter kept per ``SqliteLog`` instance and topic (so two processes each
    start their own rotation; keyless records promise no order anyway).
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "normal") -> None:
        if synchronous not in SYNCHRONOUS:
            raise LogError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
        self._synchronous = synchronous.upper()
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per thread: a sqlite3 connection must not be used by
        # two threads at once. All of them are kept so close() can close them
        # (a finished thread's connection stays open until then).
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        # Topics are never dropped and never change their partition count, so
        # once seen they can be cached for the life of the instance.
        self._topics: dict[str, _Topic] = {}
        # Unlocked: two threads racing may start on the same partition, which
        # costs keyless records nothing (they promise no order).
        self._round_robin: dict[str, int] = {}
        with self._write() as conn:
            _records_with_rowid(conn)
            for statement in _SCHEMA:
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"SqliteLog({str(self._path)!r})"

    # -- the port -----------------------------------------------------------

    def create_topic(self, name: str, partitions: int) -> None:
        check_topic_spec(name, partitions)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO topics (name, partitions) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, partitions),
            )
            topic = self._load_topic(conn, name)
        if topic is None:  # pragma: no cover - the insert above guarantees it
            raise LogError(f"topic {name!r} vanished while being created")
        if topic.partitions != partitions:
            raise LogError(
                f"topic {name!r} exists with {topic.partitions} partitions, not {partitions}"
                " (the partition count never changes: keys would move)"
            )

    def partitions(self, topic: str) -> int:
        return self._topic(topic).partitions

    def append(self, topic: str, records: Sequence[Record]) -> list[Position]:
        meta = self._topic(topic)
        if not records:
            return []
        placed = self._place(meta, records)
        positions: list[Position] = []
        rows = []
        with self._write() as conn:
            # One append time for the batch, like Kafka's LogAppendTime, read
            # under the write lock so it follows the previous writer's.
            timestamp_ms = time.time_ns() // 1_000_000
            next_offsets = {p: self._end_offset(conn, meta.id, p) for p in set(placed)}
            for record, partition in zip(records, placed, strict=True):
                offset = next_offsets[partition]
                next_offsets[partition] = offset + 1
                positions.append(Position(partition, offset))
                headers = _encode_headers(record.headers) if record.headers else None
                rows.append(
                    (meta.id, partition, offset, record.key, record.value, timestamp_ms, headers)
                )
            conn.executemany(_INSERT, rows)
        return positions

    def read(self, tp: TopicPartition, offset: int, max_records: int) -> list[StoredRecord]:
        meta = self._topic(tp.topic)
        self._check_partition(meta, tp.partition)
        if offset < 0:
            raise LogError(f"cannot read {tp.topic!r}[{tp.partition}] from offset {offset}")
        if max_records < 1:
            raise LogError(f"max_records must be at least 1, not {max_records}")
        with _as_log_error(self):
            conn = self._connection()
            rows = conn.execute(_READ, (meta.id, tp.partition, offset, max_records)).fetchall()
            # Offsets are dense: a first record past ``offset`` means the ones
            # before it were deleted; no record at all, that they may have been.
            if (rows and rows[0][0] > offset) or (
                not rows and offset < self._stored_start(conn, meta.id, tp.partition)
            ):
                raise OffsetOutOfRange(
                    f"{self!r}: offset {offset} of {tp.topic!r}[{tp.partition}] is no longer"
                    " retained (records before it were deleted)"
                )
            return [
                StoredRecord(
                    tp.topic,
                    tp.partition,
                    row_offset,
                    key,
                    value,
                    timestamp_ms,
                    _decode_headers(headers) if headers is not None else (),
                )
                for row_offset, key, value, timestamp_ms, headers in rows
            ]

    def start_offsets(self, topic: str) -> dict[int, int]:
        meta = self._topic(topic)
        starts = {}
        with self._snapshot() as conn:
            for p in range(meta.partitions):
                first = conn.execute(_FIRST_OFFSET, (meta.id, p)).fetchone()
                starts[p] = int(first[0]) if first else self._end_offset(conn, meta.id, p)
        return starts

    def end_offsets(self, topic: str) -> dict[int, int]:
        meta = self._topic(topic)
        with self._snapshot() as conn:
            return {p: self._end_offset(conn, meta.id, p) for p in range(meta.partitions)}

    # -- retention ----------------------------------------------------------

    def delete_records(self, topic: str, before: Mapping[int, int]) -> dict[int, int]:
        """Delete each named partition's records below its offset (at most
        its end), as Kafka's DeleteRecords does; the new start offsets.

        Not part of the port: on Kafka, retention is the broker's
        (``retention.ms``, or ``kafka-delete-records.sh``).
        """
        meta = self._topic(topic)
        for partition, offset in before.items():
            self._check_partition(meta, partition)
            if offset < 0:
                raise LogError(f"cannot delete {topic!r}[{partition}] below offset {offset}")
        starts = {}
        with self._write() as conn:
            for partition, offset in sorted(before.items()):
                end = self._end_offset(conn, meta.id, partition)
                if offset > end:
                    raise LogError(
                        f"cannot delete {topic!r}[{partition}] below offset {offset}:"
                        f" its end is {end}"
                    )
                conn.execute(
                    'DELETE FROM records WHERE topic_id = ? AND "partition" = ? AND "offset" < ?',
                    (meta.id, partition, offset),
                )
                conn.execute(
                    'INSERT INTO log_starts (topic_id, "partition", start_offset) VALUES (?, ?, ?)'
                    ' ON CONFLICT (topic_id, "partition")'
                    " DO UPDATE SET start_offset = MAX(start_offset, excluded.start_offset)",
                    (meta.id, partition, offset),
                )
                starts[partition] = self._stored_start(conn, meta.id, partition)
        return starts

    def commit(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        rows = []
        for tp, next_offset in offsets.items():
            meta = self._topic(tp.topic)
            self._check_partition(meta, tp.partition)
            if next_offset < 0:
                raise LogError(
                    f"cannot commit offset {next_offset} for {tp.topic!r}[{tp.partition}]"
                )
            rows.append((group, meta.id, tp.partition, next_offset))
        if not rows:
            return
        with self._write() as conn:
            conn.executemany(
                'INSERT INTO group_offsets ("group", topic_id, "partition", next_offset)'
                " VALUES (?, ?, ?, ?)"
                ' ON CONFLICT ("group", topic_id, "partition")'
                " DO UPDATE SET next_offset = excluded.next_offset",
                rows,
            )

    def committed(self, group: str, topic: str) -> dict[int, int]:
        meta = self._topic(topic)
        with _as_log_error(self):
            rows = self._connection().execute(
                'SELECT "partition", next_offset FROM group_offsets'
                ' WHERE "group" = ? AND topic_id = ? ORDER BY "partition"',
                (group, meta.id),
            )
            return dict(rows)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    # -- helpers ------------------------------------------------------------

    def _place(self, meta: _Topic, records: Sequence[Record]) -> list[int]:
        """The partition of each record, by the rule every engine shares."""
        placed, self._round_robin[meta.name] = place(
            meta.name, meta.partitions, records, self._round_robin.get(meta.name, 0)
        )
        return placed

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            with _as_log_error(self):
                topic = self._load_topic(self._connection(), name)
            if topic is None:
                raise UnknownTopicError(f"unknown topic {name!r}")
        return topic

    def _load_topic(self, conn: sqlite3.Connection, name: str) -> _Topic | None:
        row = conn.execute("SELECT id, partitions FROM topics WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        topic = _Topic(row[0], name, row[1])
        self._topics[name] = topic
        return topic

    @staticmethod
    def _check_partition(meta: _Topic, partition: int) -> None:
        if not 0 <= partition < meta.partitions:
            raise LogError(
                f"topic {meta.name!r} has {meta.partitions} partitions; no partition {partition}"
            )

    @staticmethod
    def _end_offset(conn: sqlite3.Connection, topic_id: int, partition: int) -> int:
        return int(conn.execute(_END_OFFSET, (topic_id, partition)).fetchone()[0])

    @staticmethod
    def _stored_start(conn: sqlite3.Connection, topic_id: int, partition: int) -> int:
        row = conn.execute(_STORED_START, (topic_id, partition)).fetchone()
        return 0 if row is None else int(row[0])

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not self._closed:
            return conn
        with self._lock:
            if self._closed:
                raise LogError(f"{self!r} is closed")
            # isolation_level=None: the module opens no transactions of its
            # own; _write and _snapshot say exactly where each one begins.
            # check_same_thread=False only so close() may close it from any
            # thread; it is otherwise used by its own thread alone.
            with _as_log_error(self):
                conn = sqlite3.connect(
                    self._path,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                )
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute(f"PRAGMA synchronous = {self._synchronous}")
                except BaseException:
                    conn.close()
                    raise
            self._connections.append(conn)
            self._local.conn = conn
            return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database's write lock from its start."""
        conn = self._connection()
        with _as_log_error(self):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several queries see one consistent state."""
        conn = self._connection()
        with _as_log_error(self):
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
