"""A watched folder of partner order files: take each, publish its good lines, file it.

The folder's layout::

    DIR/              producers drop ``*.csv`` here (write ``name.csv.part``, then rename)
    DIR/processing/   the file being read: claimed here first, so a producer dropping
                      the same name again never replaces a file half read
    DIR/done/         read: every good line published; ``<name>.errors.jsonl``
                      beside it lists the lines that were not, when there are any
    DIR/failed/       not taken: nothing of it was published; ``<name>.errors.jsonl`` says why

A file goes to ``failed`` when it cannot be read as a whole (not UTF-8, not
CSV, a header that is missing, misspelt or repeated, no order lines) or when
not one of its lines could be published; otherwise to ``done``, with the
lines that could not be published in its report (line number, code, reason,
event id). A line is never dropped silently.

Nothing is lost or doubled on a crash: a file stays in ``processing`` until
its report is written and it is moved (last, and atomically: ``os.replace``
within one filesystem), and a restart reads it again from line 1. Each
line's event id is derived from the order event (:mod:`order_files`) and the
publisher remembers the ids it accepted, so the lines published before the
crash come back ``duplicate`` and are not appended again (and a line
appended but not yet remembered when the process died is skipped by id by
every processor).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import structlog

from touchline.inbound.items import Mapped
from touchline.inbound.order_files import (
    FileUnreadable,
    Header,
    Line,
    LineError,
    check,
    lines,
    open_file,
    order_line,
)
from touchline.publish import CONFLICTING_DUPLICATE, Publisher

log = structlog.get_logger(__name__)

PROCESSING, DONE, FAILED = "processing", "done", "failed"
REPORT_SUFFIX = ".errors.jsonl"
"""A report is named for its file: ``orders.csv`` -> ``orders.csv.errors.jsonl``
(never ``*.csv``, so it can never be taken for, or collide with, an order file)."""
CHUNK = 500
"""Lines per publish: one append and one ledger write for so many events."""


class ReportLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    line: int
    code: str
    reason: str
    event_id: str | None = None


@dataclass(slots=True)
class FileOutcome:
    """What became of one file."""

    name: str
    moved_to: Path
    failed: bool
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: list[LineError] = field(default_factory=list)

    @property
    def report(self) -> Path | None:
        return _report_of(self.moved_to) if self.errors else None


def waiting(folder: Path) -> list[Path]:
    """The files to take, by name: ``*.csv`` only (``*.csv.part`` is still
    being written), no hidden files."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() == ".csv" and not path.name.startswith(".") and path.is_file()
    )


def take_all(
    folder: Path,
    publisher: Publisher,
    *,
    chunk: int = CHUNK,
    partner: str | None = None,
    on_file: Callable[[FileOutcome], None] = lambda _outcome: None,
    stop: threading.Event | None = None,
) -> list[FileOutcome]:
    """Every file waiting in ``folder``: first those a crash left in
    ``processing`` (read again from line 1), then the new ones, by name;
    ``stop`` set ends it after the file in hand."""
    for sub in (PROCESSING, DONE, FAILED):
        (folder / sub).mkdir(exist_ok=True)
    outcomes: list[FileOutcome] = []
    for path in waiting(folder / PROCESSING):
        if stop is not None and stop.is_set():
            return outcomes
        outcomes.append(process_file(path, publisher, chunk=chunk, partner=partner))
        on_file(outcomes[-1])
    for path in waiting(folder):
        if stop is not None and stop.is_set():
            return outcomes
        claimed = folder / PROCESSING / path.name
        try:
            os.replace(path, claimed)
        except FileNotFoundError:  # taken away since the folder was listed
            continue
        outcomes.append(process_file(claimed, publisher, chunk=chunk, partner=partner))
        on_file(outcomes[-1])
    return outcomes


