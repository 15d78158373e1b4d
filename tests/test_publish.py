"""The edge: events from channel systems are validated before the log sees them."""

from __future__ import annotations

import msgspec

from tests.conftest import DAY
from tests.helpers import ann_story, event
from touchline.bootstrap import Backbone
from touchline.events import Identities
from touchline.events.email import EmailOpened
from touchline.events.keys import record_key
from touchline.log.port import TopicPartition


def test_a_batch_keeps_its_valid_events_and_names_the_bad_ones(backbone: Backbone) -> None:
    """Invalid events are refused one by one with event and field; the rest are appended."""
    good = [msgspec.json.decode(backbone.codec.encode(e)) for e in ann_story(DAY)]
    unknown = {**good[0], "id": "01a20403-e196-7c2c-a62d-266d49ef97e5", "type": "email.teleported"}
    mistyped = {
        **good[1],
        "id": "01a20403-e196-7c2c-a62d-266d49ef97e6",
        "payload": {"message_id": 7},
    }
    batch = msgspec.json.encode([good[0], unknown, good[1], mistyped, good[2]])

    result = backbone.publisher.publish_raw(batch)

    assert [e.id for e, _ in result.accepted] == [e.id for e in ann_story(DAY)] or len(
        result.accepted
    ) == 3
    assert [(r.event_type, r.field) for r in result.rejected] == [
        ("email.teleported", "[1].type"),
        ("email.opened", "[3].payload.message_id"),
    ]
    assert "unknown event type 'email.teleported'" in str(result.rejected[0])
    assert "01a20403-e196-7c2c-a62d-266d49ef97e6" in str(result.rejected[1])


def test_an_event_nobody_can_be_found_by_is_refused(backbone: Backbone) -> None:
    """Without identifiers or customer id an event could never reach a timeline."""
    result = backbone.publisher.publish(
        [event(EmailOpened(message_id="m"), DAY, identities=Identities())]
    )
    assert not result.accepted
    [error] = result.rejected
    assert error.field == "$.identities"


def test_recorded_at_is_stamped_at_the_edge(backbone: Backbone) -> None:
    """The publisher records when the event entered touchline."""
    result = backbone.publisher.publish(ann_story(DAY)[:1])
    [(accepted, _)] = result.accepted
    assert accepted.recorded_at is not None


def test_refusals_name_the_places_of_the_refused_events(backbone: Backbone) -> None:
    """A typed batch's refusals carry no index of their own: ``refusals``
    places each at its event, between the accepted ones."""
    good = event(EmailOpened(message_id="m-1"), DAY)
    nobody = event(EmailOpened(message_id="m-2"), DAY, identities=Identities())
    also = event(EmailOpened(message_id="m-3"), DAY, identities=Identities())
    result = backbone.publisher.publish([nobody, good, also])
    assert [(place, error.event_id) for place, error in result.refusals(3)] == [
        (0, str(nobody.id)),
        (2, str(also.id)),
    ]


def test_identifiers_built_in_code_are_stored_and_keyed_normalised(backbone: Backbone) -> None:
    """Events built in code (a partner's file, a webhook) are not decoded, so
    the edge normalises their identifiers itself: the log holds what a
    decoded event would hold, and the record's key is the one an outside
    producer computes from the normalised identifier."""
    given = event(
        EmailOpened(message_id="m-1"),
        DAY,
        identities=Identities(email=" Ann@Example.COM", phone="(415) 555-0134"),
    )
    [(accepted, position)] = backbone.publisher.publish([given]).accepted
    normalised = Identities(email="ann@example.com", phone="+14155550134")
    assert accepted.identities == normalised
    where = TopicPartition(backbone.settings.topics.touchpoints, position.partition)
    [record] = backbone.log.read(where, position.offset, position.offset + 1)
    # As stored: decode would normalise them again and hide a raw spelling.
    assert backbone.codec.decode_written(record.value).identities == normalised
    assert record.key == record_key("email:ann@example.com", backbone.publisher.key_secret)


def test_an_identifier_that_is_none_is_refused_at_the_edge(backbone: Backbone) -> None:
    """Refused as the same event sent as JSON is, not accepted here and then
    dead-lettered by the resolver after the producer was told it was taken."""
    bad = event(
        EmailOpened(message_id="m-1"), DAY, identities=Identities(phone="not a phone number")
    )
    good = event(EmailOpened(message_id="m-2"), DAY)
    typed = backbone.publisher.publish([bad, good])
    assert [e.id for e, _ in typed.accepted] == [good.id]
    [refused] = typed.rejected
    [as_json] = backbone.publisher.publish_raw(backbone.codec.encode(bad)).rejected
    assert (refused.field, refused.code, refused.reason) == (
        "$.identities.phone",
        as_json.code,
        as_json.reason,
    )
    assert as_json.field == "$.identities.phone"


def test_widths_are_judged_on_identifiers_as_stored(backbone: Backbone) -> None:
    """Past a column's width the edge refuses; what is measured is the
    identifier the column will hold, normalised, not the text it came as."""
    padded = " " * 190 + "ann@example.com"
    fits = event(EmailOpened(message_id="m-1"), DAY, identities=Identities(email=padded))
    too_wide = event(
        EmailOpened(message_id="m-2"), DAY, identities=Identities(email="a" * 200 + "@example.com")
    )
    result = backbone.publisher.publish([fits, too_wide])
    assert [e.identities.email for e, _ in result.accepted] == ["ann@example.com"]
    assert [r.field for r in result.rejected] == ["$.identities.email"]
