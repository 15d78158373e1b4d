"""The codec at the edge: what it refuses and how it says so, upcasting, normalising.

Every refusal is an :class:`InvalidEvent` naming the event (id and type, as
far as they can be read) and the field, on both wire formats.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import phonenumbers
import pytest

from touchline.events import CATALOGUE, Envelope, EventCodec, Identities, InvalidEvent, new_event
from touchline.events.call import InboundCallEnded
from touchline.events.codec import UnreadableInput, WireFormat
from touchline.events.email import EmailOpened
from touchline.events.identifiers import (
    InvalidIdentifier,
    is_canonical_e164,
    national_e164,
    normalise_email,
    normalise_identities,
    normalise_phone,
)

EVENT_ID = "01900000-0000-7000-8000-000000000001"
ENCODERS: dict[WireFormat, Callable[[Any], bytes]] = {
    "json": msgspec.json.encode,
    "msgpack": msgspec.msgpack.encode,
}
WIRES: list[WireFormat] = ["json", "msgpack"]


def _doc(**changes: Any) -> dict[str, Any]:
    """A valid ``email.opened`` event as a channel system would send it, with changes."""
    doc: dict[str, Any] = {
        "id": EVENT_ID,
        "type": "email.opened",
        "version": 1,
        "occurred_at": "2024-05-01T10:30:00Z",
        "source": "esp",
        "payload": {"message_id": "m-1", "subject": "Spring sale"},
        "identities": {"email": "ann@example.com"},
    }
    doc.update(changes)
    return doc


def _without(field: str) -> dict[str, Any]:
    doc = _doc()
    del doc[field]
    return doc


ORDER = {
    "order_id": "O-1",
    "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": 10.0}],
    "total": 10.0,
    "currency": "EUR",
    "via": "web",
}

# (case, event document, event type the error names, field, words in the reason)
INVALID: list[tuple[str, dict[str, Any], str, str, str]] = [
    (
        "unknown type",
        _doc(type="email.teleported"),
        "email.teleported",
        "$.type",
        "unknown event type",
    ),
    ("unknown version", _doc(version=7), "email.opened", "$.version", "unknown version 7"),
    (
        "missing payload field",
        _doc(payload={"subject": "x"}),
        "email.opened",
        "$.payload.message_id",
        "missing required field",
    ),
    (
        "missing nested payload field",
        _doc(type="order.placed", payload={**ORDER, "items": [{"quantity": 1, "unit_price": 1}]}),
        "order.placed",
        "$.payload.items[0].sku",
        "missing required field",
    ),
    ("missing envelope field", _without("source"), "email.opened", "$.source", "missing required"),
    (
        "mistyped payload field",
        _doc(type="fax.received", payload={"document_id": "fx-1", "pages": "three"}),
        "fax.received",
        "$.payload.pages",
        "Expected `int`, got `str`",
    ),
    ("mistyped envelope field", _doc(version="1"), "email.opened", "$.version", "Expected `int`"),
    (
        "constraint broken",
        _doc(type="order.placed", payload={**ORDER, "currency": "euro"}),
        "order.placed",
        "$.payload.currency",
        "matching regex",
    ),
    (
        "literal outside its values",
        _doc(type="order.placed", payload={**ORDER, "via": "pigeon"}),
        "order.placed",
        "$.payload.via",
        "Invalid enum value 'pigeon'",
    ),
    (
        "unknown payload field",
        _doc(payload={"message_id": "m-1", "colour": "red"}),
        "email.opened",
        "$.payload.colour",
        "unknown field",
    ),
    ("unknown envelope field", _doc(priority=1), "email.opened", "$.priority", "unknown field"),
    (
        "naive occurred_at",
        _doc(occurred_at="2024-05-01T10:30:00"),
        "email.opened",
        "$.occurred_at",
        "timezone",
    ),
    (
        "naive payload datetime",
        _doc(
            type="consent.do_not_contact_set",
            payload={"reason": "asked", "set_by": "A17", "until": "2024-11-01T00:00:00"},
        ),
        "consent.do_not_contact_set",
        "$.payload.until",
        "timezone",
    ),
    (
        "fields that go together",
        _doc(type="web.product_viewed", payload={"sku": "SKU-1", "price": 10.0}),
        "web.product_viewed",
        "$.payload",
        "`price` and `currency` go together",
    ),
    (
        "bad email",
        _doc(identities={"email": "ann.example.com"}),
        "email.opened",
        "$.identities.email",
        "not an email address",
    ),
    (
        "bad phone",
        _doc(identities={"phone": "12"}),
        "email.opened",
        "$.identities.phone",
        "not a possible phone number",
    ),
    (
        "bad fax",
        _doc(identities={"fax": "call me"}),
        "email.opened",
        "$.identities.fax",
        "not a phone number",
    ),
    (
        "misspelt identifier kind",
        _doc(identities={"emial": "ann@example.com"}),
        "email.opened",
        "$.identities.emial",
        "unknown field",
    ),
    (
        "empty crm id",
        _doc(identities={"crm_id": "  "}),
        "email.opened",
        "$.identities.crm_id",
        "empty",
    ),
]


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(
    ("doc", "event_type", "field", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in INVALID],
)
def test_invalid_event_is_refused_naming_event_and_field(
    wire: WireFormat, doc: dict[str, Any], event_type: str, field: str, reason: str
) -> None:
    """An invalid event raises InvalidEvent naming its id, type and the bad field."""
    codec = EventCodec(CATALOGUE, wire)
    with pytest.raises(InvalidEvent) as caught:
        codec.decode(ENCODERS[wire](doc))
    error = caught.value
    assert error.as_dict() == {
        "event_id": EVENT_ID,
        "event_type": event_type,
        "field": field,
        "reason": error.reason,
    }
    assert reason in error.reason
    assert EVENT_ID in str(error)
    assert event_type in str(error)
    assert field in str(error)


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("doc", [pytest.param(case[1], id=case[0]) for case in INVALID])
def test_read_as_a_head_then_completed_an_event_meets_the_same_refusal(
    wire: WireFormat, doc: dict[str, Any]
) -> None:
    """The resolver's way (the head, then the payload when it needs it)
    refuses what ``decode`` refuses, with the very same error."""
    codec = EventCodec(CATALOGUE, wire)
    data = ENCODERS[wire](doc)
    with pytest.raises(InvalidEvent) as whole:
        codec.decode(data)
    with pytest.raises(InvalidEvent) as in_parts:
        codec.complete(codec.decode_head(data))
    assert in_parts.value.as_dict() == whole.value.as_dict()


NORMALISING = {"bad email", "bad phone", "bad fax", "empty crm id"}
"""The refusals normalising makes: what the resolver already made of the interactions."""


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(
    "doc",
    [pytest.param(case[1], id=case[0]) for case in INVALID if case[0] not in NORMALISING],
)
def test_an_event_of_touchlines_own_topic_meets_the_same_refusal(
    wire: WireFormat, doc: dict[str, Any]
) -> None:
    """``decode_written`` (the interactions: identities already normalised)
    checks the head and the payload as ``decode`` does, with the same error."""
    codec = EventCodec(CATALOGUE, wire)
    data = ENCODERS[wire](doc)
    with pytest.raises(InvalidEvent) as whole:
        codec.decode(data)
    with pytest.raises(InvalidEvent) as written:
        codec.decode_written(data)
    assert written.value.as_dict() == whole.value.as_dict()


def test_an_event_of_touchlines_own_topic_keeps_its_identities_as_read() -> None:
    """What the resolver wrote decodes as ``decode`` reads it, without
    normalising the identities again (they were, at the edge)."""
    codec = EventCodec(CATALOGUE)
    raw = Identities(email=" Ann@Example.com", phone="(201) 555-0123")
    event = new_event(
        EmailOpened(message_id="m-1"),
        occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
        source="esp",
        identities=raw,
    )
    data = codec.encode(event)
    assert codec.decode_written(data).identities == raw
    normalised = codec.encode(codec.decode(data))
    assert codec.decode_written(normalised) == codec.decode(data)


def test_a_head_passes_a_payload_it_does_not_read() -> None:
    """A payload invalid for its type is refused when it is decoded, not before."""
    codec = EventCodec(CATALOGUE)
    head = codec.decode_head(msgspec.json.encode(_doc(payload={"message_id": 42})))
    assert head.type == "email.opened"
    with pytest.raises(InvalidEvent, match=r"Expected `str`, got `int`"):
        codec.complete(head)


def test_an_attributed_head_writes_the_payload_bytes_as_they_came() -> None:
    """Setting customer_id on a head re-encodes no payload: a channel's own
    spelling survives, identities are normalised, and it decodes as the whole
    event attributed would."""
    codec = EventCodec(CATALOGUE)
    payload = b'{ "subject": "Spring sale" , "message_id": "m-1" }'
    doc = msgspec.json.encode(_doc(identities={"email": "Ann@Example.com"}, payload=0))
    data = doc.replace(b'"payload":0', b'"payload":' + payload)
    routed = codec.encode(codec.decode_head(data).with_customer("cus_1"))
    assert payload in routed
    assert b'"ann@example.com"' in routed
    assert codec.decode(routed) == codec.decode(data).with_customer("cus_1")


def test_valid_document_decodes() -> None:
    """The base document the invalid cases start from is itself valid."""
    event = EventCodec(CATALOGUE).decode(msgspec.json.encode(_doc()))
    assert event.payload == EmailOpened(message_id="m-1", subject="Spring sale")


@pytest.mark.parametrize("wire", WIRES)
def test_oversize_event_is_refused_before_decoding(wire: WireFormat) -> None:
    """An event over max_event_bytes is refused, still naming the event."""
    codec = EventCodec(CATALOGUE, wire, max_event_bytes=300)
    data = ENCODERS[wire](_doc(payload={"message_id": "m-1", "subject": "x" * 400}))
    with pytest.raises(InvalidEvent, match=r"over the limit of 300") as caught:
        codec.decode(data)
    assert caught.value.event_id == EVENT_ID
    assert caught.value.event_type == "email.opened"
    assert f"event is {len(data)} bytes" in caught.value.reason


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b'{"id": "' + EVENT_ID.encode() + b'", "type": "email.opened",,}', id="syntax"
        ),
        pytest.param(b'{"id": "' + EVENT_ID.encode(), id="truncated"),
        pytest.param(b"not json", id="not json"),
    ],
)
def test_malformed_json_is_refused(data: bytes) -> None:
    """Bytes that are not JSON give InvalidEvent, not a decoder exception."""
    with pytest.raises(InvalidEvent) as caught:
        EventCodec(CATALOGUE).decode(data)
    assert caught.value.field is None
    assert caught.value.reason.startswith(("JSON is malformed", "Input data was truncated"))


def test_malformed_msgpack_is_refused() -> None:
    """Bytes that are not msgpack give InvalidEvent too."""
    with pytest.raises(InvalidEvent, match=r"truncated|malformed"):
        EventCodec(CATALOGUE, "msgpack").decode(b"\x87\xa2id")


def test_non_object_event_is_refused() -> None:
    """An array where an event object belongs is refused."""
    with pytest.raises(InvalidEvent, match="Expected `object`, got `array`"):
        EventCodec(CATALOGUE).decode(b"[1, 2]")


@pytest.mark.parametrize("wire", WIRES)
def test_decode_batch_keeps_good_events_and_indexes_bad_ones(wire: WireFormat) -> None:
    """One bad event costs only itself; each error says its index in the batch."""
    codec = EventCodec(CATALOGUE, wire)
    docs = [
        _doc(),
        _doc(payload={"subject": "no id"}),
        _doc(id="01900000-0000-7000-8000-000000000002", identities={"email": "ANN@example.com"}),
        _doc(type="email.teleported"),
        "not an event",
    ]
    results = codec.decode_batch(ENCODERS[wire](docs))
    assert [type(result).__name__ for result in results] == [
        "Envelope",
        "InvalidEvent",
        "Envelope",
        "InvalidEvent",
        "InvalidEvent",
    ]
    good = [result for result in results if isinstance(result, Envelope)]
    assert [str(event.id)[-1] for event in good] == ["1", "2"]
    assert good[1].identities.email == "ann@example.com"
    bad = [result for result in results if isinstance(result, InvalidEvent)]
    assert [error.field for error in bad] == ["[1].payload.message_id", "[3].type", "[4]"]
    assert [error.event_type for error in bad] == ["email.opened", "email.teleported", None]
    assert "at [1].payload.message_id" in str(bad[0])


def test_decode_batch_refuses_a_non_array() -> None:
    """A batch must be an array; anything else is unreadable as a whole."""
    with pytest.raises(UnreadableInput, match="not an array of events"):
        EventCodec(CATALOGUE).decode_batch(b'{"id": 1}')


def _inbound_ended_v1(agent: str | None) -> bytes:
    payload: dict[str, Any] = {"call_id": "c-1", "duration": 312, "queue": "billing"}
    if agent is not None:
        payload["agent"] = agent
    return msgspec.json.encode(
        _doc(type="call.inbound_ended", version=1, payload=payload, identities={})
    )


def test_legacy_call_event_is_upcast_with_agent_split() -> None:
    """``call.inbound_ended@1`` decodes as @2, its ``"<id> <name>"`` agent split."""
    event = EventCodec(CATALOGUE).decode(_inbound_ended_v1("A123 Jane Doe"))
    assert (event.type, event.version) == ("call.inbound_ended", 2)
    assert event.payload == InboundCallEnded(
        call_id="c-1",
        duration_seconds=312,
        queue="billing",
        agent_id="A123",
        agent_name="Jane Doe",
    )


@pytest.mark.parametrize(
    ("agent", "agent_id", "agent_name"),
    [("Jane Doe", None, "Jane Doe"), (None, None, None)],
)
def test_legacy_agent_without_id_stays_a_name(
    agent: str | None, agent_id: str | None, agent_name: str | None
) -> None:
    """A v1 agent with no recognisable id keeps its text as the name."""
    payload = EventCodec(CATALOGUE).decode(_inbound_ended_v1(agent)).payload
    assert isinstance(payload, InboundCallEnded)
    assert (payload.agent_id, payload.agent_name) == (agent_id, agent_name)


def test_upcast_event_is_re_encoded_at_the_current_version() -> None:
    """Once upcast, an old event travels on as the current version."""
    codec = EventCodec(CATALOGUE)
    event = codec.decode(_inbound_ended_v1("A123 Jane Doe"))
    again = msgspec.json.decode(codec.encode(event))
    assert again["version"] == 2
    assert again["payload"]["agent_id"] == "A123"
    assert codec.decode(codec.encode(event)) == event


def test_emails_are_lower_cased_and_trimmed() -> None:
    """Email identifiers are compared lower-cased, without surrounding space."""
    assert normalise_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(201) 555-0123", "US", "+12015550123"),
        ("201.555.0123", "US", "+12015550123"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("030 1234567", "DE", "+49301234567"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "DE", "+442079460958"),
        # A trunk prefix written after the country code is not part of the number:
        ("+44 (0) 20 7946 0958", "US", "+442079460958"),
        ("+4402079460958", "US", "+442079460958"),
        ("+49 (0)30 1234567", "US", "+49301234567"),
        ("+1 1 201 555 0123", "US", "+12015550123"),
        # ... except where a leading 0 is the number's own (Italy):
        ("+39 06 1234 5678", "US", "+390612345678"),
    ],
)
def test_phone_numbers_become_e164(raw: str, region: str, e164: str) -> None:
    """National formats are read in the default region; the result is E.164."""
    assert normalise_phone(raw, region) == e164


def test_e164_input_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Numbers already in E.164 (spacing aside), and national ones that only
    want their country code, are normalised without a full parse."""

    def no_parse(*args: object) -> None:
        raise AssertionError(f"phonenumbers.parse called with {args}")

    normalise_phone.cache_clear()
    monkeypatch.setattr(phonenumbers, "parse", no_parse)
    assert normalise_phone("+49 30 1234567", "US") == "+49301234567"
    assert normalise_phone("+12015550123", "GB") == "+12015550123"
    assert normalise_phone("(201) 555-0123", "US") == "+12015550123"
    assert normalise_phone("20 7946 0958", "GB") == "+442079460958"
    normalise_phone.cache_clear()


