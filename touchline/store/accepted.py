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
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection, Engine, delete, select

from touchline.events.instants import to_us
from touchline.store.reads import rows_where_in
from touchline.store.tables import accepted_events
from touchline.store.writes import bulk_insert_ignoring_duplicates

PRUNE_EVERY_US = 3_600 * 1_000_000
"""How often :meth:`AcceptedEvents.record` forgets ids past the retention."""


class AcceptedEvents:
    """The accepted-ids ledger on ``engine`` (each call its own transaction).

    Ids older than ``retention`` are forgotten, an hour's worth at a time,
    by the same calls that record new ones: no job to schedule, and the
    table holds about ``retention`` of traffic.
    """

    def __init__(self, engine: Engine, retention: timedelta = timedelta(days=7)) -> None:
        self.engine = engine
        self.retention_us = int(retention.total_seconds() * 1_000_000)
        self._pruned_at_us: int | None = None

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
            if self._pruned_at_us is None or moment - self._pruned_at_us >= PRUNE_EVERY_US:
                self.forget_before(connection, moment - self.retention_us)
                self._pruned_at_us = moment

    @staticmethod
    def forget_before(connection: Connection, moment_us: int) -> int:
        """Forget the ids accepted before ``moment_us``; how many."""
        a = accepted_events.c
        return connection.execute(
            delete(accepted_events).where(a.accepted_at_us < moment_us)
        ).rowcount

    def accepted_at_us(self, event_id: UUID) -> int | None:
        """When the API appended ``event_id`` (microseconds), or None."""
        a = accepted_events.c
        with self.engine.connect() as connection:
            found = connection.execute(
                select(a.accepted_at_us).where(a.event_id == str(event_id))
            ).scalar()
        return None if found is None else int(found)
