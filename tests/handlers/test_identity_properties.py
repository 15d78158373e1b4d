"""Properties of identity resolution over generated linking events (hypothesis).

For any set of events that link identifiers, delivered in any order, in any
batches and with duplicates, the identifiers end up partitioned into
customers exactly as the connected components of the links say; blocked
identifiers never join anyone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select

from tests.conftest import DAY, STORES
from tests.helpers import event
from tests.stores import fresh_database
from touchline.events import CATALOGUE, Envelope, EventCodec, Identities
from touchline.events.identity import CustomerIdentified
from touchline.handlers.identity import IdentityResolver
from touchline.handlers.identity_rules import IdentityRules
from touchline.store.engine import make_engine
from touchline.store.tables import identifiers, metadata, processor_clocks

EMAILS = [f"p{n}@example.com" for n in range(6)]
PHONES = [f"+1415555{n:04d}" for n in range(6)]
WEB = [f"w-{n}" for n in range(6)]
SHARED = "orders@reseller.example"
"""Blocked: a reseller's generic mailbox that many people's orders carry."""
RULES = IdentityRules(blocked=frozenset({("email", SHARED)}))
CODEC = EventCodec(CATALOGUE)


@pytest.fixture(scope="module", params=STORES)
def graph_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An empty graph per store: on PostgreSQL the resolvers read through
    and lock instead of trusting a clock-checked cache, so both are proven."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            path: Path = tmp_path_factory.mktemp("graph") / "graph.db"
            url = f"sqlite:///{path}"
        else:
            server: str = request.getfixturevalue("postgres_server_url")
            url = stack.enter_context(fresh_database(server))
        engine = make_engine(url)
        metadata.create_all(engine)
        yield engine
        engine.dispose()


links = st.lists(
    st.tuples(
        st.sampled_from([*EMAILS, SHARED, None]),
        st.sampled_from([*PHONES, None]),
        st.sampled_from([*WEB, None]),
    ).filter(any),
    min_size=1,
    max_size=12,
)


def _events(linked: Sequence[tuple[str | None, str | None, str | None]]) -> list[Envelope]:
    return [
        event(
            CustomerIdentified(method="crm_sync"),
            DAY + timedelta(minutes=n),
            identities=Identities(email=email, phone=phone, web_id=web),
        )
        for n, (email, phone, web) in enumerate(linked)
    ]


def _components(events: Sequence[Envelope]) -> set[frozenset[str]]:
    """The expected partition, by plain union-find over each event's keys."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for item in events:
        ids = item.identities
        keys = [
            f"{kind}:{value}"
            for kind, value in (("email", ids.email), ("phone", ids.phone), ("web_id", ids.web_id))
            if value is not None and value != SHARED
        ]
        for key in keys:
            find(key)
        for other in keys[1:]:
            parent[find(other)] = find(keys[0])
    groups: dict[str, set[str]] = {}
    for key in parent:
        groups.setdefault(find(key), set()).add(key)
    return {frozenset(group) for group in groups.values()}


def _empty_graph(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(delete(table))
        connection.execute(insert(processor_clocks).values(name="identity-graph", version=0))


def _partition(engine: Engine) -> set[frozenset[str]]:
    """The identifiers grouped by the customer they belong to."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(identifiers.c.kind, identifiers.c.value, identifiers.c.customer_id)
        )
        groups: dict[str, set[str]] = {}
        for kind, value, customer_id in rows:
            groups.setdefault(customer_id, set()).add(f"{kind}:{value}")
    return {frozenset(group) for group in groups.values()}


def _resolve(engine: Engine, batches: Sequence[Sequence[Envelope]]) -> set[frozenset[str]]:
    _empty_graph(engine)
    resolver = IdentityResolver("touchpoints", "interactions", CODEC, RULES)
    for batch in batches:
        with engine.begin() as connection:
            resolver.process(connection, resolver.reads.feed(CODEC, batch))
    return _partition(engine)


@settings(max_examples=150, deadline=None)
@given(linked=links, data=st.data())
def test_any_order_batching_and_duplicates_give_the_same_partition(
    graph_engine: Engine,
    linked: list[tuple[str | None, str | None, str | None]],
    data: st.DataObject,
) -> None:
    """Delivery order, batch boundaries and duplicates never change who is who."""
    events = _events(linked)
    duplicated = events + data.draw(st.lists(st.sampled_from(events), max_size=4))
    shuffled = data.draw(st.permutations(duplicated))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(shuffled) - 1)), max_size=4)))
    batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    assert _resolve(graph_engine, [b for b in batches if b]) == _components(events)


@settings(max_examples=40, deadline=None)
@given(linked=links, data=st.data())
def test_several_resolvers_sharing_the_graph_agree(
    graph_engine: Engine,
    linked: list[tuple[str | None, str | None, str | None]],
    data: st.DataObject,
) -> None:
    """Two resolvers taking turns on one graph (as Kafka workers on different
    partitions do) end with the same partition as one resolver."""
    events = _events(linked)
    shuffled = data.draw(st.permutations(events))
    _empty_graph(graph_engine)
    resolvers = [IdentityResolver("touchpoints", "interactions", CODEC, RULES) for _ in range(2)]
    for item in shuffled:
        resolver = resolvers[data.draw(st.integers(0, 1))]
        with graph_engine.begin() as connection:
            resolver.process(connection, resolver.reads.feed(CODEC, [item]))
    assert _partition(graph_engine) == _components(events)
