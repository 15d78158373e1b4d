"""The Segment mapping on its own: calls in, typed events (or reasons) out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.conftest import DAY
from touchline.api.segment_mapping import (
    IDENTIFY_METHOD,
    UNKNOWN_TRACK,
    UNSUPPORTED_CALL,
    SegmentRules,
    TrackMapping,
    Unmapped,
    event_id,
    map_call,
)
from touchline.api.segment_rules import track_mappings
from touchline.api.segment_spec import Call
from touchline.events import Envelope, Identities
from touchline.events.campaign import OfferResponded
from touchline.events.codec import INVALID
from touchline.events.identity import CustomerIdentified
from touchline.events.web import FormSubmitted, PageViewed, Searched

RULES = SegmentRules()
RECEIVED = DAY + timedelta(hours=1)
ID = event_id("segment", "m-0", b"{}")


def _call(**fields: Any) -> Call:
    """A call as an SDK puts it on the wire (camelCase JSON), read back."""
    return msgspec.json.decode(msgspec.json.encode(fields), type=Call)


def _mapped(call: Call, rules: SegmentRules = RULES) -> Envelope | Unmapped:
    return map_call(call, rules, source="shop", event_id=ID, received_at=RECEIVED)


def _event(call: Call, rules: SegmentRules = RULES) -> Envelope:
    mapped = _mapped(call, rules)
    assert isinstance(mapped, Envelope), mapped
    return mapped


def _unmapped(call: Call, rules: SegmentRules = RULES) -> Unmapped:
    mapped = _mapped(call, rules)
    assert isinstance(mapped, Unmapped), mapped
    return mapped


def test_a_page_becomes_a_page_view_of_the_anonymous_visitor() -> None:
    """url, title and referrer from the properties; the anonymous id is the
    web id; the sender's timestamp is when it happened; the id is the one given."""
    event = _event(
        _call(
            type="page",
            anonymousId="anon-1",
            name="Pricing",
            properties={
                "url": "https://shop.example/pricing",
                "referrer": "https://search.example",
            },
            timestamp=DAY.isoformat(),
        )
    )
    assert event.payload == PageViewed(
        url="https://shop.example/pricing", title="Pricing", referrer="https://search.example"
    )
    assert (event.identities, event.occurred_at) == (Identities(web_id="anon-1"), DAY)
    assert (event.id, event.source) == (ID, "shop")


def test_a_page_reads_its_url_from_the_context_and_needs_one() -> None:
    """Browser SDKs put the page in context.page; a page without any url is unmapped."""
    page = {"url": "https://shop.example/", "title": "Home"}
    event = _event(_call(type="page", anonymousId="a", context={"page": page, "sessionId": 17}))
    assert event.payload == PageViewed(url="https://shop.example/", title="Home", session_id="17")
    nowhere = _unmapped(_call(type="page", anonymousId="a", name="Home"))
    assert (nowhere.code, nowhere.identities) == (INVALID, Identities(web_id="a"))


def test_identify_joins_the_anonymous_id_to_the_users_identifiers() -> None:
    """One customer.identified carrying the web id, the CRM id (userId), the
    email (traits, lower-cased) and the phone (RudderStack's context.traits, E.164)."""
    event = _event(
        _call(
            type="identify",
            anonymousId="anon-1",
            userId=42,
            traits={"email": "Ann@Example.com", "name": "Ann"},
            context={"traits": {"phone": "(415) 555-0134"}},
        )
    )
    assert event.payload == CustomerIdentified(method=IDENTIFY_METHOD)
    assert event.identities == Identities(
        web_id="anon-1", crm_id="42", email="ann@example.com", phone="+14155550134"
    )


def test_the_user_id_is_the_identifier_the_rules_name() -> None:
    """TOUCHLINE_SEGMENT_USER_ID=email: the userId is the email (normalised)."""
    rules = SegmentRules(user_id="email")
    event = _event(_call(type="identify", userId="Ann@Example.com"), rules)
    assert event.identities == Identities(email="ann@example.com")


def test_a_bad_identifier_is_named_by_where_it_came_from() -> None:
    """An email trait that is none leaves the call unmapped, the good identifiers kept."""
    unmapped = _unmapped(_call(type="identify", anonymousId="a", traits={"email": "not-mail"}))
    assert unmapped.code == INVALID
    assert unmapped.reason.startswith("traits.email: ")
    assert unmapped.identities == Identities(web_id="a")


def test_a_track_named_for_a_catalogue_type_is_that_type() -> None:
    """Its properties are the payload; campaign_id goes to the envelope."""
    event = _event(
        _call(
            type="track",
            userId="u1",
            event="campaign.offer_responded",
            properties={"response": "accepted", "via": "web", "campaign_id": "spring"},
        )
    )
    assert event.payload == OfferResponded(response="accepted", via="web")
    assert (event.type, event.campaign_id) == ("campaign.offer_responded", "spring")


