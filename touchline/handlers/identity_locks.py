"""How resolvers sharing a PostgreSQL graph work on disjoint people at once.

Kafka workers on different partitions each run a resolver against one graph.
Serialising their batches on one row (SQLite's way, see
:func:`~touchline.handlers.identity_graph.tick`) means a second worker adds
no throughput, so on PostgreSQL a batch locks only the people it touches:

- **The root customers its identifiers lead to**, as row locks
  (``SELECT ... FOR UPDATE``) in id order. Every change to where an
  identifier lives goes through its root: a merge relabels the merged root
  (both roots are locked), an unmerge splits one (locked first), and a new
  identifier joins a locked root or a customer the batch itself creates. So
  once the identifiers are known to lead to roots held, nothing moves them
  until commit. Between the read and the lock a merge may commit (its
  merged root is then no longer a root, so it is not locked) or an unmerge
  (it bumps the graph's clock, read before and after): either way the
  identifiers are read again, and locked again, until stable.
- **Nothing for a brand-new identifier**: it has no row yet. Two resolvers
  may both take it for new; the primary key decides. The second insert
  waits for the first transaction and then inserts nothing, so the resolver
  counts what went in, and on a shortfall rolls back to a savepoint and
  redoes the segment, now reading the winner's row (and merging with it).

Why not advisory locks per identifier (``pg_advisory_xact_lock`` on a hash
of ``kind:value``): PostgreSQL keeps those in its shared lock table, which
holds ``max_locks_per_transaction`` x ``max_connections`` entries for the
whole server (6,400 by default). A batch of 2,000 events carries several
thousand identifiers; a transaction taking 20,000 advisory locks fails with
"out of shared memory", an ``OperationalError`` the runner retries as an
outage, so the worker would retry that batch forever. A row lock is kept in
the row itself: a batch may hold any number.

Each round locks in id order, but a batch that needs a second round, or a
second segment (an unmerge splits a batch), waits while holding locks, so
two resolvers can deadlock. PostgreSQL breaks the cycle by failing one
transaction with an ``OperationalError``, which the runner and both runtimes
treat as transient: that batch is retried, nothing is dead-lettered.

The resolver reads the graph through for every segment here, as its cache
is only good while it is the graph's one writer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

from sqlalchemy import Connection

from touchline.handlers import identity_graph as graph
from touchline.handlers.identity_graph import Key, Link

T = TypeVar("T")

_ROUNDS = 100
"""Each extra round needs another writer to have moved a root in between."""


def concurrent_writers(connection: Connection) -> bool:
    """Whether other resolvers may write the graph during this transaction:
    on PostgreSQL yes; SQLite lets one writer at a time in."""
    return connection.dialect.name == "postgresql"


def hold_links(connection: Connection, keys: Collection[Key]) -> list[Link]:
    """The stored links of ``keys``, read once every root they lead to is
    locked by this transaction."""
    return _until_stable(
        lambda: graph.load_links(connection, keys),
        lambda links: {link.root for link in links},
        connection,
    )


def hold_customers(connection: Connection, customer_ids: Collection[str]) -> None:
    """Lock the roots those customers live on (an unmerge splits one)."""
    _until_stable(lambda: graph.roots_of(connection, customer_ids), set, connection)


def _until_stable(
    read: Callable[[], T], roots_in: Callable[[T], set[str]], connection: Connection
) -> T:
    held: set[str] = set()
    for _ in range(_ROUNDS):
        clock = graph.read_clock(connection)
        found = read()
        wanted = roots_in(found) - held
        if not wanted:
            return found
        # Only ids still roots when locked count as held: one merged away in
        # between is skipped, and the next read shows where it went.
        locked = graph.lock_roots(connection, wanted)
        held |= locked
        # All still roots and no unmerge since the read: nothing moved (this
        # spares reading every identifier twice, a sixth of a batch's time).
        if locked == wanted and graph.read_clock(connection) == clock:
            return found
    raise RuntimeError(
        f"the identity graph's roots kept moving through {_ROUNDS} rounds of locking; "
        "an identifier may point at a customer that is not a root"
    )