def test_the_fast_path_never_disagrees_with_the_parse() -> None:
    """Whatever the fast path keeps as it is, a full parse gives back
    unchanged: every region's example numbers, and the same with a trunk
    prefix or a digit too few or too many, each in E.164 spelling."""
    kept = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            code = str(example.country_code)
            national = phonenumbers.national_significant_number(example)
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
            trunk = (metadata.national_prefix or "0") if metadata is not None else "0"
            for digits in (
                national,
                "0" + national,
                trunk + national,
                national[:-1],
                national + "5",
            ):
                spelt = f"+{code}{digits}"
                if not is_canonical_e164(spelt):
                    continue
                kept += 1
                parsed = phonenumbers.parse(spelt, None)
                assert phonenumbers.is_possible_number(parsed), spelt
                assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == (
                    spelt
                )
    assert kept > 300, "the fast path kept almost nothing: nothing was checked"


def test_the_national_shortcut_never_disagrees_with_the_parse() -> None:
    """A national number of digits alone is given the country code without a
    parse only where the parse gives the same: every region's example
    numbers, as typed there (with its punctuation, with a trunk prefix, with
    the country code before it) and a digit too few or too many."""
    kept = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        trunk = (metadata.national_prefix or "0") if metadata is not None else "0"
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = phonenumbers.national_significant_number(example)
            typed = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
            code = str(example.country_code)
            variants = (national, typed, trunk + national, code + national, national[:-1])
            for raw in (*variants, national + "5"):
                shortcut = national_e164(re.sub(r"[\s().-]", "", raw), region)
                if shortcut is None:
                    continue
                kept += 1
                parsed = phonenumbers.parse(raw, region)
                assert phonenumbers.is_possible_number(parsed), (region, raw)
                e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                assert e164 == shortcut, (region, raw)
    assert kept > 300, "the shortcut kept almost nothing: nothing was checked"