def process_file(
    path: Path, publisher: Publisher, *, chunk: int = CHUNK, partner: str | None = None
) -> FileOutcome:
    """Publish the good lines of ``path`` (in ``DIR/processing``), write its
    report, and move it to ``DIR/done`` or ``DIR/failed``; with ``partner``,
    a line naming another partner account is reported, not published."""
    folder = path.parent.parent
    try:
        count = check(path)
    except FileUnreadable as error:
        unread = FileOutcome(path.name, path, failed=True, errors=[error.problem])
        return _file(path, folder / FAILED, unread)
    outcome = FileOutcome(path.name, path, failed=False, lines=count)
    with open_file(path) as stream:
        records = lines(stream)
        header = Header.of(next(records))
        for batch in _chunks(records, chunk):
            _publish(publisher, header, batch, outcome, partner)
    outcome.failed = outcome.accepted + outcome.duplicates == 0
    return _file(path, folder / (FAILED if outcome.failed else DONE), outcome)


def _chunks(records: Iterator[Line], size: int) -> Iterator[list[Line]]:
    batch: list[Line] = []
    for line in records:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _publish(
    publisher: Publisher,
    header: Header,
    batch: list[Line],
    outcome: FileOutcome,
    partner: str | None,
) -> None:
    events: list[tuple[int, Mapped]] = []
    for line in batch:
        result = order_line(header, line, partner=partner)
        if isinstance(result, LineError):
            outcome.errors.append(result)
        else:
            events.append((line.number, result))
    if not events:
        return
    published = publisher.publish([m.event for _, m in events])
    for _place, (_id, status) in published.statuses.items():
        if status == "accepted":
            outcome.accepted += 1
        else:
            outcome.duplicates += 1
    for place, error in published.refusals(len(events)):
        number, m = events[place]
        code = error.code or "refused"
        reason = str(error.reason)
        if code == CONFLICTING_DUPLICATE:
            reason += "; a change to an order event already published is not applied"
        outcome.errors.append(LineError(number, code, reason, m.event.id))


def _file(path: Path, target: Path, outcome: FileOutcome) -> FileOutcome:
    """Write the report, then move the file: last, so that a crash before
    it leaves the file to be read again."""
    destination = _free_name(target, path.name)
    outcome.errors.sort(key=lambda error: error.line)
    if outcome.errors:
        report = _report_of(destination)
        partial = report.with_name(report.name + ".part")
        partial.write_bytes(
            b"".join(
                msgspec.json.encode(
                    ReportLine(
                        line=error.line,
                        code=error.code,
                        reason=error.reason,
                        event_id=None if error.event_id is None else str(error.event_id),
                    )
                )
                + b"\n"
                for error in outcome.errors
            )
        )
        os.replace(partial, report)
    os.replace(path, destination)
    outcome.moved_to = destination
    # Names and counts only: a line's content is personal data.
    log.info(
        "partner order file taken",
        file=outcome.name,
        to=f"{target.name}/{destination.name}",
        lines=outcome.lines,
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        reported=len(outcome.errors),
    )
    return outcome


def _report_of(path: Path) -> Path:
    return path.with_name(path.name + REPORT_SUFFIX)


def _free_name(folder: Path, name: str) -> Path:
    """``name`` in ``folder``, or ``stem.1.csv``, ``stem.2.csv``...: a file dropped
    again under the same name never replaces the one filed before."""
    candidate = folder / name
    number = 0
    while candidate.exists():
        number += 1
        stem, _, suffix = name.rpartition(".")
        candidate = folder / f"{stem}.{number}.{suffix}"
    return candidate


def watch(
    folder: Path,
    publisher: Publisher,
    stop: threading.Event,
    *,
    interval: float,
    chunk: int = CHUNK,
    partner: str | None = None,
    on_file: Callable[[FileOutcome], None] = lambda _outcome: None,
    retry_on: tuple[type[Exception], ...] = (),
) -> None:
    """Take the folder's files every ``interval`` seconds until ``stop`` is set.
    An error of a kind in ``retry_on`` (the log or the database unreachable)
    leaves the file where it is for the next round."""
    while not stop.is_set():
        try:
            take_all(folder, publisher, chunk=chunk, partner=partner, on_file=on_file, stop=stop)
        except retry_on as error:
            log.warning("partner order files: will retry", error=str(error))
        stop.wait(interval)
