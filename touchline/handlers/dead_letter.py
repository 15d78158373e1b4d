"""Dead letters: what could not be decoded or applied, kept with the reason."""

from __future__ import annotations

from touchline.log.port import Record, StoredRecord


def dead_letter(record: StoredRecord, reason: str, processor: str) -> Record:
    """The original bytes and key, with headers saying why and where from."""
    return Record(
        value=record.value,
        key=record.key,
        headers=(
            ("reason", reason.encode()),
            ("origin.topic", record.topic.encode()),
            ("origin.partition", str(record.partition).encode()),
            ("origin.offset", str(record.offset).encode()),
            ("processor", processor.encode()),
        ),
    )


def describe(record: StoredRecord) -> dict[str, str]:
    """A dead letter's headers as text, for people and tests."""
    return {name: value.decode(errors="replace") for name, value in record.headers}
