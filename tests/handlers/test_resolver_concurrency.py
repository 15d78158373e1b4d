"""Resolvers sharing one PostgreSQL graph: disjoint people commit side by side,
the same people wait for each other and still end as one customer.

Each resolver gets its own connection and thread, as Kafka workers on
different partitions do. Waiting is observed as state (the server says the
backend waits on a lock, a future completes), never by timing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import OperationalError

from tests.conftest import DAY
from tests.helpers import event
from touchline.events import CATALOGUE, Envelope, EventCodec, Identities, new_event
from touchline.events.email import EmailOpened
from touchline.events.identity import CustomerIdentified, CustomerUnmerged
from touchline.handlers.identity import IdentityResolver
from touchline.handlers.identity_graph import find_customer
from touchline.processing.embedded import wait_until
from touchline.processing.port import Outcome
from touchline.store.tables import customers

pytestmark = pytest.mark.postgres

PATIENCE = 60.0
"""Seconds to wait for what must happen; only a failing test ever waits that long."""


@pytest.fixture
def graph(postgres_store: Engine) -> Engine:
    """The identity graph's database: PostgreSQL, of the test's own."""
    return postgres_store


def _resolver() -> IdentityResolver:
    return IdentityResolver("touchpoints", "interactions", EventCodec(CATALOGUE))


def _process(
    resolver: IdentityResolver, connection: Connection, events: Sequence[Envelope]
) -> Outcome:
    """As the runner hands them over: each event's head and its bytes."""
    return resolver.process(connection, resolver.reads.feed(resolver.codec, events))


def _person(n: int) -> dict[str, str]:
    return {
        "email": f"p{n}@example.com",
        "phone": f"+1415555{n:04d}",
        "web_id": f"web-{n}",
        "crm_id": f"crm-{n}",
    }


def _seen_apart(person: dict[str, str]) -> list[Envelope]:
    """One touchpoint per identifier: a customer per identifier."""
    return [
        event(EmailOpened(message_id=f"m-{value}"), DAY, identities=Identities(**{kind: value}))
        for kind, value in person.items()
    ]


def _linked(person: dict[str, str], pairs: Sequence[tuple[str, str]]) -> list[Envelope]:
    return [
        event(
            CustomerIdentified(method="crm_sync"),
            DAY + timedelta(minutes=1 + n),
            identities=Identities(**{a: person[a], b: person[b]}),
        )
        for n, (a, b) in enumerate(pairs)
    ]


def _commit(engine: Engine, resolver: IdentityResolver, events: Sequence[Envelope]) -> Outcome:
    with engine.begin() as connection:
        return _process(resolver, connection, events)


def _owners(engine: Engine, person: dict[str, str]) -> set[str | None]:
    with engine.connect() as connection:
        return {find_customer(connection, kind, value) for kind, value in person.items()}


def _roots(engine: Engine) -> set[str]:
    c = customers.c
    with engine.connect() as connection:
        return set(
            connection.execute(select(c.customer_id).where(c.root_id == c.customer_id)).scalars()
        )


def _attributed(outcome: Outcome) -> set[str | None]:
    """The customers a batch's own events went to (merge notices left out)."""
    return {e.event.customer_id for e in outcome.emitted if e.event.type != "customer.merged"}


