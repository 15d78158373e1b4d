"""Followers emit too, and every emit is packed by its topic's policy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection

from tests.conftest import DAY
from tests.helpers import ann_story, runner_for
from touchline.bootstrap import Backbone
from touchline.log.port import TopicPartition
from touchline.processing.packing import Packing, pack
from touchline.processing.port import Emit
from touchline.projections.timeline import Landed, TimelineProjection


class _Echo:
    """A follower that emits every event new to the timeline onto ``topic``."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def applied(self, _connection: Connection, events: Sequence[Landed]) -> Sequence[Emit]:
        return [Emit(self.topic, e.customer_id.encode(), e.event) for e in events]

    def rebuild(self, _connection: Connection, _customer_ids: Sequence[str]) -> Sequence[Emit]:
        return ()


def _records(backbone: Backbone, topic: str) -> list[bytes]:
    return [
        record.value
        for partition in range(backbone.log.partitions(topic))
        for record in backbone.log.read(TopicPartition(topic, partition), 0, 1000)
    ]


def test_a_follower_emits_in_the_timelines_batch_one_record_per_event(
    backbone: Backbone,
) -> None:
    settings = backbone.settings
    story = ann_story(DAY) + ann_story(DAY + timedelta(days=1))
    backbone.publisher.publish(story)
    resolver, *_ = backbone.runners
    while resolver.step():
        pass
    state_topic = settings.topics.campaign_state
    timeline = runner_for(
        backbone,
        TimelineProjection(settings.topics.interactions, backbone.codec, [_Echo(state_topic)]),
    )
    while timeline.step():
        pass
    echoed = [backbone.codec.decode(value) for value in _records(backbone, state_topic)]
    # Per event, as the campaign engine's feed needs: one record each, none twice.
    touchpoints = {event.id for event in story}
    assert {event.id for event in echoed} >= touchpoints
    assert len(echoed) == len({event.id for event in echoed})
    assert timeline.stats.emitted == len(echoed)


def test_pack_per_partition_and_per_event(backbone: Backbone) -> None:
    codec = backbone.codec
    story = ann_story(DAY)
    items = [(event, b"same-key") for event in story]
    [(indexes, record)] = pack(codec, items, 4, Packing.PER_PARTITION)
    assert indexes == [0, 1, 2]
    assert codec.is_batch(record.value)
    assert record.key is None
    assert record.partition is not None
    assert [codec.decode(v).id for v in codec.split_batch(record.value)] == [e.id for e in story]

    per_event = pack(codec, items, 4, Packing.PER_EVENT)
    assert [indexes for indexes, _ in per_event] == [[0], [1], [2]]
    assert all(record.key == b"same-key" for _, record in per_event)
    assert [codec.decode(record.value).id for _, record in per_event] == [e.id for e in story]
