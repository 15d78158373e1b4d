"""A watched folder of partner order files: good lines published once and
projected, bad lines reported with their line and reason, each file filed in
done/ or failed/, a file dropped again publishing nothing new."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec

from tests.inbound.conftest import EXAMPLE
from tests.inbound.orders import HEADER, appended, drop, placed_lines, types_of
from touchline.bootstrap import Backbone
from touchline.inbound.drop_folder import ReportLine, take_all
from touchline.publish import Publisher

PLACED, SHIPPED = "partner.order_placed", "partner.order_shipped"
CANCELLED = "partner.order_cancelled"
REPORTED = {
    7: "invalid",  # an occurred_at without its zone
    8: "unknown_event",  # order.returned
    9: "invalid",  # items not sku:quantity:unit_price
    11: "no_identifier",  # no customer ref
    12: "invalid",  # currency "eur"
    13: "invalid",  # too few cells
    16: "conflicting_duplicate",  # order NW-88413 placed again with another total
}


def _report(path: Path) -> dict[int, ReportLine]:
    rows = [msgspec.json.decode(line, type=ReportLine) for line in path.read_bytes().splitlines()]
    return {row.line: row for row in rows}


def test_the_example_publishes_its_good_lines_and_reports_the_rest(
    folder: Path, publisher: Publisher, backbone: Backbone
) -> None:
    """Six orders events land on their customers' timelines once; every bad
    line is in the report with its line number and reason; the file is done."""
    shutil.copy(EXAMPLE, folder / EXAMPLE.name)
    # Small chunks: the repeat and the conflict meet their first line in an
    # earlier publish, through the publisher's ledger.
    [outcome] = take_all(folder, publisher, chunk=4)
    assert (outcome.lines, outcome.accepted, outcome.duplicates) == (14, 6, 1)
    assert not outcome.failed
    assert outcome.moved_to == folder / "done" / EXAMPLE.name
    assert not (folder / EXAMPLE.name).exists()
    assert list((folder / "processing").iterdir()) == []
    assert outcome.report == folder / "done" / f"{EXAMPLE.name}.errors.jsonl"
    report = _report(outcome.report)
    assert {line: row.code for line, row in report.items()} == REPORTED
    assert "without its zone" in report[7].reason
    assert "order.returned" in report[8].reason
    assert report[13].event_id is None  # too few cells to name the order event
    assert "earlier publish" in report[16].reason
    backbone.runtime.catch_up()
    assert types_of(backbone, "email:ann@example.com") == [PLACED, SHIPPED, SHIPPED]
    assert types_of(backbone, "partner:P-NORTH/n-17") == [PLACED, SHIPPED, SHIPPED]
    assert types_of(backbone, "email:bob@example.com") == [CANCELLED, PLACED]
    assert types_of(backbone, "email:gus@example.com") == [PLACED]
    for absent in ("email:cy@example.com", "email:eve@example.com", "email:fay@example.com"):
        assert backbone.queries.find(absent).customer_id is None


def test_a_file_dropped_again_publishes_nothing_new(
    folder: Path, publisher: Publisher, backbone: Backbone
) -> None:
    """The same lines again are duplicates: nothing appended, the second
    copy filed beside the first under a name of its own."""
    drop(folder, "orders.csv", EXAMPLE.read_bytes())
    take_all(folder, publisher)
    before = appended(backbone)
    drop(folder, "orders.csv", EXAMPLE.read_bytes())
    [again] = take_all(folder, publisher)
    assert (again.accepted, again.duplicates) == (0, 7)
    assert appended(backbone) == before
    assert again.moved_to == folder / "done" / "orders.1.csv"
    assert (folder / "done" / "orders.csv").exists()
    assert again.report is not None
    assert set(_report(again.report)) == set(REPORTED)


def test_a_bad_header_fails_the_file_and_publishes_nothing(
    folder: Path, publisher: Publisher, backbone: Backbone
) -> None:
    """A misspelt column fails the whole file, even with good lines after it."""
    content = placed_lines(3).replace("customer_ref", "customer_reference")
    drop(folder, "orders.csv", content)
    [outcome] = take_all(folder, publisher)
    assert outcome.failed
    assert outcome.moved_to == folder / "failed" / "orders.csv"
    assert outcome.report is not None
    [row] = _report(outcome.report).values()
    assert (row.line, row.code) == (1, "bad_header")
    assert "unknown columns: customer_reference" in row.reason
    assert appended(backbone) == 0


def test_a_file_of_only_bad_lines_fails(
    folder: Path, publisher: Publisher, backbone: Backbone
) -> None:
    """Not one line published: the file is in failed/, every line in its report."""
    drop(folder, "orders.csv", HEADER + "order.placed,yesterday,P-WEST,c-1,W-1,K:1:1,1,EUR\n" * 2)
    [outcome] = take_all(folder, publisher)
    assert outcome.failed
    assert outcome.moved_to.parent.name == "failed"
    assert outcome.report is not None
    assert set(_report(outcome.report)) == {2, 3}
    assert appended(backbone) == 0


def test_files_still_being_written_are_left_alone(folder: Path, publisher: Publisher) -> None:
    """Only ``*.csv`` is taken: a ``.part`` (still being written) and hidden files stay."""
    (folder / "orders.csv.part").write_text(placed_lines(1))
    (folder / ".orders.csv").write_text(placed_lines(1))
    assert take_all(folder, publisher) == []
    assert (folder / "orders.csv.part").exists()
    assert (folder / ".orders.csv").exists()


def test_a_file_a_crash_left_in_processing_is_taken_first(
    folder: Path, publisher: Publisher, backbone: Backbone
) -> None:
    """The claimed file is read again, and one dropped since under the same
    name is claimed after it, never in its place."""
    (folder / "processing").mkdir()
    (folder / "processing" / "orders.csv").write_text(placed_lines(2))
    drop(folder, "orders.csv", placed_lines(3))
    first, second = take_all(folder, publisher)
    assert (first.accepted, first.moved_to.name) == (2, "orders.csv")
    assert (second.accepted, second.duplicates, second.moved_to.name) == (1, 2, "orders.1.csv")
    backbone.runtime.catch_up()
    for n in (1, 2, 3):
        assert types_of(backbone, f"partner:P-WEST/c-{n}") == [PLACED]


def test_a_folder_of_one_partner_reports_lines_naming_another(
    folder: Path, publisher: Publisher, backbone: Backbone
) -> None:
    """A folder given to P-SOUTH: P-NORTH's otherwise good lines are reported
    wrong_partner and nothing is published; given to P-NORTH, they go."""
    drop(folder, "orders.csv", EXAMPLE.read_bytes())
    [refused] = take_all(folder, publisher, partner="P-SOUTH")
    assert refused.failed
    assert refused.accepted == 0
    assert appended(backbone) == 0
    assert refused.report is not None
    codes = {line: row.code for line, row in _report(refused.report).items()}
    wrong = {line for line, code in codes.items() if code == "wrong_partner"}
    assert wrong
    assert wrong.isdisjoint(set(REPORTED) - {16})  # the bad lines keep their own reasons
    drop(folder, "orders.csv", EXAMPLE.read_bytes())
    [taken] = take_all(folder, publisher, partner="P-NORTH")
    assert (taken.accepted, taken.duplicates) == (6, 1)