class _Other:
    """A second resolver processing in a thread of its own, on its own connection."""

    def __init__(self, engine: Engine, events: Sequence[Envelope]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pid: Future[int] = Future()
        self.result = self._pool.submit(self._run, engine, events)

    def _run(self, engine: Engine, events: Sequence[Envelope]) -> Outcome:
        with engine.begin() as connection:
            self._pid.set_result(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            return _process(_resolver(), connection, events)

    def waits_on_a_lock(self, observer: Connection) -> bool:
        pid = self._pid.result(timeout=PATIENCE)
        waiting = observer.execute(
            text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).scalar_one_or_none()
        return waiting == "Lock"

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def test_resolvers_on_disjoint_people_commit_while_the_other_is_open(graph: Engine) -> None:
    """Resolver B merges person B and commits while resolver A's transaction,
    which merged person A, is still open: nothing serialises them."""
    ann, bob = _person(1), _person(2)
    _commit(graph, _resolver(), _seen_apart(ann) + _seen_apart(bob))
    pairs = [("email", "phone"), ("phone", "web_id"), ("web_id", "crm_id")]

    holder = graph.connect()
    open_transaction = holder.begin()
    other: _Other | None = None
    try:
        _process(_resolver(), holder, _linked(ann, pairs))
        other = _Other(graph, _linked(bob, pairs))
        outcome = other.result.result(timeout=PATIENCE)
        assert len(_owners(graph, bob)) == 1, "B's merges are committed"
        assert len(_owners(graph, ann)) == 4, "A's merges are not: its transaction is open"
        open_transaction.commit()
    finally:
        if open_transaction.is_active:
            open_transaction.rollback()
        holder.close()
        if other is not None:
            other.close()
    assert _attributed(outcome) == _owners(graph, bob)
    assert len(_owners(graph, ann)) == 1


def _waits_then_follows(
    graph: Engine, held: Sequence[Envelope], waiting: Sequence[Envelope]
) -> Outcome:
    """Resolver A processes ``held`` in a transaction it keeps open; resolver
    B, given ``waiting``, must wait on A's locks (seen in pg_stat_activity),
    and once A commits, finish: B's outcome."""
    holder = graph.connect()
    open_transaction = holder.begin()
    other: _Other | None = None
    try:
        _process(_resolver(), holder, held)
        other = _Other(graph, waiting)
        with graph.connect() as observer:
            assert wait_until(lambda: other.waits_on_a_lock(observer), PATIENCE)
        assert not other.result.done()
        open_transaction.commit()
        return other.result.result(timeout=PATIENCE)
    finally:
        if open_transaction.is_active:
            open_transaction.rollback()
        holder.close()
        if other is not None:
            other.close()


def test_a_resolver_touching_a_held_person_waits_then_follows_the_merge(graph: Engine) -> None:
    """B's event for a person A is merging waits on A's lock, then lands on
    the survivor A chose, never on the customer A merged away."""
    ann = _person(1)
    _commit(graph, _resolver(), _seen_apart(ann))
    late = event(
        EmailOpened(message_id="late"),
        DAY + timedelta(hours=1),
        identities=Identities(phone=ann["phone"], fax="+14155550199"),
    )
    held = _linked(ann, [("email", "phone"), ("phone", "crm_id")])
    outcome = _waits_then_follows(graph, held, [late])
    [survivor] = _owners(graph, {k: ann[k] for k in ("email", "phone", "crm_id")})
    assert _attributed(outcome) == {survivor}
    with graph.connect() as connection:
        assert find_customer(connection, "fax", "+14155550199") == survivor


def test_a_resolver_waiting_on_an_unmerge_follows_the_identifiers_it_moved(
    graph: Engine,
) -> None:
    """B read a phone number on the survivor, then waited for an unmerge that
    gives it back to the restored customer: B's event and its new fax number
    land on the restored customer, although the survivor is still a root."""
    ann = {"email": "ann@example.com", "phone": "+14155550134"}
    apart = _seen_apart(ann)
    survivor, restored = (f"cus_{e.id.hex}" for e in apart)
    _commit(graph, _resolver(), apart)
    _commit(graph, _resolver(), _linked(ann, [("email", "phone")]))
    unmerge = new_event(
        CustomerUnmerged(
            survivor_id=survivor, restored_id=restored, requested_by="agent-7", reason="two people"
        ),
        occurred_at=DAY + timedelta(hours=1),
        source="test",
        customer_id=survivor,
    )
    late = event(
        EmailOpened(message_id="late"),
        DAY + timedelta(hours=2),
        identities=Identities(phone=ann["phone"], fax="+14155550199"),
    )
    outcome = _waits_then_follows(graph, [unmerge], [late])
    assert _attributed(outcome) == {restored}
    assert _owners(graph, {"phone": ann["phone"], "fax": "+14155550199"}) == {restored}
    assert _owners(graph, {"email": ann["email"]}) == {survivor}


def test_an_identifier_claimed_by_another_resolver_first_joins_its_customer(
    graph: Engine,
) -> None:
    """Both resolvers take the same identifier for new; the one that commits
    second redoes its work and joins the first one's customer."""
    first = event(EmailOpened(message_id="m1"), DAY, identities=Identities(email="cy@example.com"))
    second = event(
        CustomerIdentified(method="login"),
        DAY + timedelta(minutes=1),
        identities=Identities(email="cy@example.com", web_id="web-cy"),
    )
    # B's insert of the e-mail address waits on the open transaction's row.
    outcome = _waits_then_follows(graph, [first], [second])
    winner = f"cus_{first.id.hex}"
    assert _owners(graph, {"email": "cy@example.com", "web_id": "web-cy"}) == {winner}
    assert _attributed(outcome) == {winner}
    assert _roots(graph) == {winner}, "the loser's customer was rolled back"


def _commit_as_the_runner_does(
    engine: Engine, resolver: IdentityResolver, events: Sequence[Envelope]
) -> None:
    """A deadlock is an OperationalError: the runner forgets and retries the batch."""
    while True:
        try:
            _commit(engine, resolver, events)
            return
        except OperationalError:
            resolver.rolled_back()


def test_two_resolvers_merging_the_same_people_at_once_leave_one_customer_each(
    graph: Engine,
) -> None:
    """Started together on the same people, linking them in opposite orders,
    two resolvers leave exactly one customer per person."""
    people = [_person(n) for n in range(12)]
    _commit(graph, _resolver(), [e for person in people for e in _seen_apart(person)])
    forward = [("email", "phone"), ("phone", "web_id"), ("web_id", "crm_id")]
    backward = [("crm_id", "email"), ("web_id", "email"), ("phone", "crm_id")]
    start = threading.Barrier(2)

    def link(pairs: list[tuple[str, str]], order: list[dict[str, str]]) -> None:
        resolver = _resolver()
        start.wait(timeout=PATIENCE)
        for person in order:
            _commit_as_the_runner_does(graph, resolver, _linked(person, pairs))

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [
            pool.submit(link, forward, people),
            pool.submit(link, backward, people[::-1]),
        ]
        for future in done:
            future.result(timeout=PATIENCE)
    owners = [_owners(graph, person) for person in people]
    assert all(len(owner) == 1 for owner in owners), owners
    assert _roots(graph) == {owner.pop() for owner in owners}


def test_a_resolver_never_trusts_a_cache_another_resolver_made_stale(graph: Engine) -> None:
    """A merged a person's two customers after B cached them; B's next
    event for that person lands on the survivor, and so does its new identifier."""
    ann = _person(1)
    b, a = _resolver(), _resolver()
    _commit(graph, b, _seen_apart({"email": ann["email"], "phone": ann["phone"]}))
    _commit(graph, a, _linked(ann, [("email", "phone")]))
    [survivor] = _owners(graph, {"email": ann["email"], "phone": ann["phone"]})
    outcome = _commit(graph, b, _linked(ann, [("phone", "web_id")]))
    assert _attributed(outcome) == {survivor}
    assert _owners(graph, {"phone": ann["phone"], "web_id": ann["web_id"]}) == {survivor}
    assert _roots(graph) == {survivor}
