"""An event's bytes travel as read: the resolver writes the payload on unchanged,
and the timeline stores the interaction's bytes, on both runtimes. The
resolver's edge checks screen those bytes and decode only what looks suspect."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import uuid4

import msgspec
from sqlalchemy import Engine, select

from tests.conftest import DAY
from tests.helpers import ann_story, event
from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from touchline.bootstrap import Backbone
from touchline.events import CATALOGUE, EnvelopeHead, EventCodec
from touchline.events.email import EmailOpened
from touchline.handlers.identity import IdentityResolver
from touchline.log.port import Record, TopicPartition
from touchline.processing.port import REFUSED_AT_EDGE, UNDECODABLE, Rejected
from touchline.store.tables import timeline_entries

Runtime = EmbeddedRuntime | KafkaRuntime

# A channel's own spelling: keys in its order, spaces msgspec would never write.
ODD_PAYLOAD = b'{ "subject" : "Spring offer",  "message_id":"m-odd" }'


def _events_on(backbone: Backbone, topic: str) -> dict[str, bytes]:
    """Each event on ``topic`` by id: its bytes as a runner reads them."""
    codec = backbone.codec
    found = {}
    for partition in range(backbone.log.partitions(topic)):
        for record in backbone.log.read(TopicPartition(topic, partition), 0, 1000):
            values = (
                codec.split_batch(record.value) if codec.is_batch(record.value) else [record.value]
            )
            for value in values:
                found[str(codec.decode_head(value).id)] = value
    return found


def _produced_past_the_publisher(backbone: Backbone) -> str:
    """An email.opened written straight onto the touchpoints topic; its id."""
    event_id = str(uuid4())
    head = (
        f'{{"id":"{event_id}","type":"email.opened","version":1,'
        f'"occurred_at":"{(DAY + timedelta(hours=3)).isoformat()}","source":"esp",'
        f'"identities":{{"email":"ann@example.com"}},"payload":'
    ).encode()
    record = Record(value=head + ODD_PAYLOAD + b"}", key=b"email:ann@example.com")
    backbone.log.append(backbone.settings.topics.touchpoints, [record])
    return event_id


def _drained(runtime: Runtime) -> tuple[dict[str, bytes], dict[str, bytes], str]:
    backbone = runtime.backbone
    assert not backbone.publisher.publish(ann_story(DAY)).rejected
    odd = _produced_past_the_publisher(backbone)
    runtime.drain()
    topics = backbone.settings.topics
    return _events_on(backbone, topics.touchpoints), _events_on(backbone, topics.interactions), odd


def test_an_interaction_carries_its_touchpoints_payload_bytes_unchanged(runtime: Runtime) -> None:
    """The resolver sets customer_id on the head and writes the payload's
    bytes on byte for byte, a channel's own spelling included."""
    decode_head = runtime.backbone.codec.decode_head
    touchpoints, interactions, odd = _drained(runtime)
    assert len(touchpoints) == 4
    for event_id, sent in touchpoints.items():
        interaction = decode_head(interactions[event_id])
        assert interaction.customer_id is not None
        assert bytes(interaction.payload) == bytes(decode_head(sent).payload)
    assert bytes(decode_head(interactions[odd]).payload) == ODD_PAYLOAD


def test_the_timeline_stores_the_interactions_bytes(runtime: Runtime) -> None:
    """Each timeline row holds the interaction's bytes as read, customer_id
    included: a channel's own spelling of a payload is still there."""
    touchpoints, interactions, odd = _drained(runtime)
    t = timeline_entries.c
    with runtime.backbone.engine.connect() as connection:
        stored = dict(
            connection.execute(
                select(t.event_id, t.event).where(t.event_id.in_(list(interactions)))
            ).all()
        )
    assert touchpoints.keys() <= interactions.keys()  # and a merge, when the call came first
    assert stored == interactions
    assert ODD_PAYLOAD in stored[odd]
    for value in stored.values():
        assert msgspec.json.decode(value, type=EnvelopeHead).customer_id is not None


def test_a_legacy_version_produced_past_the_publisher_lands_upcast(runtime: Runtime) -> None:
    """call.inbound_ended@1 goes on as sent (the resolver decodes no payload)
    and the timeline, which decodes it, shows it upcast."""
    backbone = runtime.backbone
    event_id = str(uuid4())
    legacy = {
        "id": event_id,
        "type": "call.inbound_ended",
        "version": 1,
        "occurred_at": DAY.isoformat(),
        "source": "old-ivr",
        "identities": {"phone": "+14155550134"},
        "payload": {"call_id": "c-old", "duration": 95, "agent": "A17 Lee"},
    }
    record = Record(value=json.dumps(legacy).encode(), key=b"phone:+14155550134")
    backbone.log.append(backbone.settings.topics.touchpoints, [record])
    runtime.drain()
    interaction = _events_on(backbone, backbone.settings.topics.interactions)[event_id]
    assert backbone.codec.decode_head(interaction).version == 1
    t = timeline_entries.c
    with backbone.engine.connect() as connection:
        summary = connection.execute(select(t.summary).where(t.event_id == event_id)).scalar_one()
    assert summary == "Inbound call, 1m35s, agent Lee"


def _refused(engine: Engine, codec: EventCodec, data: bytes) -> Rejected:
    """What the resolver makes of one event's bytes, read as the runner reads them."""
    resolver = IdentityResolver("touchpoints", "interactions", codec)
    with engine.begin() as connection:
        outcome = resolver.process(connection, [resolver.reads.reader(codec)(data)])
    assert not outcome.emitted
    [rejected] = outcome.rejected
    return rejected


def _json_event(occurred_at: str, payload: str) -> bytes:
    return (
        f'{{"id":"{uuid4()}","type":"email.opened","version":1,"occurred_at":"{occurred_at}",'
        f'"source":"esp","identities":{{"email":"ann@example.com"}},"payload":{payload}}}'
    ).encode()


def test_a_time_spelt_with_escapes_is_still_refused(engine: Engine) -> None:
    """``\\u0039`` is a 9: a year that leaves the calendar in UTC is found
    behind escapes, which the screen of the bytes as read treats as suspect."""
    data = _json_event(r"\u0039999-12-31T23:30:00-05:00", '{"message_id":"m1"}')
    rejected = _refused(engine, EventCodec(CATALOGUE), data)
    assert rejected.code == REFUSED_AT_EDGE
    assert "cannot be represented in UTC at $.occurred_at" in rejected.reason


def test_a_nul_in_a_msgpack_event_is_refused(engine: Engine) -> None:
    """msgpack bytes are screened in their JSON form: a NUL is found."""
    codec = EventCodec(CATALOGUE, "msgpack")
    nul = event(EmailOpened(message_id="m1", subject="a\x00b"), DAY)
    rejected = _refused(engine, codec, codec.encode(nul))
    assert rejected.code == REFUSED_AT_EDGE
    assert "NUL character (U+0000) at $.payload.subject" in rejected.reason


def test_a_suspect_event_whose_payload_is_not_its_type_is_refused(engine: Engine) -> None:
    """A suspect is decoded whole by the resolver: a payload that is not its
    type's is refused there, naming the field, never a crash of the batch."""
    data = _json_event(DAY.isoformat(), '{"message_id":42,"subject":null}')
    rejected = _refused(engine, EventCodec(CATALOGUE), data)
    assert rejected.code == UNDECODABLE
    assert "Expected `str`, got `int` at $.payload.message_id" in rejected.reason