def test_a_track_whose_properties_do_not_fit_its_type_is_unmapped() -> None:
    """A property of the wrong type, or one the type lacks, is named."""
    wrong = _unmapped(
        _call(type="track", userId="u1", event="web.searched", properties={"query": 7})
    )
    assert (wrong.code, "`properties.query`" in wrong.reason) == (INVALID, True)
    extra = _unmapped(
        _call(
            type="track",
            userId="u1",
            event="web.searched",
            properties={"query": "boots", "result_count": 3, "colour": "red"},
        )
    )
    assert (extra.code, "colour" in extra.reason) == (INVALID, True)


def test_an_unknown_track_is_unmapped_and_says_so() -> None:
    """No catalogue type, no mapping: unknown_track, naming the event."""
    unmapped = _unmapped(_call(type="track", anonymousId="a", event="Signed Up"))
    assert unmapped.code == UNKNOWN_TRACK
    assert "'Signed Up'" in unmapped.reason
    assert unmapped.identities == Identities(web_id="a")


def test_a_configured_mapping_renames_sets_and_ignores() -> None:
    """Properties renamed to the payload's fields, fixed fields set, the
    ignored ones left out; any other property must still fit."""
    rules = SegmentRules(
        tracks={
            "Products Searched": TrackMapping(
                type="web.searched", rename={"results": "result_count"}, ignore=("category",)
            ),
            "Signed Up": TrackMapping(type="web.form_submitted", fixed={"form": "sign-up"}),
        }
    )
    searched = _call(
        type="track",
        userId="u1",
        event="Products Searched",
        properties={"query": "boots", "results": 3, "category": "shoes"},
    )
    assert _event(searched, rules).payload == Searched(query="boots", result_count=3)
    signed = _call(type="track", userId="u1", event="Signed Up")
    assert _event(signed, rules).payload == FormSubmitted(form="sign-up")
    stray = _call(type="track", userId="u1", event="Signed Up", properties={"plan": "pro"})
    assert _unmapped(stray, rules).code == INVALID


@pytest.mark.parametrize("kind", ["screen", "group", "alias", "bogus"])
def test_calls_without_a_catalogue_type_are_unmapped(kind: str) -> None:
    """screen, group and alias (and a type the spec lacks) have no catalogue type."""
    unmapped = _unmapped(_call(type=kind, userId="u1", previousId="a", groupId="g"))
    assert unmapped.code == UNSUPPORTED_CALL
    assert unmapped.identities == Identities(crm_id="u1")


def test_the_time_is_the_senders_else_the_moment_received() -> None:
    """A time without a zone is UTC; no time at all is when the call arrived."""
    naive = _event(
        _call(type="identify", userId="u", originalTimestamp="2026-11-20T09:00:00")
    ).occurred_at
    assert naive == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert _event(_call(type="identify", userId="u")).occurred_at == RECEIVED


def test_the_event_id_follows_the_message_id_and_the_source() -> None:
    """The same messageId is the same event from one source, another from
    another; without one, the same bytes are the same event."""
    assert event_id("shop", "m-1", b"a") == event_id("shop", " m-1 ", b"b")
    assert event_id("shop", "m-1", b"a") != event_id("crm", "m-1", b"a")
    assert event_id("shop", None, b"a") == event_id("shop", "", b"a")
    assert event_id("shop", None, b"a") != event_id("shop", None, b"b")


def test_mappings_are_read_inline_or_from_a_file(tmp_path: Path) -> None:
    """Inline JSON, a JSON file or a TOML file: the same mappings."""
    inline = '{"track": {"Signed Up": {"type": "web.form_submitted", "fixed": {"form": "x"}}}}'
    toml = tmp_path / "segment.toml"
    toml.write_text('[track."Signed Up"]\ntype = "web.form_submitted"\nfixed = { form = "x" }\n')
    json = tmp_path / "segment.json"
    json.write_text(inline)
    expected = {"Signed Up": TrackMapping(type="web.form_submitted", fixed={"form": "x"})}
    assert track_mappings(inline) == track_mappings(str(toml)) == track_mappings(str(json))
    assert track_mappings(inline) == expected
    assert track_mappings("") == {}


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ('{"track": {"X": {"type": "web.teleported"}}}', "no catalogue type"),
        ('{"track": {"X": {"type": "web.searched", "rename": {"q": "qurey"}}}}', "no field"),
        ('{"track": {"X": {"type": "web.searched", "renames": {}}}}', "unknown field"),
        ("/nowhere/segment.toml", "No such file"),
    ],
)
def test_a_mistaken_mapping_stops_the_start(setting: str, complaint: str) -> None:
    """A typo is refused when the API starts, naming the setting."""
    with pytest.raises(ValueError, match="TOUCHLINE_SEGMENT_MAPPING") as refused:
        track_mappings(setting)
    assert complaint in str(refused.value)
