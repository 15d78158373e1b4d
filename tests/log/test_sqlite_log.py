"""What the embedded engine adds to the contract: a file that outlives processes.

Durability across reopening, concurrent writers in separate processes, and a
reader that races a writer.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from touchline.log import LogError, OffsetOutOfRange, Record, TopicPartition, sqlite
from touchline.log.registry import open_log
from touchline.log.sqlite import SqliteLog


def test_records_and_positions_survive_close_and_reopen(tmp_path: Path) -> None:
    """A reopened log has every topic, record and group position, and appends after them."""
    path = tmp_path / "log.db"
    with SqliteLog(path) as log:
        log.create_topic("t", 2)
        first = log.append("t", [Record(b"v", key=b"k", headers=(("h", b"1"),))])
        log.commit("g", {TopicPartition("t", first[0].partition): 1})
    with SqliteLog(path) as log:
        assert log.partitions("t") == 2
        [stored] = log.read(TopicPartition("t", first[0].partition), 0, 10)
        assert (stored.key, stored.value, stored.headers) == (b"k", b"v", (("h", b"1"),))
        assert log.committed("g", "t") == {first[0].partition: 1}
        assert log.append("t", [Record(b"w", key=b"k")]) == [first[0]._replace(offset=1)]


_RECORDS_WITHOUT_ROWID = (
    sqlite._RECORDS.removesuffix("\n)")
    + ',\n    PRIMARY KEY (topic_id, "partition", "offset")\n) WITHOUT ROWID'
)
"""The records table as files written before 2026-12-03 have it."""


def _records_table(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'records'").fetchone()
    conn.close()
    return str(row[0])


def test_a_file_with_the_old_records_table_is_moved_over_whole(tmp_path: Path) -> None:
    """A log written when records lived in their position's b-tree opens with
    every record, group position and start offset where it was, and appends
    after them; the records have their rowid table from then on."""
    path = tmp_path / "log.db"
    with SqliteLog(path) as log:
        log.create_topic("t", 2)
        written = log.append("t", [Record(f"v{n}".encode(), key=b"k") for n in range(5)])
        written += log.append("t", [Record(b"h", key=b"k", headers=(("h", b"1"),))])
        log.commit("g", {TopicPartition("t", written[0].partition): 3})
        log.delete_records("t", {written[0].partition: 1})
    partition = written[0].partition
    # Rewrite the file's records table in the old layout, the rows unchanged.
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("BEGIN")
        conn.execute("ALTER TABLE records RENAME TO new_layout")
        conn.execute(_RECORDS_WITHOUT_ROWID)
        conn.execute("INSERT INTO records SELECT * FROM new_layout")
        conn.execute("DROP TABLE new_layout")
        conn.execute("COMMIT")
    conn.close()
    assert "WITHOUT ROWID" in _records_table(path)
    with SqliteLog(path) as log:
        stored = log.read(TopicPartition("t", partition), 1, 10)
        assert [record.offset for record in stored] == [1, 2, 3, 4, 5]
        assert [record.value for record in stored] == [b"v1", b"v2", b"v3", b"v4", b"h"]
        assert stored[-1].headers == (("h", b"1"),)
        assert log.committed("g", "t") == {partition: 3}
        with pytest.raises(OffsetOutOfRange):
            log.read(TopicPartition("t", partition), 0, 10)
        assert log.end_offsets("t")[partition] == 6
        assert log.append("t", [Record(b"w", key=b"k")]) == [written[0]._replace(offset=6)]
    assert "WITHOUT ROWID" not in _records_table(path)
    with SqliteLog(path) as log:  # opened again: nothing left to move
        assert [r.value for r in log.read(TopicPartition("t", partition), 5, 10)] == [b"h", b"w"]


def test_positions_are_found_in_the_small_index_not_among_the_values(tmp_path: Path) -> None:
    """The end of a partition and a read's start come from the index on
    (topic, partition, offset), whose entries hold no record value: seeking
    through values of tens of KB read their overflow pages at every step."""
    with SqliteLog(tmp_path / "log.db") as log:
        log.create_topic("t", 2)
    with sqlite3.connect(tmp_path / "log.db") as conn:
        for sql, args in ((sqlite._END_OFFSET, (1, 0)), (sqlite._READ, (1, 0, 0, 10))):
            plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
            assert "SEARCH records USING" in plan
            assert "INDEX records_position" in plan
    conn.close()


def test_creates_the_missing_parent_directory(tmp_path: Path) -> None:
    """Opening a log in a directory that does not exist yet creates the directory."""
    with SqliteLog(tmp_path / "a" / "b" / "log.db") as log:
        log.create_topic("t", 1)
    assert (tmp_path / "a" / "b" / "log.db").is_file()


def test_sqlite_failures_surface_as_log_errors(tmp_path: Path) -> None:
    """A file SQLite cannot open raises the port's LogError, not a sqlite3 error."""
    with pytest.raises(LogError, match="unable to open"):
        SqliteLog(tmp_path)  # a directory, not a database file


