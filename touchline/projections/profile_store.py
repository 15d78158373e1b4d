"""The profile projection as stored: one folded state per customer.

It follows the timeline (see :class:`TimelineFollower`): new events are folded
into the stored state, and a customer whose rows a merge or unmerge moved is
folded again from the timeline's index. Because the fold does not depend on
the order of events, both ways give the same state.

A full rebuild (``touchline rebuild profile``) fills the next generation
beside the live one, a chunk of customers per transaction, while the live
projection keeps running; the projection also keeps the customers already
rebuilt up to date, so the new generation has caught up when the last chunk
is done, and switching is one update.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, select, update

from touchline.events import EventCodec
from touchline.events.instants import to_us
from touchline.processing.port import Emit
from touchline.projections.aliases import survivors_of
from touchline.projections.profile import ProfileState, apply, decode_state, encode_state
from touchline.projections.timeline import Landed, events_of
from touchline.store.reads import rows_where_in
from touchline.store.tables import (
    customer_profiles,
    projection_generations,
    timeline_entries,
)
from touchline.store.writes import bulk_upsert, dialect_insert

PROFILE = "profile"
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Generations:
    live: int
    building: int | None
    cursor: str | None

    def targets(self, customer_id: str) -> list[int]:
        """The generations a change to this customer must reach."""
        if self.building is None or self.cursor is None or customer_id > self.cursor:
            return [self.live]
        return [self.live, self.building]


def generations(connection: Connection, *, lock: bool = False) -> Generations:
    g = projection_generations.c
    query = select(g.live, g.building, g.build_cursor).where(g.projection == PROFILE)
    if lock:
        # Shared: projections may run side by side; a rebuild chunk takes
        # it exclusively, so neither sees the other half done.
        query = query.with_for_update(read=True)
    row = connection.execute(query).one_or_none()
    return Generations(0, None, None) if row is None else Generations(*row)


class ProfileProjection:
    """Keeps ``customer_profiles`` from the timeline's events."""

    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec

    def applied(self, connection: Connection, events: Sequence[Landed]) -> Sequence[Emit]:
        by_customer: defaultdict[str, list[Landed]] = defaultdict(list)
        for landed in events:
            by_customer[landed.customer_id].append(landed)
        gens = generations(connection, lock=True)
        for generation in {gen for cid in by_customer for gen in gens.targets(cid)}:
            wanted = [cid for cid in by_customer if generation in gens.targets(cid)]
            states = _load(connection, generation, wanted)
            rows = []
            for customer_id in wanted:
                state, latest = states.get(customer_id, (ProfileState(), 0))
                for landed in by_customer[customer_id]:
                    apply(state, landed.event, landed.event_id)
                    latest = max(latest, to_us(landed.event.occurred_at))
                rows.append(_row(generation, customer_id, state, latest))
            _upsert(connection, rows)
        return ()

    def rebuild(self, connection: Connection, customer_ids: Sequence[str]) -> Sequence[Emit]:
        gens = generations(connection, lock=True)
        for customer_id in dict.fromkeys(customer_ids):
            fold_customer(connection, self._codec, customer_id, gens.targets(customer_id))
        return ()


def fold_customer(
    connection: Connection, codec: EventCodec, customer_id: str, generations: Sequence[int]
) -> bool:
    """Fold one customer again from the timeline's index; False if it has no events."""
    events = events_of(connection, codec, customer_id)
    p = customer_profiles.c
    if not events:
        connection.execute(
            delete(customer_profiles).where(
                p.customer_id == customer_id, p.generation.in_(list(generations))
            )
        )
        return False
    state = ProfileState()
    for event in events:
        apply(state, event)
    latest = max(to_us(event.occurred_at) for event in events)
    _upsert(
        connection, [_row(generation, customer_id, state, latest) for generation in generations]
    )
    return True


def rebuild_customer(connection: Connection, codec: EventCodec, customer_id: str) -> bool:
    """Per-customer rebuild of the live profile (and of a rebuild in progress)."""
    gens = generations(connection, lock=True)
    return fold_customer(connection, codec, customer_id, gens.targets(customer_id))


