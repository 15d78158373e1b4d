"""What the campaign tests read back: the topics as written, the
synchronizer's stored records, and a replay of the log on a store of its own."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from touchline import registry
from touchline.bootstrap import Backbone, packing_policies
from touchline.events import Envelope
from touchline.handlers.synchronizer import SYNCHRONIZER
from touchline.log.port import TopicPartition
from touchline.processing.runner import ProcessorRunner
from touchline.store.engine import make_engine
from touchline.store.migrate import upgrade
from touchline.store.tables import campaign_contacts, campaign_states

Records = tuple[dict[tuple[str, str], bytes], dict[str, bytes]]


def written(backbone: Backbone, topic: str) -> list[Envelope]:
    """Everything on ``topic``, partition by partition, in the order written."""
    out: list[Envelope] = []
    for partition in range(backbone.log.partitions(topic)):
        for record in backbone.log.read(TopicPartition(topic, partition), 0, 100_000):
            codec = backbone.codec
            # A publisher packs a partition's share of one call into one record.
            items = (
                codec.split_batch(record.value) if codec.is_batch(record.value) else [record.value]
            )
            out.extend(codec.decode(item) for item in items)
    return out


def ids_on(backbone: Backbone, topic: str) -> set[str]:
    return {str(one.id) for one in written(backbone, topic)}


def campaign_records(engine: Engine) -> Records:
    """Every (campaign, customer) record and every customer's contact facts, as stored."""
    with engine.connect() as connection:
        s, f = campaign_states.c, campaign_contacts.c
        pairs = {
            (r[0], r[1]): r[2]
            for r in connection.execute(select(s.campaign_id, s.customer_id, s.record))
        }
        facts = {r[0]: r[1] for r in connection.execute(select(f.customer_id, f.facts))}
    return pairs, facts


def replayed_records(backbone: Backbone, directory: Path, batch_size: int) -> Records:
    """A second synchronizer, as the registry builds it, reads the
    interactions log from the start onto a fresh store: its records."""
    store = make_engine(f"sqlite:///{directory / 'replay.db'}")
    try:
        upgrade(store)
        context = registry.Context(backbone.settings, backbone.codec)
        [synchronizer] = registry.build(context, [SYNCHRONIZER])
        replay = ProcessorRunner(
            synchronizer,
            backbone.log,
            store,
            backbone.codec,
            dead_letter_topic=backbone.settings.topics.dead_letter,
            batch_size=batch_size,
            packing=packing_policies(backbone.settings),
        )
        while replay.step():
            pass
        return campaign_records(store)
    finally:
        store.dispose()


def assert_a_replay_agrees(backbone: Backbone, directory: Path, batch_size: int) -> None:
    """A replay from scratch ends with the live records, byte for byte, and
    writes no action or state change the live run did not (only the same ids)."""
    live = campaign_records(backbone.stores["campaigns"])
    topics = backbone.settings.topics
    before = {t: ids_on(backbone, t) for t in (topics.actions, topics.campaign_state)}
    assert replayed_records(backbone, directory, batch_size) == live
    for topic, ids in before.items():
        assert ids_on(backbone, topic) == ids, topic