def test_a_closed_log_refuses_work(tmp_path: Path) -> None:
    """After close() every operation raises LogError instead of reopening silently."""
    log = SqliteLog(tmp_path / "log.db")
    log.create_topic("t", 1)
    log.close()
    log.close()  # closing twice is harmless
    with pytest.raises(LogError, match="closed"):
        log.append("t", [Record(b"v")])


def test_keyless_records_go_round_robin(tmp_path: Path) -> None:
    """Records without a key take the partitions in turn, continuing across appends."""
    with SqliteLog(tmp_path / "log.db") as log:
        log.create_topic("t", 3)
        first = log.append("t", [Record(b"a"), Record(b"b")])
        second = log.append("t", [Record(b"c"), Record(b"d")])
    assert [p.partition for p in first + second] == [0, 1, 2, 0]


def test_sqlite_urls_read_like_sqlalchemy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sqlite:///rel.db`` is relative to the working directory, ``sqlite:////abs.db`` absolute."""
    monkeypatch.chdir(tmp_path)
    with open_log("sqlite:///relative/log.db") as log:
        log.create_topic("t", 1)
    assert (tmp_path / "relative" / "log.db").is_file()
    absolute = tmp_path / "absolute.db"
    with open_log(f"sqlite:///{absolute}") as log:
        log.create_topic("t", 1)
    assert absolute.is_file()
    with pytest.raises(LogError, match="file path"):
        open_log("sqlite:///")


def test_synchronous_full_is_asked_for_in_the_url(tmp_path: Path) -> None:
    """``?synchronous=full`` fsyncs every commit (SQLite's level 2; NORMAL is
    1); any other option is refused by name rather than ignored."""
    for query, level in (("", 1), ("?synchronous=full", 2), ("?synchronous=NORMAL", 1)):
        with open_log(f"sqlite:///{tmp_path / 'log.db'}{query}") as log:
            log.create_topic("t", 1)
            assert isinstance(log, SqliteLog)
            assert log._connection().execute("PRAGMA synchronous").fetchone() == (level,)
    for bad in ("?synchronous=off", "?journal=delete"):
        with pytest.raises(LogError, match=r"only synchronous=normal\|full"):
            open_log(f"sqlite:///{tmp_path / 'log.db'}{bad}")


# A writer process: reports ready, waits for "go" so the writers overlap, then
# appends small batches and prints where each record landed. The pause between
# batches stands in for a handler's work; without it SQLite's backoff lets one
# writer run nearly all its batches while the other sleeps, and they barely mix.
_WRITER = """
import json, sys, time
from touchline.log import Record
from touchline.log.sqlite import SqliteLog

path, writer, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
with SqliteLog(path) as log:
    print("ready", flush=True)
    sys.stdin.readline()
    landed = []
    for b in range(batches):
        records = [Record(f"{writer}-{b}-{i}".encode(), key=f"k{i}".encode()) for i in range(5)]
        positions = log.append("t", records)
        landed += [[r.value.decode(), p, o] for r, (p, o) in zip(records, positions)]
        time.sleep(0.0005)
print(json.dumps(landed))
"""


@pytest.mark.slow
def test_two_processes_appending_get_dense_unique_offsets(tmp_path: Path) -> None:
    """Concurrent writers in two processes never share or skip an offset, and lose nothing."""
    path = tmp_path / "log.db"
    with SqliteLog(path) as log:
        log.create_topic("t", 3)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), name, "150"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    reported: list[tuple[str, int, int]] = []
    for writer in writers:
        out, _ = writer.communicate(timeout=60)
        assert writer.returncode == 0
        reported += [(value, p, o) for value, p, o in json.loads(out)]

    with SqliteLog(path) as log:
        stored = {
            (r.partition, r.offset): r.value.decode()
            for p in range(3)
            for r in log.read(TopicPartition("t", p), 0, 10_000)
        }
        ends = log.end_offsets("t")
    # Dense from 0 in every partition, and 2 writers x 150 batches x 5 records.
    assert sorted(stored) == sorted((p, o) for p, end in ends.items() for o in range(end))
    assert len(stored) == 1_500
    # Each record is stored once, exactly where its writer was told it landed.
    assert sorted(stored.values()) == sorted(value for value, _, _ in reported)
    assert all(stored[(p, o)] == value for value, p, o in reported)
    # And the writers did contend: partition 0 switches writer many times.
    writers_in_order = [stored[(0, o)][0] for o in range(ends[0])]
    assert sum(a != b for a, b in itertools.pairwise(writers_in_order)) > 10


