"""Run the benchmarks and print medians with the machine they ran on."""

from __future__ import annotations

import argparse

from bench import embedded, kafka
from bench.machine import describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench")
    parser.add_argument("--runs", type=int, default=5, help="runs per benchmark (median shown)")
    parser.add_argument(
        "--customers", type=int, default=15_000, help="simulated customers (about 7 events each)"
    )
    parser.add_argument(
        "--only", choices=["embedded", "kafka"], help="run one benchmark (default: both)"
    )
    args = parser.parse_args()
    print(f"machine: {describe_machine()}", flush=True)
    if args.only in (None, "embedded"):
        for line in embedded.main(args.runs, args.customers):
            print(line, flush=True)
    if args.only in (None, "kafka"):
        for line in kafka.main(args.runs, args.customers // 3):
            print(line, flush=True)


if __name__ == "__main__":
    main()
