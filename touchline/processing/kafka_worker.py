"""The Kafka runtime: a Faust app running the same processors as the embedded one.

One agent per processor consumes its source topic in batches (``take_events``)
and hands each partition's records to the same :class:`ProcessorRunner` the
embedded runtime uses, in a worker thread (SQLAlchemy and kafka-python block).
Positions live in the projection database with the state they produced; on
every assignment the worker seeks each partition to that position, and the
runner skips anything below it, so Faust's own offset commits are only a
hint and never the truth.

Each worker also records in the database which partitions it holds (see
:mod:`touchline.store.assignments`): ``touchline lag`` shows it, and tests
wait on it for a group to settle.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections import defaultdict
from collections.abc import AsyncIterable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import faust
import structlog
from aiokafka.errors import IllegalStateError
from sqlalchemy.exc import DBAPIError, OperationalError

from touchline import exit_codes
from touchline.events.instants import to_us
from touchline.log.port import LogError, StoredRecord, TopicPartition
from touchline.processing.clock import Clock, SystemClock
from touchline.processing.port import ProcessorStopped, RetryLater
from touchline.processing.runner import ProcessorRunner
from touchline.store.assignments import record_holdings

log = structlog.get_logger(__name__)


def broker_url(bootstrap_servers: Sequence[str]) -> str:
    """Bootstrap servers as Faust wants them: ``kafka://a:9092;kafka://b:9092``."""
    return ";".join(f"kafka://{host}" for host in bootstrap_servers)


def worker_id(pid: int) -> str:
    """How worker process ``pid`` on this host names itself where it records
    the partitions it holds: ``host:pid``, what an operator can find it by."""
    return f"{socket.gethostname()}:{pid}"


def make_app(
    bootstrap_servers: Sequence[str],
    runners: Iterable[ProcessorRunner],
    *,
    app_id: str = "touchline",
    partitions: int = 8,
    batch_size: int = 2000,
    within: float = 0.2,
    session_timeout: float = 10.0,
    timer_interval: float = 1.0,
    worker: str,
    clock: Clock | None = None,
    datadir: str = "touchline-data/faust",
) -> faust.App:
    """A Faust app with one agent per runner; ``app_id`` is the consumer group,
    ``worker`` names this process in the partitions it records holding;
    ``clock`` (default: the wall clock) stamps those records."""
    clock = clock or SystemClock()
    # Faust makes ``datadir`` itself but not its parents, and on Kafka the
    # deployment's data directory may hold nothing else, so may not exist.
    Path(datadir).parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=broker_url(bootstrap_servers),
        store="memory://",
        # Faust makes ``<id>-data/`` for its tables even with none; in the
        # deployment's data directory, not wherever the worker was started.
        datadir=datadir,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=partitions,
        # Touchline creates its topics itself (with their partition counts),
        # and keeps no Faust tables: nothing for Faust to declare.
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session_timeout,
        broker_rebalance_timeout=session_timeout,
        broker_heartbeat_interval=min(3.0, session_timeout / 3),
        broker_commit_interval=1.0,
    )
    # Several processors may read one topic (the timeline and the
    # synchronizer both read the interactions): each has an agent of its own.
    by_topic: dict[str, list[ProcessorRunner]] = defaultdict(list)
    for runner in runners:
        by_topic[runner.topic].append(runner)
        _add_agent(app, runner, batch_size=batch_size, within=within)
    every = [runner for runners_of_topic in by_topic.values() for runner in runners_of_topic]

    async def fire_timers() -> None:
        # Every worker tries; on PostgreSQL SKIP LOCKED hands each due timer
        # to one of them, and a re-fire after a crash repeats its event id.
        # The outbox too: a relay holds its partition, and skips what a
        # relay that died after appending already put on the log.
        for runner in every:
            try:
                await asyncio.to_thread(runner.fire_due)
                await asyncio.to_thread(runner.relay_waiting)
            except _TRANSIENT as error:
                log.warning("timers or outbox not done, trying again", error=str(error))

    app.timer(interval=timer_interval)(fire_timers)

    @app.on_partitions_assigned.connect
    async def resume_from_database(
        _sender: Any,
        /,
        *args: Any,
        signal: Any,  # noqa: ARG001 - mode's Signal passes it by name
        **_kwargs: Any,
    ) -> None:
        assigned: set[Any] = args[0]
        await _seek_to_stored_positions(app, assigned, by_topic)
        await record_held(worker, assigned, every, clock)

    async def release(
        _sender: Any,
        /,
        *_args: Any,
        signal: Any,  # noqa: ARG001 - mode's Signal passes it by name
        **_kwargs: Any,
    ) -> None:
        await record_held(worker, (), every, clock)

    # Faust revokes every partition before each assignment (the eager
    # protocol) and before this worker rejoins the group, but sends no
    # revocation while it stops: clearing on both means no row still names
    # this worker once the group hands its partitions to another.
    app.on_partitions_revoked.connect(release)
    app.on_before_shutdown.connect(release)

    return app


async def _seek_to_stored_positions(
    app: faust.App, assigned: Collection[Any], by_topic: dict[str, list[ProcessorRunner]]
) -> None:
    try:
        offsets = await _stored_offsets(assigned, by_topic)
        # seek_wait, not seek: Faust's seek calls aiokafka from this (the
        # app's) thread, while the fetcher may already be draining records
        # on the consumer thread (Faust's recovery resumes the flow without
        # waiting for this signal), and aiokafka's fetcher then raises
        # KeyError for a partition the seek dropped from under it, which
        # crashes the worker. seek_wait runs on the consumer thread.
        if offsets:
            await app.consumer.seek_wait(offsets)
    except _RESUME_TRANSIENT as error:
        # Only a hint: the runner skips what the database already holds and
        # reads any gap from the log, wherever the consumer starts.
        log.warning("not resuming from the database", error=repr(error))
        return
    for tp, offset in offsets.items():
        names = [runner.processor.name for runner in by_topic[tp.topic]]
        log.info("resuming", processors=names, partition=tp.partition, offset=offset)


