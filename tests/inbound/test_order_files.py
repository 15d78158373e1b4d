"""A line of a partner order file to an event, or to the reason it is none;
and what makes a whole file unreadable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inbound.conftest import EXAMPLE
from touchline.events.partner import PartnerOrderPlaced, PartnerOrderShipped
from touchline.inbound.items import Mapped, item_id
from touchline.inbound.order_files import (
    FileUnreadable,
    Header,
    Line,
    LineError,
    check,
    order_line,
    parse_items,
)
from touchline.inbound.partner_orders import PARTNER_ORDERS

HEADER = Header.of(
    Line(1, ["event", "occurred_at", "partner_account", "customer_ref", "order_id", "items",
             "total", "currency", "tracking_ref", "carrier", "event_id"])
)  # fmt: skip


def _line(*cells: str) -> Mapped | LineError:
    return order_line(HEADER, Line(7, list(cells)))


def _placed(**change: str) -> list[str]:
    cells = {
        "event": "order.placed",
        "occurred_at": "2026-11-20T09:12:00+01:00",
        "partner_account": "P-NORTH",
        "customer_ref": "n-17",
        "order_id": "NW-1",
        "items": "SPRING-KIT:2:49.50|A:B:C:1:19",
        "total": "118",
        "currency": "EUR",
        "tracking_ref": "",
        "carrier": "",
        "event_id": "",
    }
    return list({**cells, **change}.values())


def test_a_line_becomes_the_partner_order_event() -> None:
    """Cells are trimmed, numbers read, items split (a SKU may hold a colon)."""
    result = _line(*[f" {cell} " for cell in _placed()])
    assert isinstance(result, Mapped)
    payload = result.event.payload
    assert isinstance(payload, PartnerOrderPlaced)
    assert [(i.sku, i.quantity, i.unit_price) for i in payload.items] == [
        ("SPRING-KIT", 2, 49.5),
        ("A:B:C", 1, 19.0),
    ]
    assert (payload.total, payload.currency) == (118.0, "EUR")
    identities = result.event.identities
    assert (identities.partner_account, identities.partner_customer_ref) == ("P-NORTH", "n-17")
    assert result.event.source == "partner"


def test_the_id_names_the_order_event_not_where_it_was_read() -> None:
    """The same order event has one id; another event of the order, another id."""
    first, again = _line(*_placed()), _line(*_placed(total="99"))
    shipped = _line(*_placed(event="order.shipped", items="", total="", currency=""))
    assert isinstance(first, Mapped)
    assert isinstance(again, Mapped)
    assert isinstance(shipped, Mapped)
    assert first.event.id == again.event.id
    assert shipped.event.id != first.event.id


def test_each_shipment_of_an_order_is_an_event_of_its_own() -> None:
    """Two tracking references, two shipments: two ids."""
    one = _line(*_placed(event="order.shipped", total="", currency="", tracking_ref="JD1"))
    two = _line(*_placed(event="order.shipped", total="", currency="", tracking_ref="JD2"))
    assert isinstance(one, Mapped)
    assert isinstance(two, Mapped)
    assert isinstance(one.event.payload, PartnerOrderShipped)
    assert one.event.id != two.event.id


def test_the_partners_event_id_gives_the_webhooks_id() -> None:
    """One order event sent as a webhook and in a file is one event."""
    result = _line(*_placed(event_id="evt_42"))
    assert isinstance(result, Mapped)
    assert result.event.id == item_id(PARTNER_ORDERS, "evt_42")


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"event": "order.returned"}, "unknown_event", "order.returned"),
        ({"occurred_at": "2026-11-20 09:12"}, "invalid", "without its zone"),
        ({"occurred_at": "yesterday"}, "invalid", "Invalid isoformat"),
        ({"customer_ref": ""}, "no_identifier", "customer ref"),
        ({"currency": "eur"}, "invalid", "$.currency"),
        ({"items": "SCARF x 2"}, "invalid", "sku:quantity:unit_price"),
        ({"items": "SCARF:0:3"}, "invalid", "$.items[0].quantity"),
        ({"items": ""}, "invalid", "items"),
        ({"total": "-1"}, "invalid", "$.total"),
        ({"carrier": "DHL"}, "invalid", "carrier"),
    ],
)
def test_a_bad_line_says_why(change: dict[str, str], code: str, words: str) -> None:
    """Every way a line can be wrong gives its line, a code and a reason."""
    result = _line(*_placed(**change))
    assert isinstance(result, LineError)
    assert (result.line, result.code) == (7, code)
    assert words in result.reason


def test_a_line_with_too_few_cells_is_reported() -> None:
    result = _line("order.placed", "2026-11-20T09:12:00+01:00")
    assert isinstance(result, LineError)
    assert result.reason == "2 cells where the header has 11"


def test_items_read_from_the_right() -> None:
    assert parse_items("A:1:2") == [{"sku": "A", "quantity": "1", "unit_price": "2"}]
    assert isinstance(parse_items("A:1"), str)
    assert isinstance(parse_items("A:1:2|"), str)


@pytest.mark.parametrize(
    ("content", "line", "code", "words"),
    [
        (b"", 1, "no_header", "empty"),
        (b"event,occurred_at,partner_account,customer_ref\n", 1, "bad_header", "order_id"),
        (b"event,occurred_at,partner_account,customer_ref,order_id,tracking_no\n", 1,
         "bad_header", "unknown columns: tracking_no"),
        (b"event,Event,occurred_at,partner_account,customer_ref,order_id\n", 1,
         "bad_header", "named twice: event"),
        (b"event,occurred_at,partner_account,customer_ref,order_id\n\n", 1, "no_lines", ""),
        (b"event,occurred_at,partner_account,customer_ref,order_id\na,b,c,d,e\n"
         b'a,"b"x,c,d,e\n', 3, "unreadable", "not CSV"),
        (b"event,occurred_at,partner_account,customer_ref,order_id\na,b,c,d,\xff\n", 2,
         "unreadable", "not UTF-8"),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_read_as_a_whole(
    tmp_path: Path, content: bytes, line: int, code: str, words: str
) -> None:
    """Unreadable, a wrong header, or no lines: the file is refused whole, with where."""
    path = tmp_path / "orders.csv"
    path.write_bytes(content)
    with pytest.raises(FileUnreadable) as raised:
        check(path)
    assert (raised.value.problem.line, raised.value.problem.code) == (line, code)
    assert words in raised.value.problem.reason


def test_the_example_counts_its_lines() -> None:
    """A byte-order mark and a capitalised header are read; blank lines are not lines."""
    assert check(EXAMPLE) == 14
