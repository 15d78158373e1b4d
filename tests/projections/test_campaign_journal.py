"""The campaign journal's moves, on both stores: a merge and an unmerge move
entries between customers, and one event held under both ids never collides."""

from __future__ import annotations

from sqlalchemy import Engine

from touchline.store import campaign_journal as journal
from touchline.store.campaign_journal import JournalEntry


def _entry(event_id: str, at_us: int, owner: str) -> JournalEntry:
    return JournalEntry(event_id, at_us, owner, (f"email:{owner}@example.com",), b"{}")


def _ids(engine: Engine, customer_id: str) -> list[str]:
    with engine.connect() as connection:
        return [entry.event_id for entry in journal.entries_of(connection, customer_id)]


def test_a_merge_and_an_unmerge_move_entries_even_when_both_hold_one(engine: Engine) -> None:
    """An event journaled under both customers (delivered again under the other
    id) stays once through a merge and goes back once on an unmerge; entries
    are read in time order."""
    with engine.begin() as connection:
        journal.record(
            connection,
            {
                "ann": [_entry("e2", 20, "ann"), _entry("e9", 90, "ann")],
                "bob": [_entry("e1", 10, "bob"), _entry("e9", 90, "bob")],
            },
        )
        journal.move_all(connection, "bob", "ann")
    assert _ids(engine, "ann") == ["e1", "e2", "e9"]
    assert _ids(engine, "bob") == []
    with engine.begin() as connection:
        journal.record(connection, {"bob": [_entry("e1", 10, "bob")]})  # in flight meanwhile
        journal.move(connection, "ann", ["e1", "e9"], "bob")
    assert _ids(engine, "ann") == ["e2"]
    assert _ids(engine, "bob") == ["e1", "e9"]
