"""Identity resolution against a large graph: events/s with 1M identifiers stored.

The graph is seeded with plain bulk inserts (going through the resolver would
take longer than the measurement), then copied for every run so each run
starts from the same graph. A run feeds batches of touchpoints to a brand-new
:class:`IdentityResolver` (an empty cache, as after a restart), one database
transaction per batch as the runner does, and times ``process`` plus the
commit. Decoding is not included: the resolver is handed what the runner
would read from the log (each event's head and bytes), made beforehand.

The mix: ~70% events for people already in the graph (random, so mostly cache
misses), ~25% for new people, ~5% carrying identifiers of two existing
customers (each one merge).
"""

from __future__ import annotations

import cProfile
import gc
import io
import logging
import os
import pstats
import random
import shutil
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from touchline.events import (
    CATALOGUE,
    Envelope,
    EnvelopeHead,
    EventCodec,
    Identities,
    Payload,
    new_event,
)
from touchline.events.call import InboundCallEnded
from touchline.events.email import EmailOpened
from touchline.events.identity import CustomerIdentified, CustomerMerged
from touchline.events.keys import identity_keys
from touchline.events.web import FormSubmitted, PageViewed
from touchline.handlers.identity import IdentityResolver
from touchline.logs import configure_logging
from touchline.processing.port import HEADS_WITH_BYTES, Received
from touchline.store.engine import make_engine
from touchline.store.migrate import upgrade
from touchline.store.tables import customers, identifiers
from touchline.store.writes import bulk_insert_ignoring_duplicates

BATCH = 2_000
CODEC = EventCodec(CATALOGUE)
Fed = Sequence[Sequence[Received[EnvelopeHead]]]
"""Batches as the runner hands them to the resolver."""
_SEED_CHUNK = 50_000
_START = datetime(2026, 11, 20, tzinfo=UTC)


# --- scratch databases ---------------------------------------------------------------


