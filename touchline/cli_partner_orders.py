"""``touchline partner-orders watch DIR``: partner order files dropped in a folder.

Each ``*.csv`` in the folder is claimed, its good lines published as
``partner.order_*`` events, and the file moved to ``done`` or ``failed``
with a report of the lines that were not published
(:mod:`touchline.inbound.drop_folder`). ``--once`` takes what is there and
exits: 1 when any line was reported or any file failed, so a script notices.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from touchline import exit_codes
from touchline.bootstrap import build_backbone, remembering_publisher
from touchline.config import Settings
from touchline.inbound.drop_folder import CHUNK, FileOutcome, take_all, watch
from touchline.log.port import LogError
from touchline.stopping import stop_on_signals


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    orders = commands.add_parser(
        "partner-orders", help="partner order files (README: Partner order files)"
    ).add_subparsers(required=True, metavar="COMMAND")
    watch_parser = orders.add_parser(
        "watch",
        help="publish the order files dropped in a folder, then file them in done/ or failed/",
    )
    watch_parser.add_argument("folder", type=Path, help="where partners drop their *.csv files")
    watch_parser.add_argument(
        "--once", action="store_true", help="take the files there now, then exit"
    )
    watch_parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between looks (default 5)"
    )
    watch_parser.add_argument(
        "--chunk", type=int, default=CHUNK, help=f"lines per publish (default {CHUNK})"
    )
    watch_parser.add_argument(
        "--partner",
        metavar="ACCOUNT",
        help="the one partner account this folder takes orders of: a line naming "
        "another is reported (wrong_partner), not published (default: any)",
    )
    watch_parser.set_defaults(command=cmd_watch)


def cmd_watch(settings: Settings, args: argparse.Namespace) -> int:
    folder: Path = args.folder
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    if args.interval <= 0 or args.chunk < 1:
        raise ValueError("--interval must be above 0 and --chunk at least 1")
    with build_backbone(settings) as backbone:
        publisher = remembering_publisher(backbone)
        if args.once:
            outcomes = take_all(
                folder, publisher, chunk=args.chunk, partner=args.partner, on_file=_print
            )
            troubled = any(outcome.failed or outcome.errors for outcome in outcomes)
            return exit_codes.REFUSED if troubled else exit_codes.OK
        stop = stop_on_signals("this file")
        print(f"touchline: watching {folder} for order files (Ctrl-C stops)", file=sys.stderr)
        watch(
            folder,
            publisher,
            stop,
            interval=args.interval,
            chunk=args.chunk,
            partner=args.partner,
            on_file=_print,
            retry_on=(LogError, DBAPIError),
        )
    return exit_codes.OK


def _print(outcome: FileOutcome) -> None:
    where = f"{outcome.moved_to.parent.name}/{outcome.moved_to.name}"
    report = outcome.report
    reported = f" (report {outcome.moved_to.parent.name}/{report.name})" if report else ""
    print(
        f"{outcome.name}: {outcome.lines} lines, {outcome.accepted} accepted, "
        f"{outcome.duplicates} duplicates, {len(outcome.errors)} reported -> {where}{reported}",
        flush=True,
    )