def test_a_reader_racing_a_writer_sees_a_growing_prefix(tmp_path: Path) -> None:
    """A reader polling while another thread appends never sees a gap or a record vanish."""
    log = SqliteLog(tmp_path / "log.db")
    log.create_topic("t", 1)
    tp = TopicPartition("t", 0)
    batches, size, checkpoints = 200, 10, 4
    done = threading.Event()
    caught_up = threading.Condition()
    seen: list[int] = []
    ends: list[int] = []

    def has_read(count: int) -> bool:
        return len(seen) >= count

    def write() -> None:
        for b in range(batches):
            log.append("t", [Record(f"{b}-{i}".encode()) for i in range(size)])
            # Between checkpoints the two threads race freely; at each one the
            # writer waits for the reader to see what it wrote, so the reader
            # provably ran mid-stream rather than only when the scheduler let it.
            if (b + 1) % (batches // checkpoints) == 0 and b + 1 < batches:
                with caught_up:
                    caught_up.wait_for(functools.partial(has_read, (b + 1) * size), timeout=30)
        done.set()

    def read() -> None:
        while True:
            finished = done.is_set()
            ends.append(log.end_offsets("t")[0])
            seen.extend(r.offset for r in log.read(tp, len(seen), 64))
            with caught_up:
                caught_up.notify_all()
            if finished and len(seen) >= batches * size:
                return

    threads = [threading.Thread(target=f, daemon=True) for f in (write, read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    log.close()
    assert seen == list(range(batches * size))  # every offset once, in order, no gap
    assert ends == sorted(ends)  # the end only moves forward
    # The reader did run while the writer wrote: it saw ends short of the last one.
    assert len({end for end in ends if 0 < end < batches * size}) >= checkpoints - 1


# -- retention ----------------------------------------------------------------


def test_deleted_records_move_the_start_and_a_read_below_it_raises(tmp_path: Path) -> None:
    """Deleting below an offset moves that partition's start there; a read from
    below it raises instead of answering from later on; the end stays."""
    with SqliteLog(tmp_path / "log.db") as log:
        log.create_topic("t", 2)
        log.append("t", [Record(str(i).encode(), partition=0) for i in range(6)])
        assert log.delete_records("t", {0: 4}) == {0: 4}
        assert log.start_offsets("t") == {0: 4, 1: 0}
        assert log.end_offsets("t") == {0: 6, 1: 0}
        tp = TopicPartition("t", 0)
        assert [r.value for r in log.read(tp, 4, 10)] == [b"4", b"5"]
        with pytest.raises(OffsetOutOfRange, match=r"offset 3 of 't'\[0\]"):
            log.read(tp, 3, 10)
        assert log.delete_records("t", {0: 2}) == {0: 4}  # never moves back


def test_a_partition_emptied_by_a_deletion_keeps_its_offsets(tmp_path: Path) -> None:
    """Deleting every record keeps the end; appends go on from it, across a reopen."""
    path = tmp_path / "log.db"
    with SqliteLog(path) as log:
        log.create_topic("t", 1)
        log.append("t", [Record(b"a"), Record(b"b")])
        log.delete_records("t", {0: 2})
        assert log.start_offsets("t") == log.end_offsets("t") == {0: 2}
        with pytest.raises(OffsetOutOfRange):
            log.read(TopicPartition("t", 0), 0, 10)
        assert log.read(TopicPartition("t", 0), 2, 10) == []
    with SqliteLog(path) as reopened:
        assert reopened.append("t", [Record(b"c")])[0].offset == 2
        assert reopened.start_offsets("t") == {0: 2}


def test_deleting_past_the_end_is_refused(tmp_path: Path) -> None:
    """An offset past the partition's end deletes nothing and names the end."""
    with SqliteLog(tmp_path / "log.db") as log:
        log.create_topic("t", 1)
        log.append("t", [Record(b"a")])
        with pytest.raises(LogError, match="its end is 1"):
            log.delete_records("t", {0: 2})
        assert log.start_offsets("t") == {0: 0}
