"""Dead letters: what could not be decoded or applied, kept with the reason."""

from __future__ import annotations

from touchline.log.port import Record, StoredRecord


def dead_letter(
    record: StoredRecord,
    reason: str,
    processor: str,
    *,
    item: tuple[int, bytes] | None = None,
    code: str = "failed",
    details: tuple[tuple[str, str], ...] = (),
) -> Record:
    """The original bytes and key, with headers saying why and where from.

    ``code`` is the kind of failure: ``undecodable``, ``failed`` (the
    processor raised), or what a processor's rejection names.

    ``item`` is (index, bytes) of one event inside a record that carries a
    batch of events: only that event is dead, its neighbours were applied.
    """
    headers = [
        ("reason", reason.encode()),
        ("origin.topic", record.topic.encode()),
        ("origin.partition", str(record.partition).encode()),
        ("origin.offset", str(record.offset).encode()),
        ("processor", processor.encode()),
        ("code", code.encode()),
        *((name, value.encode()) for name, value in details),
    ]
    value = record.value
    if item is not None:
        index, value = item
        headers.append(("origin.index", str(index).encode()))
    return Record(value=value, key=record.key, headers=tuple(headers))


def describe(record: StoredRecord) -> dict[str, str]:
    """A dead letter's headers as text, for people and tests."""
    return {name: value.decode(errors="replace") for name, value in record.headers}
