"""The first page of a timeline with 1M customers and 20M events in PostgreSQL.

The rows are loaded straight into ``timeline_entries`` with COPY (through the
processors it would take hours), into a database of the bench's own that is
kept between runs: it is loaded again only when the sizes asked for change.
Most customers have a handful of events; a thousand have thousands (a
partner desk, a busy account), and they are sampled apart, since their pages
walk a longer index range.

Measured: ``Queries.timeline`` (the query layer every reader goes through),
and ``GET /v1/customers/{id}/timeline`` over HTTP on loopback (the API on
uvicorn in this process, the client in the same process: both on the same
two cores). Each read asks for a random customer's first page of 50.
"""

from __future__ import annotations

import logging
import random
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from tempfile import TemporaryDirectory

import httpx
import psycopg
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url

from touchline.api.app import create_app
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import load_settings
from touchline.logs import configure_logging
from touchline.store.api_keys import ApiKeys
from touchline.store.engine import make_engine
from touchline.store.migrate import upgrade

DATABASE = "touchline_bench_timeline"
HEAVY = 1_000
"""Customers with a long history each."""
HEAVY_EVENTS = 2_000
START_US = 1_700_000_000 * 1_000_000
TYPES = (
    ("email.opened", "email", "Opened 'Spring offers'"),
    ("web.page_viewed", "web", "Viewed https://shop.example/trail-shoes"),
    ("call.inbound_ended", "call", "Inbound call, 4 min, queue billing (Lee)"),
    ("order.placed", "order", "Order O-104233 placed: 2 items, USD 129.90"),
)
EVENT_BYTES = b'{"id":"0","type":"email.opened","payload":{"message_id":"m"}}'.ljust(380, b" ")
"""What the ``event`` column holds per row: about a real event's size (the
first page never reads it, but it makes the table as large as a real one)."""


@dataclass(frozen=True)
class Sizes:
    customers: int
    events: int


def main(runs: int, server_url: str, customers: int, events: int, reads: int) -> list[str]:
    configure_logging(level=logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    sizes = Sizes(customers, events)
    url = _loaded(server_url, sizes)
    lines = [f"timeline (PostgreSQL): {customers:,} customers, {events:,} events, {runs} runs"]
    with TemporaryDirectory() as data_dir:
        settings = load_settings({}, data_dir=data_dir, database_url=url, wire_format="json")
        with build_backbone(settings) as backbone:
            ordinary = [_customer(random.randrange(HEAVY, customers)) for _ in range(reads)]
            heavy = [_customer(random.randrange(HEAVY)) for _ in range(reads // 4)]
            for label, who in (("typical customer", ordinary), ("1,000-event+ customer", heavy)):
                timings = [_query_run(backbone, who) for _ in range(runs)]
                lines.append(_line(f"query layer, {label}", timings))
            with _serving(backbone) as client:
                timings = [_http_run(client, ordinary) for _ in range(runs)]
                lines.append(_line("over HTTP, typical customer", timings))
    return lines


def _line(label: str, runs: list[tuple[float, float]]) -> str:
    p50 = statistics.median(run[0] for run in runs)
    p99 = statistics.median(run[1] for run in runs)
    return f"  {label:<38} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  (medians of runs)"


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return (
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    )


def _query_run(backbone: Backbone, who: list[str]) -> tuple[float, float]:
    timings = []
    for customer_id in who:
        started = time.perf_counter()
        page = backbone.queries.timeline(customer_id, limit=50)
        timings.append(time.perf_counter() - started)
        assert page.entries, customer_id
    return _percentiles(timings)


def _http_run(client: httpx.Client, who: list[str]) -> tuple[float, float]:
    timings = []
    for customer_id in who:
        started = time.perf_counter()
        answer = client.get(f"/v1/customers/{customer_id}/timeline", params={"limit": 50})
        timings.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    return _percentiles(timings)


@contextmanager
def _serving(backbone: Backbone) -> Iterator[httpx.Client]:
    server = uvicorn.Server(uvicorn.Config(create_app(backbone), port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:  # a bench may poll: nothing here is a test
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        token = ApiKeys(backbone.engine).create("bench", ["agent"]).token
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _customer(number: int) -> str:
    return f"cus_{number:032x}"


def _loaded(server_url: str, sizes: Sizes) -> str:
    """The bench database's URL, loaded with ``sizes`` (loading only when they differ)."""
    admin = psycopg.connect(_libpq(server_url), autocommit=True)
    with admin:
        if not admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone():
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
    url = make_url(server_url).set(database=DATABASE).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE IF NOT EXISTS bench_loaded (customers bigint, events bigint)")
        )
        loaded = connection.execute(text("SELECT customers, events FROM bench_loaded")).first()
    engine.dispose()
    if loaded is None or tuple(loaded) != (sizes.customers, sizes.events):
        _load(url, sizes)
    return url


def _load(url: str, sizes: Sizes) -> None:
    print(f"loading {sizes.events:,} timeline rows with COPY (once; kept for later runs)...")
    started = time.perf_counter()
    with psycopg.connect(_libpq(url)) as connection:
        connection.execute("TRUNCATE timeline_entries, bench_loaded")
        # The indexes are built once after the load: far faster than
        # maintained row by row, as a bulk load is done in production too.
        connection.execute("ALTER TABLE timeline_entries DROP CONSTRAINT pk_timeline_entries")
        connection.execute("DROP INDEX ix_timeline_customer_time")
        connection.commit()
        columns = "event_id, customer_id, occurred_at_us, type, channel, source, summary, event"
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY timeline_entries ({columns}) FROM STDIN") as copy,
        ):
            for row in _rows(sizes):
                copy.write_row(row)
        connection.commit()
        connection.execute(
            "ALTER TABLE timeline_entries ADD CONSTRAINT pk_timeline_entries PRIMARY KEY (event_id)"
        )
        connection.execute(
            "CREATE INDEX ix_timeline_customer_time "
            "ON timeline_entries (customer_id, occurred_at_us, event_id)"
        )
        connection.execute(
            "INSERT INTO bench_loaded VALUES (%s, %s)", (sizes.customers, sizes.events)
        )
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE timeline_entries")
    print(f"loaded in {time.perf_counter() - started:,.0f} s")


def _rows(sizes: Sizes) -> Iterator[tuple[object, ...]]:
    heavy_events = min(HEAVY * HEAVY_EVENTS, sizes.events // 2)
    per_heavy = heavy_events // HEAVY
    rest = sizes.events - per_heavy * HEAVY
    ordinary = sizes.customers - HEAVY
    rng = random.Random(7)
    for number in range(sizes.customers):
        if number < HEAVY:
            count = per_heavy
        else:
            # The rest spread evenly, remainder to the first ones.
            count = rest // ordinary + (1 if number - HEAVY < rest % ordinary else 0)
        customer_id = _customer(number)
        at = START_US + rng.randrange(10**12)
        for _ in range(count):
            at += rng.randrange(1, 86_400_000_000)
            kind, channel, summary = TYPES[rng.randrange(len(TYPES))]
            event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            yield (event_id, customer_id, at, kind, channel, "bench", summary, EVENT_BYTES)


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as libpq takes it (no ``+driver``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
