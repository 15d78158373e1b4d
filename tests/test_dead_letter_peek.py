"""A dead letter's bytes, read as far as they go (``dead-letters show``)."""

from __future__ import annotations

import msgspec

from tests.conftest import DAY
from tests.helpers import ann_story
from touchline.dead_letters.peek import peek_event
from touchline.events import CATALOGUE, EventCodec

CODEC = EventCodec(CATALOGUE)


def test_an_event_is_shown_decoded_with_what_it_concerns() -> None:
    event = ann_story(DAY)[2]
    seen = peek_event(CODEC, CODEC.encode(event.with_customer("cus_1")))
    assert (seen.event_id, seen.event_type) == (str(event.id), "call.inbound_ended")
    assert seen.concerning == ("phone:+14155550134", "cus_1")
    assert '"call_id": "c1"' in seen.shown


def test_an_invalid_event_still_names_its_id_and_identifiers() -> None:
    raw = msgspec.json.decode(CODEC.encode(ann_story(DAY)[0]))
    raw["payload"] = {"message_id": 7}
    seen = peek_event(
        CODEC, msgspec.json.encode({**raw, "identities": {"email": "Ann@Example.com"}})
    )
    assert seen.event_id == raw["id"]
    assert seen.concerning == ("email:ann@example.com",)
    assert '"message_id": 7' in seen.shown


def test_msgpack_and_text_and_deep_nesting_are_shown_without_failing() -> None:
    assert '"a": 1' in peek_event(CODEC, msgspec.msgpack.encode({"a": 1})).shown
    assert peek_event(CODEC, b"not json \xff").shown == "not json \\xff"
    deep = peek_event(CODEC, b"[" * 5000 + b"]" * 5000)
    assert (deep.event_id, deep.concerning) == (None, ())