def rebuild_all(
    engine: Engine,
    codec: EventCodec,
    *,
    chunk: int = _CHUNK,
    progress: Callable[[int], None] = lambda _done: None,
) -> int:
    """Rebuild every profile into the next generation and switch to it.

    Safe to stop and run again: it resumes from the stored cursor. Returns
    how many customers were folded.
    """
    with engine.begin() as connection:
        gens = _start(connection)
    done = 0
    while True:
        with engine.begin() as connection:
            gens = _lock_for_build(connection)
            assert gens.building is not None
            t = timeline_entries.c
            ids = list(
                connection.execute(
                    select(t.customer_id)
                    .distinct()
                    .where(t.customer_id > (gens.cursor or ""))
                    .order_by(t.customer_id)
                    .limit(chunk)
                ).scalars()
            )
            if not ids:
                _switch(connection, gens)
                return done
            for customer_id in ids:
                fold_customer(connection, codec, customer_id, [gens.building])
            connection.execute(
                update(projection_generations)
                .where(projection_generations.c.projection == PROFILE)
                .values(build_cursor=ids[-1])
            )
            done += len(ids)
        progress(done)


def _start(connection: Connection) -> Generations:
    gens = generations(connection)
    if gens.building is not None:
        return gens
    building = gens.live + 1
    connection.execute(delete(customer_profiles).where(customer_profiles.c.generation == building))
    statement = dialect_insert(connection, projection_generations)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["projection"],
            set_={"building": building, "build_cursor": ""},
        ),
        {"projection": PROFILE, "live": gens.live, "building": building, "build_cursor": ""},
    )
    return Generations(gens.live, building, "")


def _lock_for_build(connection: Connection) -> Generations:
    # A write first: on SQLite it takes the database's write lock before any
    # read, on PostgreSQL the row lock the projection's shared lock waits on.
    g = projection_generations.c
    connection.execute(
        update(projection_generations).where(g.projection == PROFILE).values(live=g.live)
    )
    return generations(connection)


def _switch(connection: Connection, gens: Generations) -> None:
    g = projection_generations.c
    connection.execute(
        update(projection_generations)
        .where(g.projection == PROFILE)
        .values(live=gens.building, building=None, build_cursor=None)
    )
    connection.execute(delete(customer_profiles).where(customer_profiles.c.generation == gens.live))


def stored_states(
    connection: Connection, customer_ids: Sequence[str]
) -> dict[str, tuple[str, ProfileState]]:
    """The live profile state of each customer (a merged id reads its
    survivor), with the id it is stored under, by the id asked; those with
    none yet are left out."""
    survivors = survivors_of(connection, customer_ids)
    states = _load(connection, generations(connection).live, sorted(set(survivors.values())))
    return {
        asked: (survivor, states[survivor][0])
        for asked, survivor in survivors.items()
        if survivor in states
    }


def live_states(connection: Connection) -> Iterator[tuple[str, ProfileState]]:
    """Every customer's live profile state, by customer id (for segments)."""
    p = customer_profiles.c
    rows = connection.execute(
        select(p.customer_id, p.state)
        .where(p.generation == generations(connection).live)
        .order_by(p.customer_id)
    )
    for customer_id, blob in rows:
        yield customer_id, decode_state(blob)


def _load(
    connection: Connection, generation: int, customer_ids: list[str]
) -> dict[str, tuple[ProfileState, int]]:
    p = customer_profiles.c
    rows = rows_where_in(
        connection,
        customer_profiles,
        [p.customer_id, p.state, p.updated_at_us],
        p.customer_id,
        customer_ids,
        also=(p.generation, generation),
    )
    return {customer_id: (decode_state(blob), latest) for customer_id, blob, latest in rows}


def _row(generation: int, customer_id: str, state: ProfileState, latest: int) -> dict[str, object]:
    return {
        "generation": generation,
        "customer_id": customer_id,
        "state": encode_state(state),
        "updated_at_us": latest,
    }


def _upsert(connection: Connection, rows: list[dict[str, object]]) -> None:
    bulk_upsert(
        connection,
        customer_profiles,
        rows,
        key=["generation", "customer_id"],
        update=["state", "updated_at_us"],
    )
