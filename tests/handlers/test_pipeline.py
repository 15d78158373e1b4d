"""Publish -> identity resolution -> timeline, on the embedded runtime."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, delete

from tests.conftest import DAY
from tests.helpers import ann_story, runner_for, summaries
from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from touchline.bootstrap import Backbone
from touchline.events import Envelope
from touchline.handlers.identity_graph import find_customer
from touchline.log.port import Record, StoredRecord, TopicPartition
from touchline.processing.dead_letter import describe
from touchline.processing.port import EVENTS, Outcome, Processor
from touchline.projections.timeline import TimelinePage, read_timeline
from touchline.store.tables import projector_positions

Runtime = EmbeddedRuntime | KafkaRuntime


def _timeline_of(backbone: Backbone, email: str) -> TimelinePage:
    with backbone.engine.connect() as connection:
        customer_id = find_customer(connection, "email", email)
        assert customer_id is not None, f"{email} was never resolved"
        return read_timeline(connection, customer_id, limit=100)


def _dead_letters(backbone: Backbone) -> list[StoredRecord]:
    topic = backbone.settings.topics.dead_letter
    return [
        record
        for partition in range(backbone.log.partitions(topic))
        for record in backbone.log.read(TopicPartition(topic, partition), 0, 1000)
    ]


def test_one_story_across_channels(runtime: Runtime) -> None:
    """Email and phone touchpoints of one person land on one timeline."""
    backbone = runtime.backbone
    result = backbone.publisher.publish(ann_story(DAY))
    assert not result.rejected
    runtime.drain()
    # Whether the call (phone only) is resolved before the email that ties the
    # phone to the email depends on which partition is read first: either
    # way one timeline, with a merge entry when the call came first.
    entries = _timeline_of(backbone, "ann@example.com").entries
    assert summaries([e for e in entries if e.channel != "identity"]) == [
        "Inbound call, 4m12s, agent Lee: billing question",
        "Opened email 'Spring offer'",
        "Sent email 'Spring offer'",
    ]


def test_undecodable_records_go_to_dead_letters_and_the_partition_flows(runtime: Runtime) -> None:
    """Garbage on the touchpoint topic is dead-lettered with reason and origin."""
    backbone = runtime.backbone
    story = ann_story(DAY)
    topic = backbone.settings.topics.touchpoints
    backbone.publisher.publish(story[:1])
    [position] = backbone.log.append(
        topic, [Record(value=b"{not json", key=b"email:ann@example.com")]
    )
    backbone.publisher.publish(story[1:])
    runtime.drain()

    entries = _timeline_of(backbone, "ann@example.com").entries
    assert len([e for e in entries if e.channel != "identity"]) == 3
    [letter] = _dead_letters(backbone)
    headers = describe(letter)
    assert letter.value == b"{not json"
    assert letter.key == b"email:ann@example.com"
    assert "malformed" in headers["reason"]
    assert headers["origin.topic"] == topic
    assert headers["origin.partition"] == str(position.partition)
    assert headers["origin.offset"] == str(position.offset)


def test_a_duplicate_delivery_changes_nothing(runtime: Runtime) -> None:
    """The same events published twice appear once."""
    backbone = runtime.backbone
    story = ann_story(DAY)
    backbone.publisher.publish(story)
    backbone.publisher.publish(story)
    runtime.drain()
    entries = _timeline_of(backbone, "ann@example.com").entries
    assert len([e for e in entries if e.channel != "identity"]) == 3


def test_replaying_the_log_from_scratch_changes_nothing(backbone: Backbone) -> None:
    """Forgetting every position and replaying gives the same timeline."""
    backbone.publisher.publish(ann_story(DAY))
    backbone.runtime.catch_up()
    before = _timeline_of(backbone, "ann@example.com")
    with backbone.engine.begin() as connection:
        connection.execute(delete(projector_positions))
    for runner in backbone.runtime.runners:
        runner.forget()
    assert backbone.runtime.catch_up() > 0
    assert _timeline_of(backbone, "ann@example.com") == before


class _Choosy(Processor[Envelope]):
    """A processor that chokes on one event id, as a buggy handler would."""

    name = "choosy"
    reads = EVENTS

    def __init__(self, topic: str, poison: str) -> None:
        self.source_topic = topic
        self.poison = poison
        self.applied: list[str] = []

    def process(self, _connection: Connection, events: Sequence[Envelope]) -> Outcome:
        if any(str(e.id) == self.poison for e in events):
            raise ValueError("cannot handle this one")
        self.applied.extend(str(e.id) for e in events)
        return Outcome.nothing()


def test_an_event_the_processor_cannot_apply_is_dead_lettered_alone(backbone: Backbone) -> None:
    """A poison event goes to the dead letters with the error; its neighbours apply."""
    story = ann_story(DAY)
    topic = backbone.settings.topics.touchpoints
    backbone.publisher.publish(story)
    choosy = _Choosy(topic, poison=str(story[1].id))
    runner = runner_for(backbone, choosy)
    while runner.step():
        pass
    assert sorted(choosy.applied) == sorted([str(story[0].id), str(story[2].id)])
    [letter] = _dead_letters(backbone)
    assert "choosy failed: ValueError: cannot handle this one" in describe(letter)["reason"]
    assert sum(runner.lag().values()) == 0


def test_a_bad_event_inside_a_batch_record_is_dead_lettered_alone(runtime: Runtime) -> None:
    """One record carrying three events, the middle one broken: two apply, one dead letter."""
    backbone = runtime.backbone
    story = ann_story(DAY)
    good = [backbone.codec.encode(e) for e in (story[0], story[2])]
    broken = b'{"id":"not-a-uuid","type":"email.opened"}'
    value = b"[" + b",".join([good[0], broken, good[1]]) + b"]"
    topic = backbone.settings.topics.touchpoints
    [position] = backbone.log.append(topic, [Record(value=value, partition=1)])
    runtime.drain()

    assert summaries(_timeline_of(backbone, "ann@example.com").entries) == [
        "Inbound call, 4m12s, agent Lee: billing question",
        "Sent email 'Spring offer'",
    ]
    [letter] = _dead_letters(backbone)
    headers = describe(letter)
    assert letter.value == broken
    assert (headers["origin.offset"], headers["origin.index"]) == (str(position.offset), "1")
    assert "$.id" in headers["reason"]


def test_published_batches_keep_input_order_in_the_result(runtime: Runtime) -> None:
    """The publisher packs events per partition, yet reports them in input order."""
    story = ann_story(DAY) + ann_story(DAY + timedelta(days=1))
    result = runtime.backbone.publisher.publish(story)
    assert [event.id for event, _ in result.accepted] == [event.id for event in story]
