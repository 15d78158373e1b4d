"""The edge: events from channel systems are validated before the log sees them."""

from __future__ import annotations

import msgspec

from tests.conftest import DAY
from tests.helpers import ann_story, event
from touchline.bootstrap import Backbone
from touchline.events import Identities
from touchline.events.email import EmailOpened


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