def test_an_impossible_number_is_refused_however_it_is_spelt() -> None:
    """Too short for its country: refused in E.164 spelling as in national."""
    for raw in ("+1 201 555", "201 555"):
        with pytest.raises(InvalidIdentifier, match="not a possible phone number"):
            normalise_phone(raw, "US")


def test_bad_phone_names_its_field() -> None:
    """A fax number that cannot be read is reported as the fax field."""
    with pytest.raises(InvalidIdentifier, match="not a phone number") as caught:
        normalise_identities(Identities(fax="call me"))
    assert caught.value.field == "fax"


def test_codec_reads_national_numbers_in_its_default_region() -> None:
    """The codec's default_region decides how a national phone number is read."""
    data = msgspec.json.encode(_doc(identities={"phone": "030 1234567", "fax": "030 1234568"}))
    event = EventCodec(CATALOGUE, default_region="DE").decode(data)
    assert event.identities == Identities(phone="+49301234567", fax="+49301234568")


@pytest.mark.parametrize("wire", WIRES)
def test_identities_are_normalised_on_decode(wire: WireFormat) -> None:
    """Every identity is in canonical form once decoded, on either wire."""
    raw = Identities(
        email=" Ann@Example.com",
        phone="(201) 555-0123",
        crm_id=" CRM-1 ",
        partner_account="ACME-01",
        partner_customer_ref="C-4411",
    )
    codec = EventCodec(CATALOGUE, wire)
    event = new_event(
        EmailOpened(message_id="m-1"),
        occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
        source="esp",
        identities=raw,
    )
    assert codec.decode(codec.encode(event)).identities == Identities(
        email="ann@example.com",
        phone="+12015550123",
        crm_id="CRM-1",
        partner_account="ACME-01",
        partner_customer_ref="C-4411",
    )
