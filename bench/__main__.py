"""Run the benchmarks and print medians with the machine they ran on."""

from __future__ import annotations

import argparse

from bench import campaigns, embedded, identity, kafka, profile
from bench.machine import describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench")
    parser.add_argument("--runs", type=int, default=5, help="runs per benchmark (median shown)")
    parser.add_argument(
        "--customers", type=int, default=15_000, help="simulated customers (about 7 events each)"
    )
    parser.add_argument(
        "--only",
        choices=["embedded", "kafka", "identity", "profile", "campaigns"],
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
    args = parser.parse_args()
    print(f"machine: {describe_machine()}", flush=True)
    if args.only in (None, "embedded"):
        for line in embedded.main(args.runs, args.customers):
            print(line, flush=True)
    if args.only in (None, "kafka"):
        for line in kafka.main(args.runs, args.customers // 3):
            print(line, flush=True)
    if args.only in (None, "identity"):
        for line in identity.main(
            args.runs, args.graph_customers, args.batches, args.database_url, args.cprofile
        ):
            print(line, flush=True)
    if args.only in (None, "campaigns"):
        for line in campaigns.main(args.runs, args.targeted, args.decisions, args.database_url):
            print(line, flush=True)
    if args.only in (None, "profile"):
        for line in profile.main(
            args.runs, args.profiles, args.history, args.reads, args.database_url
        ):
            print(line, flush=True)


if __name__ == "__main__":
    main()
