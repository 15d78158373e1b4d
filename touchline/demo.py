"""``touchline demo``: a simulated day on the embedded backbone, end to end."""

from __future__ import annotations

import sys
import time
from datetime import date

from touchline.bootstrap import build_backbone
from touchline.config import Settings
from touchline.handlers.identity_graph import find_customer
from touchline.progress import ProgressLine
from touchline.projections.timeline import read_timeline
from touchline.simulate import batches, simulate_day

# What a broken channel system sends: refused at the edge, the rest goes on.
_BROKEN_FEED = (
    b'[{"id":"01a20000-0000-7000-8000-000000000001","type":"fax.recieved","version":1,'
    b'"occurred_at":"2026-11-20T10:00:00Z","source":"old-fax-gw",'
    b'"identities":{"fax":"+1 212 555 0100"},'
    b'"payload":{"document_id":"F1","pages":1}},'
    b'{"id":"01a20000-0000-7000-8000-000000000002","type":"call.inbound_ended","version":2,'
    b'"occurred_at":"2026-11-20T10:05:00Z","source":"ivr","identities":{"phone":"12"},'
    b'"payload":{"call_id":"c9","duration_seconds":"long"}}]'
)


def run_demo(settings: Settings, *, customers: int, seed: int, day: str) -> int:
    simulated_day = date.fromisoformat(day)
    out = sys.stdout
    print(f"touchline demo: {customers:,} customers, {day}, seed {seed}", file=out)
    print(f"  data in {settings.data_path.resolve()} (embedded log + SQLite)", file=out)
    started = time.perf_counter()
    people, events = simulate_day(simulated_day, customers, seed)
    sources = sorted({event.source for event in events})
    print(
        f"  simulated {len(events):,} events from {len(sources)} channel systems: "
        f"{', '.join(sources)}",
        file=out,
    )

    with build_backbone(settings) as backbone:
        publishing = ProgressLine("  publishing", waiting="to go")
        accepted = 0
        for batch in batches(events, 1000):
            accepted += len(backbone.publisher.publish(batch).accepted)
            publishing(accepted, len(events) - accepted)
        publishing.finish(accepted)

        refused = backbone.publisher.publish_raw(_BROKEN_FEED).rejected
        print("  a broken feed sent 2 events; both refused at the edge with reasons:", file=out)
        for error in refused:
            print(f"    - {error}", file=out)

        # Each event passes two processors (resolver, timeline), so it counts twice.
        processing = ProgressLine("  resolving + projecting")
        consumed = backbone.runtime.catch_up(processing)
        processing.finish(consumed)

        ann = people[0]
        with backbone.engine.connect() as connection:
            email = backbone.codec.normalise_identifier("email", ann.email)
            customer_id = find_customer(connection, "email", email)
            if customer_id is None:
                print("touchline demo: the showcase customer was not resolved", file=sys.stderr)
                return 1
            page = read_timeline(connection, customer_id, limit=40)

    print(f"\n{ann.name} ({ann.email}, {ann.phone}), customer {customer_id}:", file=out)
    print("  newest first, every channel in one story", file=out)
    for entry in page.entries:
        print(f"  {entry.occurred_at:%H:%M}  {entry.channel:<9} {entry.summary}", file=out)
    elapsed = time.perf_counter() - started
    print(f"\ndone in {elapsed:.1f}s. Next:", file=out)
    print(f"  .venv/bin/touchline timeline {ann.email}", file=out)
    print(
        f"  .venv/bin/touchline timeline '{ann.phone}' --channel call --channel service", file=out
    )
    print("  .venv/bin/touchline lag", file=out)
    return 0
