"""Run the benchmarks and print medians with the machine they ran on."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from bench import (
    adapters,
    api_ingest,
    campaigns,
    console,
    embedded,
    handoff,
    identity,
    kafka,
    profile,
    timeline_pg,
)
from bench.machine import describe_machine
from touchline.collector import collect_less_often


def main() -> None:
    # As the touchline command sets it for every process it runs in.
    collect_less_often()
    parser = argparse.ArgumentParser(prog="./dev bench")
    parser.add_argument("--runs", type=int, default=5, help="runs per benchmark (median shown)")
    parser.add_argument(
        "--customers", type=int, default=15_000, help="simulated customers (about 7 events each)"
    )
    parser.add_argument(
        "--only",
        choices=list(BENCHES),
        help="run one benchmark (default: all)",
    )
    graph = parser.add_argument_group("identity and profile")
    graph.add_argument(
        "--database-url",
        help="PostgreSQL server to run them on (a scratch database is created and dropped); "
        "default: SQLite in a temporary directory",
    )
    graph.add_argument(
        "--graph-customers",
        type=int,
        default=250_000,
        help="customers seeded in the identity graph, 4 identifiers each",
    )
    graph.add_argument(
        "--batches", type=int, default=25, help="resolver batches of 2,000 events per run"
    )
    graph.add_argument(
        "--cprofile", type=int, default=0, metavar="N", help="also profile one run, top N"
    )
    graph.add_argument("--profiles", type=int, default=200, help="customers with a long history")
    graph.add_argument("--history", type=int, default=2_000, help="events per such customer")
    graph.add_argument("--reads", type=int, default=2_000, help="profile reads per run")
    sync = parser.add_argument_group("campaigns")
    sync.add_argument(
        "--targeted", type=int, default=100_000, help="customers targeted across 100 campaigns"
    )
    sync.add_argument(
        "--decisions", type=int, default=2_000, help="next-best-offer decisions per run"
    )
    sending = parser.add_argument_group("adapters")
    sending.add_argument("--emails", type=int, default=2_000, help="emails sent per run")
    sending.add_argument("--webhooks", type=int, default=4_000, help="webhooks sent per run")
    api = parser.add_argument_group("the HTTP API")
    api.add_argument(
        "--ingest-batches", type=int, default=100, help="requests of 500 events per ingest run"
    )
    api.add_argument(
        "--timeline-server",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server for the timeline bench (its database is kept between runs)",
    )
    api.add_argument("--timeline-customers", type=int, default=1_000_000)
    api.add_argument("--timeline-events", type=int, default=20_000_000)
    api.add_argument("--timeline-reads", type=int, default=2_000, help="first pages read per run")
    desk = parser.add_argument_group("the agent console (in Chromium)")
    desk.add_argument(
        "--console-customers", type=int, default=3_000, help="the demo's customers (its default)"
    )
    desk.add_argument("--console-lookups", type=int, default=50, help="lookups per run")
    desk.add_argument("--console-publishes", type=int, default=20, help="events published per run")
    desk.add_argument(
        "--console-screenshot",
        type=Path,
        metavar="PNG",
        help="also save the console on a demo customer there (docs/console.png)",
    )
    args = parser.parse_args()
    print(f"machine: {describe_machine()}", flush=True)
    for name, bench in BENCHES.items():
        if args.only in (None, name):
            for line in bench(args):
                print(line, flush=True)


BENCHES: dict[str, Callable[[argparse.Namespace], list[str]]] = {
    "embedded": lambda a: embedded.main(a.runs, a.customers),
    "handoff": lambda a: handoff.main(a.runs, a.customers),
    "kafka": lambda a: kafka.main(a.runs, a.customers // 3),
    "identity": lambda a: identity.main(
        a.runs, a.graph_customers, a.batches, a.database_url, a.cprofile
    ),
    "campaigns": lambda a: campaigns.main(a.runs, a.targeted, a.decisions, a.database_url),
    "profile": lambda a: profile.main(a.runs, a.profiles, a.history, a.reads, a.database_url),
    "ingest": lambda a: api_ingest.main(a.runs, a.ingest_batches),
    "console": lambda a: console.main(
        a.runs, a.console_customers, a.console_lookups, a.console_publishes, a.console_screenshot
    ),
    "timeline": lambda a: timeline_pg.main(
        a.runs, a.timeline_server, a.timeline_customers, a.timeline_events, a.timeline_reads
    ),
    "adapters": lambda a: adapters.main(a.runs, a.emails, a.webhooks),
}
"""Each benchmark by the name ``--only`` takes, in the order they run."""

if __name__ == "__main__":
    main()
