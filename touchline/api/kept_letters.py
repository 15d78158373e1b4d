"""What the API takes in but cannot make an event of is kept as a dead letter.

Both the Segment routes and the inbound webhooks keep such input on the
dead-letter topic, where touchline already keeps what it could not take: a
letter like any other, with the reason and a code in its headers, keyed as
its event would have been, so the index finds it by customer. The API's
accepted-ids ledger remembers a kept input under :func:`kept_id`, apart
from its event id: a retry keeps nothing new, and the same input sent again
once it maps is published.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID, uuid5

from touchline.events import Identities
from touchline.events.keys import record_key, source_key
from touchline.log.port import Record
from touchline.publish import Ledger


def kept_id(event_id: UUID) -> UUID:
    """The id under which the API's ledger remembers that an input was kept."""
    return uuid5(event_id, "kept")


def storable(identities: Identities) -> Identities:
    """The identifiers a letter's index can store. A NUL fits no PostgreSQL
    text, and the edge refuses it, so input may be kept for one: the index
    would then stall on its letter. (The reason is escaped the same way.)"""
    return Identities(**{kind: value for kind, value in identities.items() if "\x00" not in value})


def kept_record(
    document: bytes,
    identities: Identities,
    *,
    reason: str,
    code: str,
    processor: str,
    route: str,
    index: int,
    key_secret: bytes,
) -> Record:
    """The letter holding ``document``, placed as its event would have been;
    ``identities`` are already :func:`storable`."""
    identifier = source_key(identities)
    headers = (
        ("reason", reason.replace("\x00", "\\u0000").encode()),
        ("code", code.encode()),
        ("processor", processor.encode()),
        # Where it came from: the route, not a topic (it was never on one).
        ("origin.topic", f"POST {route}".encode()),
        ("origin.index", str(index).encode()),
    )
    return Record(
        value=document,
        key=None if identifier is None else record_key(identifier, key_secret),
        headers=headers,
    )


class KeptBefore:
    """Which of a request's inputs to keep now: not those whose event was
    published before, nor those kept before (a retry), nor a repeat within
    the request. One ledger query for the whole request."""

    def __init__(self, ledger: Ledger | None, event_ids: Iterable[UUID]) -> None:
        asked = [i for event_id in event_ids for i in (event_id, kept_id(event_id))]
        self._known = set() if ledger is None else set(ledger.digests(asked))

    def first_time(self, event_id: UUID) -> bool:
        """True once for an input to keep now, then False for it."""
        if event_id in self._known or kept_id(event_id) in self._known:
            return False
        self._known.add(kept_id(event_id))
        return True