class Scratch:
    """Databases for one benchmark, all removed at the end: SQLite files in a
    temporary directory, or databases created on the PostgreSQL server named."""

    def __init__(self, server_url: str | None, label: str, directory: Path) -> None:
        self._server = server_url
        self._label = f"bench_{label}_{os.getpid()}"
        self._directory = directory
        self._created: list[str] = []
        self.kind = "sqlite" if server_url is None else "postgresql"

    def url(self, name: str) -> str:
        if self._server is None:
            return f"sqlite:///{self._directory / name}.db"
        parsed = make_url(self._server).set(database=f"{self._label}_{name}")
        return parsed.render_as_string(hide_password=False)

    def create(self, name: str) -> str:
        """An empty database migrated to the current schema."""
        self._admin(name, f'CREATE DATABASE "{self._label}_{name}"')
        engine = make_engine(self.url(name))
        upgrade(engine)
        engine.dispose()
        return self.url(name)

    def copy(self, source: str, name: str) -> str:
        """A copy of ``source`` (whose engines must all be disposed)."""
        if self._server is None:
            shutil.copyfile(self._directory / f"{source}.db", self._directory / f"{name}.db")
        else:
            template = f"{self._label}_{source}"
            self._admin(name, f'CREATE DATABASE "{self._label}_{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop(self, name: str) -> None:
        if self._server is None:
            for suffix in (".db", ".db-wal", ".db-shm"):
                (self._directory / f"{name}{suffix}").unlink(missing_ok=True)
        else:
            self._admin(None, f'DROP DATABASE IF EXISTS "{self._label}_{name}" WITH (FORCE)')
            if name in self._created:
                self._created.remove(name)

    def close(self) -> None:
        for name in reversed(self._created):
            self.drop(name)

    def _admin(self, created: str | None, statement: str) -> None:
        if self._server is None:
            return
        engine = make_engine(self._server).execution_options(isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.engine.dispose()
        if created is not None:
            self._created.append(created)


@contextmanager
def scratch(server_url: str | None, label: str) -> Iterator[Scratch]:
    with tempfile.TemporaryDirectory(prefix=f"touchline-bench-{label}-") as directory:
        databases = Scratch(server_url, label, Path(directory))
        try:
            yield databases
        finally:
            databases.close()


def sqlite_checkpoint(engine: Engine) -> None:
    """Fold the WAL into the main file, so copying that file copies everything."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


# --- the seeded graph ----------------------------------------------------------------


def customer_id(n: int) -> str:
    """Shaped like the resolver's ids (``cus_`` + a UUIDv7's hex), ascending with ``n``."""
    return f"cus_0190{n:012x}7{n * 2654435761 % 16**15:015x}"


def email(n: int) -> str:
    return f"p{n:08d}@example.com"


def phone(n: int) -> str:
    return f"+1{2_000_000_000 + n}"  # E.164, as the edge normalises phones


def web_id(n: int) -> str:
    return f"web-{n:08d}"


def crm_id(n: int) -> str:
    return f"CRM-{n:08d}"


def seed_graph(url: str, people: int) -> float:
    """``people`` customers with four identifiers each, in plain inserts; seconds taken."""
    started = time.perf_counter()
    engine = make_engine(url)
    # Rows go in key order per table and per kind, so the B-trees mostly append.
    created = int((_START - timedelta(days=365)).timestamp() * 1_000_000)
    for start in range(0, people, _SEED_CHUNK):
        stop = min(start + _SEED_CHUNK, people)
        rows = [
            {
                "customer_id": customer_id(n),
                "created_at_us": created + n,
                "created_by_event": str(UUID(int=n + 1)),
                "merged_into": None,
                "root_id": customer_id(n),
            }
            for n in range(start, stop)
        ]
        with engine.begin() as connection:
            bulk_insert_ignoring_duplicates(connection, customers, rows)
    for kind, value in (("crm_id", crm_id), ("email", email), ("phone", phone), ("web_id", web_id)):
        for start in range(0, people, _SEED_CHUNK):
            stop = min(start + _SEED_CHUNK, people)
            rows = [
                {
                    "kind": kind,
                    "value": value(n),
                    "customer_id": customer_id(n),
                    "node_id": customer_id(n),
                    "linked_by_event": str(UUID(int=n + 1)),
                }
                for n in range(start, stop)
            ]
            with engine.begin() as connection:
                bulk_insert_ignoring_duplicates(connection, identifiers, rows)
    if engine.dialect.name == "postgresql":
        # Fresh tables have no statistics yet; the planner needs them to use the indexes.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE customers")
            connection.exec_driver_sql("VACUUM ANALYZE identifiers")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    sqlite_checkpoint(engine)
    return time.perf_counter() - started


def graph_size(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        people = connection.execute(select(func.count()).select_from(customers)).scalar_one()
        ids = connection.execute(select(func.count()).select_from(identifiers)).scalar_one()
    sqlite_checkpoint(engine)
    return people, ids


# --- the touchpoints -----------------------------------------------------------------


def touchpoints(
    people: int, batches: int, seed: int, *, known: float = 0.70, merging: float = 0.05
) -> list[list[Envelope]]:
    """``batches`` batches of the mix: ``known`` existing people, ``merging``
    events tying two existing customers, the rest new people."""
    rnd = random.Random(seed)
    newcomer = 100_000_000  # beyond any seeded n: identifiers the graph has not seen
    out: list[list[Envelope]] = []
    at = _START
    for b in range(batches):
        batch: list[Envelope] = []
        for i in range(BATCH):
            at += timedelta(milliseconds=50)
            draw = rnd.random()
            payload: Payload
            if draw < known:
                n = rnd.randrange(people)
                shape = rnd.random()
                if shape < 0.35:
                    payload, ids = EmailOpened(message_id=f"m-{b}-{i}"), Identities(email=email(n))
                elif shape < 0.65:
                    payload = PageViewed(url="https://shop.example.com/trail")
                    ids = Identities(web_id=web_id(n))
                elif shape < 0.80:
                    payload = InboundCallEnded(call_id=f"c-{b}-{i}", duration_seconds=120)
                    ids = Identities(phone=phone(n))
                elif shape < 0.90:
                    payload = CustomerIdentified(method="login")
                    ids = Identities(email=email(n), web_id=web_id(n))
                else:
                    # A login from a new device: one known identifier, one new link.
                    newcomer += 1
                    payload = CustomerIdentified(method="login")
                    ids = Identities(email=email(n), web_id=web_id(newcomer))
            elif draw < known + merging:
                one, other = rnd.sample(range(people), 2)
                payload = CustomerIdentified(method="crm_sync", link_reason="same person")
                ids = Identities(crm_id=crm_id(one), email=email(other))
            else:
                newcomer += 1
                payload = FormSubmitted(form="newsletter")
                ids = Identities(email=email(newcomer), web_id=web_id(newcomer))
            batch.append(new_event(payload, occurred_at=at, source="bench", identities=ids))
        out.append(batch)
    return out


# --- runs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    events: int
    seconds: float
    process_seconds: float
    merges: int
    rejected: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def fed(batches: Sequence[Sequence[Envelope]]) -> Fed:
    return [HEADS_WITH_BYTES.feed(CODEC, batch) for batch in batches]


def one_run(url: str, batches: Fed) -> Run:
    engine = make_engine(url)
    with engine.connect() as connection:  # open the pool's connection outside the timing
        connection.execute(select(1))
    resolver = IdentityResolver("touchline.touchpoints", "touchline.interactions", CODEC)
    merges = rejected = events = 0
    seconds = process_seconds = 0.0
    for batch in batches:
        started = time.perf_counter()
        with engine.begin() as connection:
            outcome = resolver.process(connection, batch)
            processed = time.perf_counter()
        committed = time.perf_counter()
        seconds += committed - started
        process_seconds += processed - started
        events += len(batch)
        rejected += len(outcome.rejected)
        merges += sum(isinstance(e.event.payload, CustomerMerged) for e in outcome.emitted)
    sqlite_checkpoint(engine)
    return Run(events, seconds, process_seconds, merges, rejected)


def memory_run(url: str, batches: Fed) -> int:
    """Bytes of Python memory a resolver holds after one run: its cache keeps
    every identifier and customer it has loaded or created. tracemalloc,
    because resident-set growth hides in memory freed earlier (the seeding)."""
    engine = make_engine(url)
    with engine.connect() as connection:
        connection.execute(select(1))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        resolver = IdentityResolver("touchline.touchpoints", "touchline.interactions", CODEC)
        for batch in batches:
            with engine.begin() as connection:
                resolver.process(connection, batch)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    sqlite_checkpoint(engine)
    return held


def distinct_identifiers(batches: Sequence[Sequence[Envelope]]) -> int:
    return len({key for batch in batches for e in batch for key in identity_keys(e.identities)})


def profile_run(url: str, batches: Fed, top: int) -> list[str]:
    """cProfile of one run: where the resolver's time goes."""
    profiler = cProfile.Profile()
    profiler.enable()
    one_run(url, batches)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return ["  cProfile, one run, by own time:", *(f"    {line}" for line in lines[start:])]


def main(
    runs: int,
    people: int,
    batches: int,
    database_url: str | None = None,
    cprofile: int = 0,
) -> list[str]:
    configure_logging(level=logging.WARNING)
    with scratch(database_url, "identity") as databases:
        seeded = databases.create("seed")
        seed_seconds = seed_graph(seeded, people)
        size = graph_size(seeded)
        results: list[Run] = []
        for run in range(runs):
            events = fed(touchpoints(people, batches, seed=run))
            url = databases.copy("seed", f"run{run}")
            results.append(one_run(url, events))
            databases.drop(f"run{run}")
        memory_events = touchpoints(people, batches, seed=runs)
        url = databases.copy("seed", "memory")
        held = memory_run(url, fed(memory_events))
        databases.drop("memory")
        seen = distinct_identifiers(memory_events)
        profile: list[str] = []
        if cprofile:
            url = databases.copy("seed", "profiled")
            profile = profile_run(url, fed(memory_events), cprofile)
            databases.drop("profiled")
    median = statistics.median
    rate = median(r.rate for r in results)
    only_process = median(r.events / r.process_seconds for r in results)
    first = results[0]
    limit = IdentityResolver("", "", CODEC).cache_limit
    return [
        f"identity ({databases.kind}): graph of {size[0]:,} customers, {size[1]:,} identifiers "
        f"(seeded in {seed_seconds:.0f} s); {first.events:,} events per run "
        f"in batches of {BATCH:,}, {runs} runs, a new resolver (empty cache) each run",
        "  mix: 70% known people, 25% new people, 5% tie two customers "
        f"({first.merges:,} merges, {first.rejected} rejected in run 1)",
        f"  resolve, commit included   {rate:>9,.0f} events/s (median)",
        f"  resolve, commit excluded   {only_process:>9,.0f} events/s",
        f"  resolver memory after a run {held / 2**20:>8,.1f} MiB for {seen:,} identifiers seen "
        f"({held / seen:,.0f} bytes each, the cache starts again past {limit:,})",
        "  runs: " + ", ".join(f"{r.rate:,.0f}" for r in results),
        *profile,
    ]