async def record_held(
    worker: str,
    assigned: Collection[Any],
    runners: Iterable[ProcessorRunner],
    clock: Clock,
) -> None:
    """Record, per runner, the partitions of its topic that ``worker`` now
    holds (none: it holds nothing), in the database its positions live in.

    Never raises on a database error (an outage, say): it is logged and skipped.
    """
    at_us = to_us(clock.now())
    for runner in runners:
        partitions = [tp.partition for tp in assigned if tp.topic == runner.topic]
        try:
            await asyncio.to_thread(_write_holdings, runner, worker, partitions, at_us)
        except _RECORD_TRANSIENT as error:
            # What is recorded is for people and tests to read; consuming
            # goes on without it.
            log.warning(
                "could not record the partitions held",
                processor=runner.processor.name,
                error=repr(error),
            )


def _write_holdings(
    runner: ProcessorRunner, worker: str, partitions: list[int], at_us: int
) -> None:
    with runner.engine.begin() as connection:
        record_holdings(
            connection,
            worker,
            runner.processor.name,
            runner.topic,
            partitions=partitions,
            at_us=at_us,
        )


async def _stored_offsets(
    assigned: Collection[Any], by_topic: dict[str, list[ProcessorRunner]]
) -> dict[Any, int]:
    """Each assigned partition's position as the database has it (one read per
    runner): the lowest of the processors reading that topic, so none misses a
    record; each runner skips what its own database already holds."""
    offsets: dict[Any, int] = {}
    for topic, runners in by_topic.items():
        tps = [tp for tp in assigned if tp.topic == topic]
        if not tps:
            continue
        for runner in runners:
            positions = await asyncio.to_thread(runner.reload_positions)
            for tp in tps:
                stored = positions.get(tp.partition, 0)
                offsets[tp] = min(offsets.get(tp, stored), stored)
    return offsets


# Positioning on assignment is an optimisation: a database outage, or a
# partition revoked again before the seek, must not crash the worker.
_RESUME_TRANSIENT = (OperationalError, IllegalStateError, asyncio.TimeoutError)

# Recording the partitions held is bookkeeping, never worth stopping a worker
# for: any database error (an outage, or a deadlock with another worker's
# recording after a killed member) is logged and skipped.
_RECORD_TRANSIENT = (DBAPIError,)

# Failures of what is outside the batch: the broker or the database is
# unreachable. The same batch is retried (the runner skips what the database
# already holds) rather than crashing the agent, which Faust would restart
# without the records it had already fetched.
_TRANSIENT = (RetryLater, LogError, OperationalError)


async def apply_until_done(
    runner: ProcessorRunner, tp: TopicPartition, records: list[StoredRecord]
) -> None:
    """Apply one partition's records: through outages (retried with backoff),
    never past a fault in the processor (the worker stops)."""
    delay = 0.5
    while True:
        try:
            await asyncio.to_thread(runner.apply, tp, records)
            return
        except ProcessorStopped as error:
            _stop_the_worker(error)
        except _TRANSIENT as error:
            wanted = error.after if isinstance(error, RetryLater) else None
            log.warning(
                "batch failed on an outage, retrying",
                processor=runner.processor.name,
                partition=tp.partition,
                error=str(error),
                retry_in=delay if wanted is None else wanted,
            )
            runner.forget()
            await asyncio.sleep(delay if wanted is None else wanted)
            # Capped low: after a long outage the worker notices the broker is back soon.
            delay = min(delay * 2, 5.0)


def _stop_the_worker(error: ProcessorStopped) -> NoReturn:
    """A fault in a processor: the worker stops, as the embedded runner does.

    Left to Faust, the agent would crash and be restarted, and the runner
    would meet the same batch again (it reads any gap from the log) on every
    later message of the partition: a crash loop that looks like progress.
    Exiting at once is as safe as a kill -9 (nothing of the batch was
    committed); the group hands the partitions on, and the message says why.
    """
    log.critical("processor stopped; fix the fault, then restart", error=str(error))
    print(f"touchline: {error}", file=sys.stderr, flush=True)
    os._exit(exit_codes.INTERNAL)


def _add_agent(app: faust.App, runner: ProcessorRunner, *, batch_size: int, within: float) -> None:
    # Faust counts messages, and touchline's own records carry many events
    # each (~250 from a resolver batch). batch_size/4 messages measured within
    # 4% of batch_size messages on the timeline (22.6k vs 23.4k events/s) and
    # 23% above batch_size/16, while bounding a backlog take to ~125k events
    # (at most 500 messages: measured at the old default batch, 2,000).
    messages = max(16, min(batch_size // 4, 500))
    topic = app.topic(runner.topic, key_type=bytes, value_type=bytes, internal=False)

    async def consume(stream: AsyncIterable[Any]) -> None:
        async for events in stream.take_events(messages, within=within):  # type: ignore[attr-defined]
            batches: defaultdict[TopicPartition, list[StoredRecord]] = defaultdict(list)
            for event in events:
                message = event.message
                batches[TopicPartition(message.topic, message.partition)].append(
                    StoredRecord(
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                        key=message.key,
                        value=message.value,
                        timestamp_ms=int(message.timestamp * 1000),
                        headers=tuple((k, bytes(v)) for k, v in (message.headers or ())),
                    )
                )
            for tp, records in batches.items():
                await apply_until_done(runner, tp, records)

    consume.__name__ = f"consume_{runner.processor.name.replace('-', '_')}"
    app.agent(topic, name=runner.processor.name)(consume)
