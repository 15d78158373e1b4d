"""The identity graph as stored: customers, identifiers, separations, the clock.

Merges form a tree per person: a merged customer points at the one it was
folded into (``merged_into``) and every customer carries the root it lives on
now (``root_id``); identifiers keep the customer they first joined
(``node_id``) and the root (``customer_id``). A merge relabels one root; an
unmerge cuts one edge and relabels the cut-off subtree. Resolvers are the
only writers; these are their statements, and the lookups readers use. How
several resolvers share the graph is :mod:`touchline.handlers.identity_locks`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ARRAY, ColumnElement, Connection, String, any_, bindparam, select, update

from touchline.store.reads import rows_where_in
from touchline.store.tables import customers, identifiers, identity_separations, processor_clocks
from touchline.store.writes import (
    bulk_insert_ignoring_duplicates,
    bulk_insert_values_ignoring_duplicates,
)

Key = tuple[str, str]
"""An identifier as ``(kind, value)``, normalised."""

_CHUNK = 500

_MOVE_IDENTIFIERS = (
    update(identifiers)
    .where(identifiers.c.customer_id == bindparam("merged"))
    .values(customer_id=bindparam("survivor"))
)
_MOVE_CUSTOMERS = (
    update(customers)
    .where(customers.c.root_id == bindparam("merged"))
    .values(root_id=bindparam("survivor"))
)
_MARK_MERGED = (
    update(customers)
    .where(customers.c.customer_id == bindparam("merged"))
    .values(merged_into=bindparam("survivor"))
)


_CLOCK = "identity-graph"


def tick(connection: Connection) -> int:
    """Bump the graph's clock and return the new version.

    On SQLite every resolver batch does: SQLite has one writer at a time and
    this write takes its lock first, so resolvers sharing a file apply their
    batches one at a time, and a version one above the last one a resolver
    wrote means nobody else wrote in between and its cache still holds.

    On PostgreSQL only unmerges do, to say that identifiers may have left a
    root that is still a root (see :mod:`touchline.handlers.identity_locks`).
    """
    clock = processor_clocks.c
    version = connection.execute(
        update(processor_clocks)
        .where(clock.name == _CLOCK)
        .values(version=clock.version + 1)
        .returning(clock.version)
    ).scalar_one_or_none()
    if version is None:
        raise RuntimeError("the identity graph clock row is missing: run `touchline db upgrade`")
    return int(version)


def read_clock(connection: Connection) -> int | None:
    """The clock's version as last committed, without waiting for a writer."""
    clock = processor_clocks.c
    return connection.execute(
        select(clock.version).where(clock.name == _CLOCK)
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class Link:
    key: Key
    node: str
    root: str


def lock_roots(connection: Connection, customer_ids: Iterable[str]) -> set[str]:
    """Lock the rows of those ``customer_ids`` that are roots, in id order (a
    row another transaction locked and then merged away is skipped once it
    commits); the ids locked. PostgreSQL only: SQLite has no row locks."""
    c = customers.c
    wanted = sorted(set(customer_ids))
    locked: set[str] = set()
    # Chunks in id order keep the whole acquisition in id order.
    for start in range(0, len(wanted), _CHUNK):
        locked.update(
            connection.execute(
                select(c.customer_id)
                .where(_among(connection, c.customer_id, wanted[start : start + _CHUNK]))
                .where(c.root_id == c.customer_id)
                .order_by(c.customer_id)
                .with_for_update()
            ).scalars()
        )
    return locked


def roots_of(connection: Connection, customer_ids: Iterable[str]) -> set[str]:
    """The roots those customers live on now (unknown ids are left out)."""
    wanted = sorted(set(customer_ids))
    c = customers.c
    found = connection.execute(select(c.root_id).where(_among(connection, c.customer_id, wanted)))
    return set(found.scalars())


def load_links(connection: Connection, keys: Iterable[Key]) -> list[Link]:
    # One kind at a time: SQLite plans ``(kind, value) IN (VALUES ...)`` as a
    # scan of the whole table (190 ms per 500 keys at a million identifiers),
    # while ``kind = ? AND value IN (...)`` walks the primary key (2 ms).
    by_kind: defaultdict[str, list[str]] = defaultdict(list)
    for kind, value in keys:
        by_kind[kind].append(value)
    return [
        Link((kind, value), node, root)
        for kind, values in by_kind.items()
        for value, node, root in _links_of(connection, kind, values)
    ]


def _links_of(connection: Connection, kind: str, values: list[str]) -> list[tuple[str, str, str]]:
    """(value, node, customer) of each identifier of ``kind`` among ``values`` the graph holds."""
    i = identifiers.c
    columns = [i.value, i.node_id, i.customer_id]
    if connection.dialect.name != "postgresql":
        # Its statement written once per count (store/reads.py): rendering an
        # expanding IN again was about 2 us an event of a resolver's cold batches.
        return rows_where_in(connection, identifiers, columns, i.value, values, also=(i.kind, kind))
    rows: list[tuple[str, str, str]] = []
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        query = select(*columns).where(i.kind == kind, _among(connection, i.value, chunk))
        rows.extend((value, node, root) for value, node, root in connection.execute(query))
    return rows


def _among(
    connection: Connection, column: ColumnElement[str], values: list[str]
) -> ColumnElement[bool]:
    """``column IN (values)``. On PostgreSQL as ``= ANY`` of one array
    parameter: the statement text stays the same whatever the count, so
    psycopg parses it once, not once per batch (that parsing took about a
    quarter of a PostgreSQL resolver batch's time)."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam("values", values, type_=ARRAY(String)))
    return column.in_(values)


def load_separations(connection: Connection) -> list[tuple[str, str, str, str]]:
    """Every separated pair with the root each side lives on now."""
    s = identity_separations.c
    a = customers.alias("a")
    b = customers.alias("b")
    rows = connection.execute(
        select(s.customer_a, s.customer_b, a.c.root_id, b.c.root_id)
        .join(a, a.c.customer_id == s.customer_a)
        .join(b, b.c.customer_id == s.customer_b)
    )
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def separate(connection: Connection, one: str, other: str, event_id: str) -> None:
    low, high = sorted((one, other))
    bulk_insert_ignoring_duplicates(
        connection,
        identity_separations,
        [{"customer_a": low, "customer_b": high, "unmerged_by_event": event_id}],
    )


CUSTOMER_COLUMNS = ("customer_id", "created_at_us", "created_by_event", "merged_into", "root_id")
"""A new customer's row in :func:`write`, as a tuple in this order."""
LINK_COLUMNS = ("kind", "value", "customer_id", "node_id", "linked_by_event")
"""A new identifier's row in :func:`write`, as a tuple in this order."""


def write(
    connection: Connection,
    new_customers: Sequence[tuple[object, ...]],
    links: Sequence[tuple[object, ...]],
    merges: Sequence[dict[str, str]],
) -> int:
    """Rows a batch created, then its merges in the order decided (a chain,
    a into b then b into c, ends in c because the updates run in order).

    Returns how many of ``links`` went in: fewer means another writer
    claimed an identifier first (see :mod:`touchline.handlers.identity_locks`).
    """
    # Rows made as tuples: a batch that meets new people makes tens of
    # thousands, and no dict is made and read back for each (see
    # bulk_insert_values_ignoring_duplicates).
    bulk_insert_values_ignoring_duplicates(connection, customers, CUSTOMER_COLUMNS, new_customers)
    claimed = bulk_insert_values_ignoring_duplicates(connection, identifiers, LINK_COLUMNS, links)
    if merges:
        connection.execute(_MOVE_IDENTIFIERS, merges)
        connection.execute(_MOVE_CUSTOMERS, merges)
        connection.execute(_MARK_MERGED, merges)
    return claimed


@dataclass(frozen=True, slots=True)
class Split:
    """What an unmerge moved: the cut-off subtree and its identifiers."""

    survivor: str
    restored: str
    customers: list[str]
    identifiers: list[Key]
    remaining: list[Key]


def split(connection: Connection, restored: str) -> Split | None:
    """Cut ``restored`` off the customer it was merged into, with everything
    that had been merged into it; None if it is not merged (or unknown)."""
    c = customers.c
    row = connection.execute(
        select(c.merged_into, c.root_id).where(c.customer_id == restored)
    ).one_or_none()
    if row is None or row.merged_into is None:
        return None
    survivor = row.root_id
    children: defaultdict[str, list[str]] = defaultdict(list)
    for node, parent in connection.execute(
        select(c.customer_id, c.merged_into).where(c.root_id == survivor)
    ):
        if parent is not None:
            children[parent].append(node)
    subtree, frontier = [restored], [restored]
    while frontier:
        frontier = [child for node in frontier for child in children[node]]
        subtree.extend(frontier)
    connection.execute(update(customers).where(c.customer_id == restored).values(merged_into=None))
    i = identifiers.c
    for start in range(0, len(subtree), _CHUNK):
        chunk = subtree[start : start + _CHUNK]
        connection.execute(
            update(customers).where(c.customer_id.in_(chunk)).values(root_id=restored)
        )
        connection.execute(
            update(identifiers).where(i.node_id.in_(chunk)).values(customer_id=restored)
        )
    return Split(
        survivor=survivor,
        restored=restored,
        customers=sorted(subtree),
        identifiers=_keys_of(connection, restored),
        remaining=_keys_of(connection, survivor),
    )


def _keys_of(connection: Connection, root: str) -> list[Key]:
    i = identifiers.c
    rows = connection.execute(
        select(i.kind, i.value).where(i.customer_id == root).order_by(i.kind, i.value)
    )
    return [(kind, value) for kind, value in rows]


def identifiers_of(connection: Connection, customer_id: str) -> list[str]:
    """A customer's identifiers as ``kind:value``, sorted."""
    return [f"{kind}:{value}" for kind, value in _keys_of(connection, customer_id)]


def identifiers_of_all(connection: Connection, customer_ids: Sequence[str]) -> dict[str, list[str]]:
    """:func:`identifiers_of` for many customers in one read."""
    i = identifiers.c
    found: dict[str, list[tuple[str, str]]] = {c: [] for c in customer_ids}
    rows = rows_where_in(
        connection, identifiers, [i.customer_id, i.kind, i.value], i.customer_id, list(found)
    )
    for customer_id, kind, value in rows:
        found[customer_id].append((kind, value))
    return {c: [f"{kind}:{value}" for kind, value in sorted(keys)] for c, keys in found.items()}


def surviving_customers(connection: Connection, customer_ids: Sequence[str]) -> dict[str, str]:
    """:func:`surviving_customer` for many: those the graph knows."""
    c = customers.c
    return dict(
        rows_where_in(
            connection, customers, [c.customer_id, c.root_id], c.customer_id, list(customer_ids)
        )
    )


def surviving_customer(connection: Connection, customer_id: str) -> str | None:
    """Where a customer id lives now: itself, or the root it was merged into."""
    return connection.execute(
        select(customers.c.root_id).where(customers.c.customer_id == customer_id)
    ).scalar_one_or_none()


def find_customer(connection: Connection, kind: str, value: str) -> str | None:
    """The customer an identifier belongs to, if any."""
    return connection.execute(
        select(identifiers.c.customer_id).where(
            identifiers.c.kind == kind, identifiers.c.value == value
        )
    ).scalar_one_or_none()
