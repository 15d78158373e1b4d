"""The timeline's merge aliases (:mod:`touchline.store.aliases` on its own table).

The timeline writes ``timeline_aliases`` in the transaction that moves its
rows, so the aliases are never ahead of or behind the event index the other
projections rebuild from; readers (the query layer, the profile) ask it
where a merged id lives now.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import Connection

from touchline.store import aliases
from touchline.store.tables import timeline_aliases

TIMELINE = aliases.AliasTable(timeline_aliases, "timeline-aliases")


class Aliases(aliases.Aliases):
    def __init__(self, connection: Connection, customer_ids: Iterable[str], *, exclusive: bool):
        super().__init__(connection, customer_ids, TIMELINE, exclusive=exclusive)


def survivors_of(connection: Connection, customer_ids: Collection[str]) -> dict[str, str]:
    """:func:`survivor_of` for each of ``customer_ids``, in one read."""
    merged = aliases.load(connection, timeline_aliases, set(customer_ids))
    return {c: merged.get(c, c) for c in customer_ids}


def survivor_of(connection: Connection, customer_id: str) -> str:
    """Where ``customer_id`` lives now on the timeline (itself when never merged)."""
    return aliases.survivor_in(connection, timeline_aliases, customer_id)
