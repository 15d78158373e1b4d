"""The campaign synchronizer's journal: per customer, the events that changed
its campaign records, kept so that an unmerge can split them and fold each
side again. Bytes in and out: decoding them is the synchronizer's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, delete, select, update

from touchline.store.reads import CHUNK
from touchline.store.tables import campaign_journal
from touchline.store.writes import bulk_insert_values_ignoring_duplicates


@dataclass(frozen=True, slots=True)
class JournalEntry:
    event_id: str
    occurred_at_us: int
    attributed_to: str | None
    """The customer the resolver first attributed the event to."""
    identifiers: tuple[str, ...]
    """``kind:value``, as the event carried them."""
    event: bytes


_COLUMNS = ("event_id", "customer_id", "occurred_at_us", "attributed_to", "identifiers", "event")


def record(connection: Connection, entries: Mapping[str, Sequence[JournalEntry]]) -> None:
    """Journal each customer's ``entries`` under its id, every customer in one
    statement; an event journaled already (for that customer: a redelivery)
    keeps its row."""
    rows = [
        (
            entry.event_id,
            customer_id,
            entry.occurred_at_us,
            entry.attributed_to,
            "\n".join(entry.identifiers),
            entry.event,
        )
        for customer_id, theirs in entries.items()
        for entry in theirs
    ]
    bulk_insert_values_ignoring_duplicates(connection, campaign_journal, _COLUMNS, rows)


def entries_of(connection: Connection, customer_id: str) -> list[JournalEntry]:
    """A customer's journal, in the order it is folded: by time, then event id."""
    j = campaign_journal.c
    rows = connection.execute(
        select(j.event_id, j.occurred_at_us, j.attributed_to, j.identifiers, j.event)
        .where(j.customer_id == customer_id)
        .order_by(j.occurred_at_us, j.event_id)
    )
    return [
        JournalEntry(event_id, at_us, attributed_to, tuple(filter(None, names.split("\n"))), blob)
        for event_id, at_us, attributed_to, names, blob in rows
    ]


def move_all(connection: Connection, from_customer: str, to_customer: str) -> None:
    """A merge: the merged customer's journal is the survivor's now."""
    j = campaign_journal.c
    _drop_held_by(connection, from_customer, to_customer)
    connection.execute(
        update(campaign_journal)
        .where(j.customer_id == from_customer)
        .values(customer_id=to_customer)
    )


def _drop_held_by(
    connection: Connection,
    from_customer: str,
    to_customer: str,
    *only: ColumnElement[bool],
) -> None:
    """Entries of ``from_customer`` that ``to_customer`` holds too (one event
    delivered again under the other id while they were apart): the copy
    moving would collide with the key, and one copy is all a fold needs."""
    j, held = campaign_journal.c, campaign_journal.alias("held").c
    same = (
        select(held.event_id)
        .where(
            held.customer_id == to_customer,
            held.occurred_at_us == j.occurred_at_us,
            held.event_id == j.event_id,
        )
        .exists()
    )
    connection.execute(delete(campaign_journal).where(j.customer_id == from_customer, same, *only))


def move(
    connection: Connection, from_customer: str, event_ids: Sequence[str], to_customer: str
) -> None:
    """An unmerge: these entries of ``from_customer`` go back to the restored customer."""
    j = campaign_journal.c
    for start in range(0, len(event_ids), CHUNK):
        chunk = list(event_ids[start : start + CHUNK])
        _drop_held_by(connection, from_customer, to_customer, j.event_id.in_(chunk))
        connection.execute(
            update(campaign_journal)
            .where(
                j.customer_id == from_customer,
                j.event_id.in_(chunk),
            )
            .values(customer_id=to_customer)
        )
