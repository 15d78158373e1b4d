"""A partner's order file: CSV, one order event per line, read into the webhook's shape.

Line 1 is the header: column names in any order, case and surrounding
spaces ignored. :data:`REQUIRED` must be there; :data:`OPTIONAL` may be; any
other column fails the file, since a misspelt ``tracking_no`` would
otherwise lose its values on every line without a word. Cells are trimmed,
and an empty cell is a value not given. ``items`` lists the goods as
``sku:quantity:unit_price`` separated by ``|`` (``SPRING-KIT:2:49.50|CARE-PLAN:1:19``).

Each line becomes the partner order webhook's item and goes through the
same mapping (:func:`touchline.inbound.partner_orders.partner_order`). Its
event id names the order event, not the place it was read from: the
partner's ``event_id`` when the line has one (the webhook's id for it, so an
event sent both ways is one event), else the partner, the order, the event
and, for a shipment, its tracking reference. So the same line in a later
file (a day exported again, a file dropped twice, a file re-read after a
crash) is a ``duplicate``, and a line that changes an order already
published (another total) is refused as a conflicting duplicate, never
counted twice.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

from touchline.inbound.items import Mapped, Unmapped, item_id
from touchline.inbound.partner_orders import PARTNER_ORDERS, SOURCE, partner_order

REQUIRED = ("event", "occurred_at", "partner_account", "customer_ref", "order_id")
"""``event``: ``order.placed``, ``order.shipped`` or ``order.cancelled``;
``occurred_at``: ISO 8601 with its zone."""
OPTIONAL = (
    "event_id",
    "partner_name",
    "customer_email",
    "customer_phone",
    "items",
    "total",
    "currency",
    "carrier",
    "tracking_ref",
    "reason",
    "amount_refunded",
)
ORDER_COLUMNS = (
    "order_id",
    "total",
    "currency",
    "carrier",
    "tracking_ref",
    "reason",
    "amount_refunded",
)
"""The columns that are the order's own fields, as the webhook's ``order`` holds them."""

FILES = "partner-order-files"
"""The provider name in the ids of lines without an ``event_id``."""
ENCODING = "utf-8-sig"
"""UTF-8, with or without the byte-order mark spreadsheets write."""


@dataclass(frozen=True, slots=True)
class LineError:
    """Why a line (or, at line 1 or wherever it broke, the file) was not published."""

    line: int
    code: str
    reason: str
    event_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    """Where the line starts in the file (the header is line 1)."""
    cells: list[str]


class FileUnreadable(Exception):
    """The file as a whole cannot be taken: nothing of it is published."""

    def __init__(self, problem: LineError) -> None:
        super().__init__(f"line {problem.line}: {problem.reason}")
        self.problem = problem


def open_file(path: Path) -> BinaryIO:
    return path.open("rb")


def lines(stream: BinaryIO) -> Iterator[Line]:
    """Every non-blank record, header included, with the line it starts on.

    Raises :class:`FileUnreadable` where the bytes are not UTF-8 or the CSV
    does not parse (a quote left open, text after a closing quote)."""
    reader = csv.reader(_decoded(stream), strict=True)
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield Line(start, cells)
            start = reader.line_num + 1
    except csv.Error as error:
        raise FileUnreadable(LineError(start, "unreadable", f"not CSV: {error}")) from None


def _decoded(stream: BinaryIO) -> Iterator[str]:
    """The file's lines as text, line endings kept (as csv wants them).

    Decoded a line at a time, so that bad bytes are reported at their line:
    a newline byte is never part of a longer UTF-8 sequence."""
    for number, raw in enumerate(stream, 1):
        try:
            yield raw.decode(ENCODING if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            reason = f"not UTF-8 text: byte {error.start + 1} of the line"
            raise FileUnreadable(LineError(number, "unreadable", reason)) from None


@dataclass(frozen=True, slots=True)
class Header:
    columns: tuple[str, ...]

    @classmethod
    def of(cls, line: Line | None) -> Header:
        """The header, or :class:`FileUnreadable` saying what is wrong with it."""
        if line is None:
            raise FileUnreadable(LineError(1, "no_header", "the file is empty: no header"))
        columns = tuple(cell.strip().lower() for cell in line.cells)

        def refuse(reason: str) -> FileUnreadable:
            return FileUnreadable(LineError(line.number, "bad_header", reason))

        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise refuse(f"columns named twice: {', '.join(repeated)}")
        unknown = [c for c in columns if c not in REQUIRED and c not in OPTIONAL]
        if unknown:
            known = ", ".join(REQUIRED + OPTIONAL)
            raise refuse(f"unknown columns: {', '.join(unknown)} (known: {known})")
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise refuse(f"missing columns: {', '.join(missing)}")
        return cls(columns)


def check(path: Path) -> int:
    """The number of order lines in the file, read through once before any is
    published: a file that goes to ``failed`` has published nothing."""
    with open_file(path) as stream:
        records = lines(stream)
        Header.of(next(records, None))
        count = sum(1 for _ in records)
    if count == 0:
        raise FileUnreadable(LineError(1, "no_lines", "a header and no order lines"))
    return count


def order_line(header: Header, line: Line, *, partner: str | None = None) -> Mapped | LineError:
    """The event for one line, or why there is none; ``partner`` the one
    account the folder takes orders of (None: any)."""
    if len(line.cells) != len(header.columns):
        reason = f"{len(line.cells)} cells where the header has {len(header.columns)}"
        return LineError(line.number, "invalid", reason)
    row = {
        column: cell.strip()
        for column, cell in zip(header.columns, line.cells, strict=True)
        if cell.strip()
    }
    event_id = line_id(row)
    order: dict[str, object] = {c: row[c] for c in ORDER_COLUMNS if c in row}
    if "items" in row:
        items = parse_items(row["items"])
        if isinstance(items, str):
            return LineError(line.number, "invalid", items, event_id)
        order["items"] = items
    item = {
        "event": row.get("event"),
        "occurred_at": row.get("occurred_at"),
        "partner": {"account": row.get("partner_account"), "name": row.get("partner_name")},
        "customer": {
            "ref": row.get("customer_ref"),
            "email": row.get("customer_email"),
            "phone": row.get("customer_phone"),
        },
        "order": order,
    }
    result = partner_order(item, event_id=event_id, source=SOURCE)
    if isinstance(result, Unmapped):
        return LineError(line.number, result.code, result.reason, event_id)
    named = row.get("partner_account")
    if partner is not None and named != partner:
        reason = f"names partner {named}: this folder takes {partner}'s orders only"
        return LineError(line.number, "wrong_partner", reason, event_id)
    return result


def line_id(row: dict[str, str]) -> UUID:
    """The event id of a line: see the module's docstring for why."""
    partner_event = row.get("event_id")
    if partner_event:
        return item_id(PARTNER_ORDERS, partner_event)
    event = row.get("event", "")
    key = f"{row.get('partner_account', '')}/{row.get('order_id', '')}/{event}"
    if event == "order.shipped" and row.get("tracking_ref"):
        # An order may leave in several shipments: each is an event of its own.
        key += f"/{row['tracking_ref']}"
    return item_id(FILES, key)


def parse_items(cell: str) -> list[dict[str, str]] | str:
    """``sku:quantity:unit_price|...`` as the webhook's line items, or what is wrong."""
    items = []
    for part in cell.split("|"):
        # From the right: a SKU may itself hold a colon.
        fields = [field.strip() for field in part.rsplit(":", 2)]
        if len(fields) != 3 or not all(fields):
            return f"items: {part.strip()!r} is not sku:quantity:unit_price"
        sku, quantity, unit_price = fields
        items.append({"sku": sku, "quantity": quantity, "unit_price": unit_price})
    return items
