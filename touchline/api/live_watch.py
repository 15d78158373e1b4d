"""Watching one customer for the console's live stream: what changed since the last look.

Blocking (it reads the stores through the query layer), so the stream calls
it in a worker thread, every fraction of a second. A look costs one read of
the customer's newest :data:`WINDOW` timeline entries (the index the first
page is read by) and one of their campaign records; the profile, the
campaigns and the offers are read again only when one of those changed.

New entries are told by their ids, not by time: channel systems publish
late and out of order, so an entry can land below entries already sent
(a call that ended before the page view that arrived first). Any entry
that lands among the newest :data:`WINDOW` is sent, wherever it sorts; one
that lands further down is history the agent pages to, and is not pushed.

The first look sends the whole window and the story: a client that opens
(or reopens) the stream after its first page was read misses nothing that
landed in between, and drops what it already shows by event id.

When the timeline says the customer was merged into another, the watch
says so once and ends: the console opens the survivor instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from touchline.api.overview import CustomerStory
from touchline.projections.timeline import TimelineEntry
from touchline.queries import Queries

WINDOW = 50
"""Newest entries compared at each look: more than a first page."""


class LiveEntries(msgspec.Struct, kw_only=True):
    """The data of an ``event: entries``: entries new to the client, newest first."""

    customer_id: str
    entries: list[TimelineEntry]


class LiveMerged(msgspec.Struct, kw_only=True):
    """The data of an ``event: merged``: the customer now lives on as ``customer_id``."""

    merged_id: str
    customer_id: str


@dataclass(frozen=True, slots=True)
class Entries:
    data: LiveEntries


@dataclass(frozen=True, slots=True)
class Story:
    data: CustomerStory


@dataclass(frozen=True, slots=True)
class Merged:
    data: LiveMerged


class CustomerWatch:
    """What changed for ``customer_id`` since the last :meth:`look`."""

    def __init__(
        self,
        queries: Queries,
        tell: Callable[[str], CustomerStory],
        customer_id: str,
        *,
        window: int = WINDOW,
    ) -> None:
        self.queries = queries
        self.tell = tell
        self.customer_id = customer_id
        self.window = window
        self.ended = False
        self._sent: set[str] = set()
        """The ids of the window as last sent: a new look sends the others."""
        self._campaigns: bytes | None = None

    def look(self) -> list[Entries | Story | Merged]:
        if self.ended:
            return []
        page = self.queries.timeline(self.customer_id, limit=self.window)
        if page.customer_id != self.customer_id:
            self.ended = True
            return [Merged(LiveMerged(merged_id=self.customer_id, customer_id=page.customer_id))]
        new = [entry for entry in page.entries if entry.event_id not in self._sent]
        # Only the window is remembered, so a watch stays small however long
        # it runs; an entry that leaves the window and comes back (an unmerge
        # took newer ones away) is sent again, and the client already has it.
        self._sent = {entry.event_id for entry in page.entries}
        campaigns = msgspec.json.encode(self.queries.customer_campaigns(self.customer_id))
        changes: list[Entries | Story | Merged] = []
        if new:
            changes.append(Entries(LiveEntries(customer_id=self.customer_id, entries=new)))
        if new or campaigns != self._campaigns:
            self._campaigns = campaigns
            changes.append(Story(self.tell(self.customer_id)))
        return changes
