"""The read side, in one place: find a customer, a page of their timeline, their profile.

The CLI, the demo and the HTTP API all read through :class:`Queries`, so a
customer is found the same way everywhere: by any identifier (as a person
types it: ``ann@example.com``, ``+1 555 0100``, ``crm_id:C-42``) or by a
customer id, a merged one leading to its survivor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select

from touchline.events import EventCodec
from touchline.events.keys import parse_identifier
from touchline.handlers.identity_graph import find_customer, identifiers_of, surviving_customer
from touchline.projections.aliases import survivor_of
from touchline.projections.profile_store import stored_state
from touchline.projections.profile_view import Profile, ProfileRules, render
from touchline.projections.timeline import TimelineFilter, TimelinePage, read_timeline
from touchline.store.tables import customers


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a lookup found: the customer, and the identifier it was asked by
    in the form the log stores (``kind:value``), or the customer id asked."""

    customer_id: str | None
    asked: str


@dataclass(frozen=True)
class Queries:
    """Reads over the projection database (``engine``) and the identity graph
    (``identity``: the same database unless the embedded default gives the
    resolver a file of its own); every method opens its own connections."""

    engine: Engine
    codec: EventCodec
    profile_rules: ProfileRules = field(default_factory=ProfileRules)
    clock: Callable[[], datetime] = utc_now
    identity: Engine | None = None

    @property
    def graph(self) -> Engine:
        return self.identity or self.engine

    def find(self, identifier: str) -> Lookup:
        """The customer ``identifier`` belongs to, as it stands now.

        Raises ValueError when the identifier's kind cannot be told.
        """
        with self.graph.connect() as connection:
            return find(connection, self.codec, identifier)

    def timeline(
        self,
        customer_id: str,
        *,
        where: TimelineFilter | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TimelinePage:
        """A page of the customer's timeline, newest first (a merged id reads its survivor)."""
        with self.engine.connect() as connection:
            survivor = survivor_of(connection, customer_id)
            return read_timeline(
                connection, survivor, where=where or TimelineFilter(), limit=limit, cursor=cursor
            )

    def profile(self, customer_id: str, *, now: datetime | None = None) -> Profile | None:
        """The 360-degree profile as of ``now`` (default: the clock); None when
        the profile has seen nothing of this customer yet."""
        with self.engine.connect() as connection, self.graph.connect() as graph:
            return profile(
                connection, customer_id, self.profile_rules, now or self.clock(), graph=graph
            )

    def identities(self, customer_id: str) -> tuple[list[str], list[str]]:
        """Every customer id that has folded into ``customer_id``'s survivor
        (itself included), and that survivor's identifiers as ``kind:value``."""
        with self.graph.connect() as connection:
            root = surviving_customer(connection, customer_id)
            if root is None:
                return [], []
            c = customers.c
            ids = list(connection.execute(select(c.customer_id).where(c.root_id == root)).scalars())
            return ids, identifiers_of(connection, root)


def find(connection: Connection, codec: EventCodec, identifier: str) -> Lookup:
    """:meth:`Queries.find` on an open connection."""
    if identifier.startswith("cus_"):
        return Lookup(surviving_customer(connection, identifier), identifier)
    kind, value = parse_identifier(identifier)
    normalised = codec.normalise_identifier(kind, value)
    return Lookup(find_customer(connection, kind, normalised), f"{kind}:{normalised}")


def profile(
    connection: Connection,
    customer_id: str,
    rules: ProfileRules,
    now: datetime,
    *,
    graph: Connection | None = None,
) -> Profile | None:
    """:meth:`Queries.profile` on open connections (``graph``, the identity
    graph's, when it is not the same database)."""
    stored = stored_state(connection, customer_id)
    if stored is None:
        return None
    survivor, state = stored
    identifiers = identifiers_of(graph or connection, survivor)
    return render(survivor, state, rules, now, identifiers)
