"""The one place where settings become a running backbone."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from touchline.config import Settings
from touchline.events import CATALOGUE, EventCodec
from touchline.handlers.identity import IdentityResolver
from touchline.log.port import Log
from touchline.log.registry import open_log
from touchline.processing.embedded import EmbeddedRuntime
from touchline.processing.runner import ProcessorRunner
from touchline.projections.profile_store import ProfileProjection
from touchline.projections.timeline import TimelineProjection
from touchline.publish import Publisher
from touchline.queries import Queries
from touchline.store.engine import make_engine
from touchline.store.migrate import upgrade
from touchline.store.secrets import deployment_secret


@dataclass
class Backbone:
    """Everything a process needs, built from settings; close it when done."""

    settings: Settings
    log: Log
    engine: Engine
    codec: EventCodec
    publisher: Publisher
    runtime: EmbeddedRuntime
    queries: Queries

    def close(self) -> None:
        self.log.close()
        self.engine.dispose()

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


def build_backbone(settings: Settings, *, migrate: bool = True) -> Backbone:
    """Open the log and the projection store, create topics, wire the processors."""
    log = open_log(settings.resolved_log_url)
    engine = make_engine(settings.resolved_database_url)
    if migrate:
        upgrade(engine)
    topics = settings.topics
    for topic in topics.all():
        log.create_topic(topic, settings.partitions)
    codec = make_codec(settings)
    processors = [
        IdentityResolver(
            topics.touchpoints,
            topics.interactions,
            settings.identity_rules(),
            edge=settings.edge_rules(),
        ),
        TimelineProjection(topics.interactions, codec, followers=[ProfileProjection(codec)]),
    ]
    runners = [
        ProcessorRunner(
            processor,
            log,
            engine,
            codec,
            dead_letter_topic=topics.dead_letter,
            batch_size=settings.batch_size,
        )
        for processor in processors
    ]
    return Backbone(
        settings=settings,
        log=log,
        engine=engine,
        codec=codec,
        publisher=Publisher(
            log,
            codec,
            topics.touchpoints,
            rules=settings.edge_rules(),
            key_secret=(settings.key_secret or deployment_secret(engine)).encode(),
        ),
        runtime=EmbeddedRuntime(runners),
        queries=Queries(engine, codec, settings.profile_rules()),
    )
