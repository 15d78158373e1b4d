"""The ids of the events the HTTP API has appended, with their content digests.

The log keeps no index of event ids (processors skip a repeat by id, each in
its own tables), so a retried request would append its events again: harmless
downstream, but a publisher must be told ``duplicate`` and a retry must
create nothing new. This table is that index, in the system database.

It is written *after* the append, never before: a crash between the two
leaves an appended event unrecorded, so its retry appends it once more and
the processors skip it by id. The other order could record an event that
never reached the log and then refuse its retry as a duplicate: lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import Engine, select

from touchline.events.instants import to_us
from touchline.store.reads import rows_where_in
from touchline.store.tables import accepted_events
from touchline.store.writes import bulk_insert_ignoring_duplicates


class AcceptedEvents:
    """The accepted-ids ledger on ``engine`` (each call its own transaction)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def digests(self, ids: Sequence[UUID]) -> dict[UUID, str]:
        """The content digest of each id in ``ids`` accepted before."""
        if not ids:
            return {}
        a = accepted_events.c
        keys = list(dict.fromkeys(str(event_id) for event_id in ids))
        with self.engine.connect() as connection:
            columns = [a.event_id, a.digest]
            rows = rows_where_in(connection, accepted_events, columns, a.event_id, keys)
        return {UUID(event_id): digest for event_id, digest in rows}

    def record(self, accepted: Sequence[tuple[UUID, str]], at: datetime) -> None:
        """Note ids just appended (an id noted already is left as it was)."""
        moment = to_us(at)
        rows = [
            {"event_id": str(event_id), "digest": digest, "accepted_at_us": moment}
            for event_id, digest in accepted
        ]
        with self.engine.begin() as connection:
            bulk_insert_ignoring_duplicates(connection, accepted_events, rows)

    def accepted_at_us(self, event_id: UUID) -> int | None:
        """When the API appended ``event_id`` (microseconds), or None."""
        a = accepted_events.c
        with self.engine.connect() as connection:
            found = connection.execute(
                select(a.accepted_at_us).where(a.event_id == str(event_id))
            ).scalar()
        return None if found is None else int(found)
