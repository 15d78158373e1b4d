"""Run the benchmarks and print medians with the machine they ran on."""

from __future__ import annotations

import argparse

from bench import embedded
from bench.machine import describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench")
    parser.add_argument("--runs", type=int, default=5, help="runs per benchmark (median shown)")
    parser.add_argument(
        "--customers", type=int, default=15_000, help="simulated customers (about 7 events each)"
    )
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    for line in embedded.main(args.runs, args.customers):
        print(line)


if __name__ == "__main__":
    main()
