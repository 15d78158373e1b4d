"""The one place where settings become a running backbone."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from touchline import registry
from touchline.config import Settings
from touchline.events import CATALOGUE, EventCodec
from touchline.handlers.identity import RESOLVER
from touchline.handlers.synchronizer import SYNCHRONIZER
from touchline.log.port import Log
from touchline.log.registry import open_log
from touchline.log.sqlite import SqliteLog
from touchline.processing.clock import Clock
from touchline.processing.embedded import EmbeddedRuntime
from touchline.processing.handoff import HandOff
from touchline.processing.packing import Packing
from touchline.processing.runner import ProcessorRunner
from touchline.publish import Publisher
from touchline.queries import Queries
from touchline.store.accepted import AcceptedEvents
from touchline.store.engine import make_engine
from touchline.store.migrate import upgrade
from touchline.store.relocate import relocate
from touchline.store.secrets import deployment_secret
from touchline.store.tables import metadata


@dataclass
class Backbone:
    """Everything a process needs, built from settings; close it when done."""

    settings: Settings
    log: Log
    engine: Engine
    """The system database: the timeline and profile, dead letters, secrets."""
    stores: dict[str, Engine]
    """Every store by name (``registry.Entry.store``); on PostgreSQL, or with
    one ``database_url``, all of them are ``engine``."""
    codec: EventCodec
    publisher: Publisher
    runners: list[ProcessorRunner]
    """One per processor, in pipeline order: what any runtime drives."""
    runtime: EmbeddedRuntime
    """The runners driven in this process, on the embedded log."""
    handoff: HandOff | None
    """What deletes the interactions every reader has taken, when a long
    run should (``touchline run``, ``touchline api``): built only with every
    registered processor, on the embedded log, with ``read`` retention."""
    queries: Queries

    @property
    def graph(self) -> Engine:
        """The identity graph's database (the resolver's store)."""
        return self.stores[registry.store_of(RESOLVER)]

    @property
    def parallel(self) -> bool:
        """Whether the processors can run in processes of their own: each
        writes to a SQLite file of its own, or the database is a server."""
        urls = {str(runner.engine.url) for runner in self.runners}
        server = self.engine.dialect.name != "sqlite"
        return len(self.runners) > 1 and (server or len(urls) == len(self.runners))

    def close(self) -> None:
        self.log.close()
        for engine in set(self.stores.values()):
            engine.dispose()

    def __enter__(self) -> Backbone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def make_codec(settings: Settings) -> EventCodec:
    return EventCodec(
        CATALOGUE,
        settings.wire_format,
        max_event_bytes=settings.max_event_bytes,
        default_region=settings.default_region,
    )


def _open_stores(settings: Settings, *, migrate: bool) -> dict[str, Engine]:
    """An engine per store, one per distinct database (each migrated)."""
    by_url: dict[str, Engine] = {}
    stores: dict[str, Engine] = {}
    for name in registry.stores():
        url = settings.store_url(name)
        if url not in by_url:
            by_url[url] = make_engine(url)
            if migrate:
                upgrade(by_url[url])
        stores[name] = by_url[url]
    if migrate:
        system = stores[registry.SYSTEM_STORE]
        for entry in registry.PROCESSORS:
            tables = [metadata.tables[name] for name in entry.tables]
            relocate(system, stores[entry.store], entry.name, tables, entry.clocks)
    return stores


def packing_policies(settings: Settings) -> dict[str, Packing]:
    """Topics whose readers need each event at an offset of its own: the
    campaign engine resumes its feed by event, an adapter sends per action."""
    topics = settings.topics
    return {topics.campaign_state: Packing.PER_EVENT, topics.actions: Packing.PER_EVENT}


def relayed_topics(settings: Settings) -> frozenset[str]:
    """Topics that hold each record exactly once, through an outbox: the
    campaign engine's consumer group reads every state change once. (The
    others are read by touchline's own processors, which skip a repeat by
    its event id, and the actions by adapters that check the ledger.)"""
    return frozenset({settings.topics.campaign_state})


def build_backbone(
    settings: Settings,
    *,
    migrate: bool = True,
    only: Collection[str] = (),
    clock: Clock | None = None,
) -> Backbone:
    """Open the log and the projection store, create topics, wire the processors
    (those the registry knows, or the ones named in ``only``). ``clock`` is
    what timers fire by (default: the wall clock)."""
    codec = make_codec(settings)
    # First, so that an unknown name fails before anything is opened.
    processors = registry.build(registry.Context(settings, codec), only)
    log = open_log(settings.resolved_log_url)
    stores = _open_stores(settings, migrate=migrate)
    engine = stores[registry.SYSTEM_STORE]
    topics = settings.topics
    for topic in topics.all():
        log.create_topic(topic, settings.partitions)
    runners = [
        ProcessorRunner(
            processor,
            log,
            stores[registry.store_of(processor.name)],
            codec,
            dead_letter_topic=topics.dead_letter,
            batch_size=settings.batch_size,
            clock=clock,
            packing=packing_policies(settings),
            relayed=relayed_topics(settings),
        )
        for processor in processors
    ]
    handoff = None
    if isinstance(log, SqliteLog) and settings.interactions_retention == "read" and not only:
        readers = [runner for runner in runners if runner.topic == topics.interactions]
        every = settings.interactions_trim_seconds
        handoff = HandOff(log, topics.interactions, readers, every=every)
    return Backbone(
        settings=settings,
        log=log,
        engine=engine,
        stores=stores,
        codec=codec,
        publisher=Publisher(
            log,
            codec,
            topics.touchpoints,
            rules=settings.edge_rules(),
            key_secret=(settings.key_secret or deployment_secret(engine)).encode(),
        ),
        runners=runners,
        runtime=EmbeddedRuntime(runners, housekeeping=handoff.due if handoff else None),
        handoff=handoff,
        queries=Queries(
            engine,
            codec,
            settings.profile_rules(),
            identity=stores[registry.store_of(RESOLVER)],
            campaigns=stores[registry.store_of(SYNCHRONIZER)],
        ),
    )


def remembering_publisher(backbone: Backbone, codec: EventCodec | None = None) -> Publisher:
    """The backbone's publisher, remembering the ids it accepted (for
    ``TOUCHLINE_API_DEDUPE_DAYS``): an id published again is ``duplicate``
    and appends nothing. The HTTP API's (with its own ``codec``), and the
    partner order files'."""
    settings = backbone.settings
    return Publisher(
        backbone.log,
        codec or backbone.codec,
        settings.topics.touchpoints,
        rules=settings.edge_rules(),
        key_secret=backbone.publisher.key_secret,
        ledger=AcceptedEvents(backbone.engine, timedelta(days=settings.api_dedupe_days)),
    )
