"""The edge refuses what no processor could take, names why, and keeps the rest.

Each test here is one of the three classes issue 8 found: accepted then
lost (timestamps, NUL, integers, column widths), a crash that cost the whole
batch (deep nesting, unreadable input), and a conflicting duplicate dropped
in silence.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import String

from touchline.bootstrap import Backbone
from touchline.config import load_settings
from touchline.events import CATALOGUE, EventCodec
from touchline.events.codec import UnreadableInput
from touchline.events.edge import EdgeRules, edge_problem
from touchline.store.tables import timeline_entries

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def raw_event(n: int, occurred_at: str = "2026-11-20T09:00:00Z", **fields: Any) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{n:012d}",
        "type": "email.opened",
        "version": 1,
        "occurred_at": occurred_at,
        "source": "esp",
        "identities": {"email": "ann@example.com"},
        "payload": {"message_id": "m1", "subject": "Spring offer"},
        **fields,
    }


def _problem(raw: dict[str, Any], rules: EdgeRules | None = None) -> tuple[str, str] | None:
    rules = rules or EdgeRules()
    event = EventCodec(CATALOGUE).decode(json.dumps(raw).encode())
    problem = edge_problem(event, rules, NOW)
    return None if problem is None else (problem.field, problem.reason)


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:30:00+01:00",  # .NET DateTimeOffset.MinValue seen from UTC+1
        "9999-12-31T23:30:00-05:00",  # .NET DateTimeOffset.MaxValue seen from UTC-5
    ],
)
def test_a_time_that_does_not_exist_in_utc_is_refused(moment: str) -> None:
    field, reason = _problem(raw_event(1, moment)) or ("", "")
    assert field == "$.occurred_at"
    assert "cannot be represented in UTC" in reason


def test_the_sanity_window_is_1970_to_a_day_after_recording() -> None:
    assert _problem(raw_event(1, "1969-12-31T23:59:59Z")) is not None
    assert _problem(raw_event(1, "1970-01-01T00:00:00Z")) is None
    assert _problem(raw_event(1, (NOW + timedelta(hours=23)).isoformat())) is None
    field, reason = _problem(raw_event(1, (NOW + timedelta(hours=25)).isoformat())) or ("", "")
    assert field == "$.occurred_at"
    assert "TOUCHLINE_EDGE_FUTURE_SECONDS" in reason
    # A channel's own recorded_at is the moment the future is judged from...
    recorded = {"recorded_at": "2020-01-01T00:00:00Z"}
    assert _problem(raw_event(1, "2020-02-01T00:00:00Z", **recorded)) is not None
    # ...and may not itself lie in the future.
    assert _problem(raw_event(1, recorded_at=(NOW + timedelta(days=2)).isoformat())) is not None


def test_the_window_is_configurable() -> None:
    settings = load_settings(
        {"TOUCHLINE_EDGE_EARLIEST": "2000-01-01T00:00:00Z", "TOUCHLINE_EDGE_FUTURE_SECONDS": "60"}
    )
    rules = settings.edge_rules()
    assert _problem(raw_event(1, "1999-06-01T00:00:00Z"), rules) is not None
    assert _problem(raw_event(1, (NOW + timedelta(minutes=2)).isoformat()), rules) is not None
    with pytest.raises(ValueError, match="TOUCHLINE_EDGE_EARLIEST"):
        load_settings({"TOUCHLINE_EDGE_EARLIEST": "last tuesday"}).edge_rules()
    with pytest.raises(ValueError, match="needs a zone"):
        load_settings({"TOUCHLINE_EDGE_EARLIEST": "2000-01-01T00:00:00"}).edge_rules()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"payload": {"message_id": "m\x00", "subject": "s"}}, "$.payload.message_id", "NUL"),
        ({"source": "s" * 201}, "$.source", "longer than the 200"),
        ({"campaign_id": "c" * 101}, "$.campaign_id", "longer than the 100"),
        ({"identities": {"crm_id": "x" * 201}}, "$.identities.crm_id", "longer than the 200"),
    ],
)
def test_values_no_store_can_hold_are_refused(
    change: dict[str, Any], field: str, words: str
) -> None:
    found, reason = _problem(raw_event(1, **change)) or ("", "")
    assert (found, words in reason) == (field, True)


@pytest.mark.parametrize("column", ["source", "campaign_id", "customer_id"])
def test_the_edge_holds_each_envelope_text_to_its_columns_width(column: str) -> None:
    """The edge keeps its own copy of these widths (events/ imports no
    storage code): read from the table itself, so the two cannot drift."""
    stored = timeline_entries.c[column].type
    assert isinstance(stored, String)
    width = stored.length
    assert width is not None
    assert _problem(raw_event(1, **{column: "x" * width})) is None
    found, reason = _problem(raw_event(1, **{column: "x" * (width + 1)})) or ("", "")
    assert (found, f"longer than the {width}" in reason) == (f"$.{column}", True)


def test_integers_past_64_bits_are_refused() -> None:
    raw = raw_event(1)
    raw["type"] = "web.cart_updated"
    raw["payload"] = {
        "items": [{"sku": "s", "quantity": 2**63, "unit_price": 1.0}],
        "cart_value": 1.0,
        "currency": "EUR",
    }
    field, reason = _problem(raw) or ("", "")
    assert field == "$.payload.items[0].quantity"
    assert "64 bits" in reason


def test_a_channel_cannot_publish_a_merge(backbone: Backbone) -> None:
    raw = raw_event(1)
    raw["type"] = "customer.merged"
    raw["payload"] = {"survivor_id": "cus_a", "merged_id": "cus_b", "merged_by": "x", "reason": "y"}
    [error] = backbone.publisher.publish_raw(json.dumps(raw).encode()).rejected
    assert "written by the resolver" in str(error)


def test_a_channel_cannot_publish_what_the_synchronizer_writes(backbone: Backbone) -> None:
    """State changes and actions come from the synchronizer alone: a publisher is refused."""
    raw = raw_event(1)
    raw["type"] = "action.cancelled"
    raw["payload"] = {"action_id": "01900000-0000-7000-8000-000000000009", "reason": "no"}
    [error] = backbone.publisher.publish_raw(json.dumps(raw).encode()).rejected
    assert "written by the campaign synchronizer" in str(error)
    assert error.field == "$.type"


def test_deep_nesting_is_refused_and_its_neighbours_kept(backbone: Backbone) -> None:
    """1,200 levels used to raise RecursionError and lose the whole file."""
    deep = '{"a":' * 1200 + "1" + "}" * 1200
    bad = json.dumps(raw_event(2)).replace('"subject": "Spring offer"', f'"subject": {deep}')
    data = (
        f"[{json.dumps(raw_event(1))}, {bad}, {'[' * 1200}{']' * 1200}, {json.dumps(raw_event(3))}]"
    )
    result = backbone.publisher.publish_raw(data.encode())
    assert sorted(str(event.id)[-1] for event, _ in result.accepted) == ["1", "3"]
    assert [error.field for error in result.rejected][:1] == ["[1]"]
    assert "nesting is too deep" in str(result.rejected[0])
    assert [error.index for error in result.rejected] == [1, 2]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "the input is empty"),
        (b"  \n", "the input is empty"),
        (b"hello", "not an array of events"),
        (b'[{"id": "x"', "not an array of events"),
        (b"[" * 5000, "nesting is too deep"),
    ],
)
def test_unreadable_input_is_refused_whole_with_one_line(
    backbone: Backbone, data: bytes, words: str
) -> None:
    with pytest.raises(UnreadableInput) as raised:
        backbone.publisher.publish_raw(data)
    message = str(raised.value)
    assert words in message
    assert "\n" not in message
    assert not message.startswith("event ?")  # no event to name: no placeholder


def test_an_empty_array_publishes_nothing_quietly(backbone: Backbone) -> None:
    result = backbone.publisher.publish_raw(b"[]")
    assert (result.accepted, result.rejected) == ([], [])


def test_a_conflicting_duplicate_in_one_batch_is_refused(backbone: Backbone) -> None:
    """Same id, other content: the second is refused with both digests; an
    exact repeat is accepted at the first one's position."""
    first = raw_event(1)
    other = raw_event(1, "2026-11-20T10:00:00Z")
    batch = json.dumps([first, other, first]).encode()
    result = backbone.publisher.publish_raw(batch)
    [error] = result.rejected
    assert error.field == "[1].id"
    assert "conflicting duplicate" in str(error)
    assert str(error).count("digest") == 1
    [(_, here), (_, again)] = result.accepted
    assert here == again


def test_a_lone_surrogate_costs_only_its_own_event(backbone: Backbone) -> None:
    """msgspec refuses the whole array for one lone surrogate; the scan by
    brackets (strings holding brackets, commas and escaped quotes included)
    keeps the neighbours."""
    tricky = raw_event(1, source='esp "[x], {y}"')
    broken = json.dumps(raw_event(2)).replace('"esp"', '"esp \\ud800"')
    data = f"[{json.dumps(tricky)}, {broken}, {json.dumps(raw_event(3))}]".encode()
    result = backbone.publisher.publish_raw(data)
    assert sorted(str(event.id)[-1] for event, _ in result.accepted) == ["1", "3"]
    [error] = result.rejected
    assert error.index == 1
