"""The ``touchline`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import faust
import msgspec
from sqlalchemy.exc import DBAPIError

from touchline import (
    cli_adapters,
    cli_campaigns,
    cli_customers,
    cli_dead_letters,
    cli_keys,
    cli_partner_orders,
    exit_codes,
    parallel,
    registry,
)
from touchline.adapters.registry import dispatcher_lag
from touchline.bootstrap import build_backbone
from touchline.cli_customers import known_customer
from touchline.collector import collect_less_often
from touchline.config import Settings, load_settings
from touchline.dead_letters.redrive import UnknownLetter
from touchline.demo import run_demo
from touchline.events.codec import UnreadableInput
from touchline.events.instants import from_us
from touchline.log.port import LogError
from touchline.logs import configure_logging
from touchline.processing.embedded import AlreadyRunning, RunnerLock
from touchline.processing.kafka_worker import make_app, worker_id
from touchline.processing.port import ProcessorStopped, RetryLater
from touchline.projections.timeline import (
    InvalidCursor,
    TimelineEntry,
    TimelineFilter,
)
from touchline.schemas import SchemaCompatibilityError, check_schemas, export_schemas
from touchline.stopping import stop_on_signals
from touchline.store.assignments import Holding, holdings
from touchline.store.engine import make_engine
from touchline.store.migrate import upgrade
from touchline.store.positions import all_positions


def main(argv: Sequence[str] | None = None) -> int:
    # Every touchline process handles events in bulk: see touchline/collector.py.
    collect_less_often()
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(**{"data_dir": args.data_dir} if args.data_dir else {})
        # The demo prints its own story; routine info (merges) would drown it.
        quiet = args.command is cmd_demo and not args.verbose
        configure_logging(settings.log_format, logging.WARNING if quiet else logging.INFO)
        code: int = args.command(settings, args)
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error of ours.
        sys.stderr.close()
        return exit_codes.OK
    except Exception as error:
        return _failed(error)
    return code


# In order: the first kind that matches decides the exit code.
_FAILURES: tuple[tuple[tuple[type[Exception], ...], int, str], ...] = (
    ((UnreadableInput,), exit_codes.UNREADABLE, "nothing published: "),
    ((UnknownLetter,), exit_codes.REFUSED, ""),
    ((LogError, DBAPIError), exit_codes.UNAVAILABLE, "the log or the database is unavailable: "),
    ((RetryLater,), exit_codes.UNAVAILABLE, "unavailable, try again: "),
    ((ProcessorStopped, parallel.StageFailed), exit_codes.INTERNAL, ""),
    ((AlreadyRunning, InvalidCursor, ValueError, OSError), exit_codes.USAGE, ""),
)


def _failed(error: Exception) -> int:
    """One line on stderr and the exit code for what went wrong."""
    for kinds, code, prefix in _FAILURES:
        if isinstance(error, kinds):
            print(f"touchline: {prefix}{error}", file=sys.stderr)
            return code
    # A fault of ours: one line and its own exit code, so a script never
    # takes it for "some refused"; the traceback only when asked for.
    if os.environ.get("TOUCHLINE_DEBUG"):
        traceback.print_exception(error)
    print(
        f"touchline: internal error ({type(error).__name__}: {error}); "
        "please report it with the traceback TOUCHLINE_DEBUG=1 shows",
        file=sys.stderr,
    )
    return exit_codes.INTERNAL


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="touchline", description="Event-sourced customer-interaction backbone."
    )
    parser.add_argument("--data-dir", type=Path, help="where the embedded log and database live")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="simulate a day of traffic and show a timeline")
    demo.add_argument("--customers", type=int, default=3000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--day", default="2026-11-20", help="the simulated day (YYYY-MM-DD)")
    demo.add_argument("--verbose", action="store_true", help="show the backbone's own log")
    demo.set_defaults(command=cmd_demo)

    run = commands.add_parser("run", help="run the embedded backbone until interrupted")
    run.set_defaults(command=cmd_run)

    worker = commands.add_parser("worker", help="run the processors as a Faust worker on Kafka")
    worker.add_argument(
        "--processor",
        action="append",
        default=[],
        help=f"run only this processor (repeatable; default: all): {', '.join(_processor_names())}",
    )
    worker.set_defaults(command=cmd_worker)

    timeline = commands.add_parser("timeline", help="print one customer's timeline")
    timeline.add_argument("identifier", help="kind:value, an email, a phone, or a customer id")
    timeline.add_argument("--channel", action="append", default=[])
    timeline.add_argument("--type", action="append", default=[])
    timeline.add_argument("--campaign")
    timeline.add_argument("--since", type=datetime.fromisoformat)
    timeline.add_argument("--until", type=datetime.fromisoformat)
    timeline.add_argument("--limit", type=int, default=50)
    timeline.add_argument("--cursor")
    timeline.add_argument("--json", action="store_true", help="machine-readable output")
    timeline.set_defaults(command=cmd_timeline)

    cli_customers.add_commands(commands)
    cli_dead_letters.add_commands(commands)
    cli_campaigns.add_commands(commands)
    cli_keys.add_commands(commands)
    cli_adapters.add_commands(commands)
    cli_partner_orders.add_commands(commands)

    publish = commands.add_parser("publish", help="publish events from a JSON file (or -)")
    publish.add_argument("file", help="a JSON event or array of events; - reads stdin")
    publish.set_defaults(command=cmd_publish)

    api = commands.add_parser("api", help="serve the HTTP API (README: Publishing over HTTP)")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument(
        "--processors",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the processors in this process too (default: on the embedded log, "
        "unless `touchline run` already does; on Kafka never)",
    )
    api.set_defaults(command=cmd_api)

    lag = commands.add_parser("lag", help="each processor's position against the log end")
    lag.set_defaults(command=cmd_lag)

    db = commands.add_parser("db", help="projection database").add_subparsers(required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(command=cmd_db_upgrade)

    schemas = commands.add_parser("schemas", help="published JSON Schemas").add_subparsers(
        required=True
    )
    schemas.add_parser("export", help="regenerate the schema files").set_defaults(
        command=cmd_schemas_export
    )
    schemas.add_parser("check", help="fail on drift or breaking changes").set_defaults(
        command=cmd_schemas_check
    )
    return parser


def _processor_names() -> list[str]:
    return registry.names() + [follower.name for follower in registry.FOLLOWERS]


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    return run_demo(settings, customers=args.customers, seed=args.seed, day=args.day)


def cmd_run(settings: Settings, _args: argparse.Namespace) -> int:
    lock = RunnerLock(settings.data_path)
    lock.acquire()
    stop = stop_on_signals("this batch")
    try:
        with build_backbone(settings) as backbone:
            stores = ", ".join(
                f"{runner.processor.name} -> {runner.engine.url.render_as_string()}"
                for runner in backbone.runners
            )
            how = "a process per processor" if backbone.parallel else "one process"
            print(
                f"touchline: running on {settings.resolved_log_url} in {how}: {stores} "
                "(Ctrl-C stops)",
                file=sys.stderr,
            )
            parallel.run(backbone, stop)
    finally:
        lock.release()
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.resolved_log_url.startswith("kafka://"):
        raise ValueError(
            "the worker runs on Kafka: set TOUCHLINE_LOG_URL=kafka://host:port "
            "(the embedded backbone is `touchline run`)"
        )
    with build_backbone(settings, only=args.processor) as backbone:
        # Imported here: kafka-python is slow to import and the embedded commands never need it.
        from touchline.log.kafka import KafkaLog  # noqa: PLC0415

        assert isinstance(backbone.log, KafkaLog)  # a kafka:// URL opens one
        app = make_app(
            backbone.log.bootstrap_servers,
            backbone.runners,
            app_id=settings.group,
            partitions=settings.partitions,
            batch_size=settings.batch_size,
            session_timeout=settings.session_timeout,
            worker=worker_id(os.getpid()),
            datadir=str(Path(settings.data_dir) / f"faust-{settings.group}"),
        )
        faust.Worker(app, loglevel="INFO", redirect_stdouts=False).execute_from_commandline()
    return 0


def cmd_timeline(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        customer_id = known_customer(backbone, args.identifier)
        if customer_id is None:
            return 1
        where = TimelineFilter(
            channels=args.channel,
            types=args.type,
            campaign_id=args.campaign,
            since=args.since,
            until=args.until,
        )
        page = backbone.queries.timeline(
            customer_id, where=where, limit=args.limit, cursor=args.cursor
        )
        cli_customers.mention_dead_letters(backbone, customer_id)
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(page)) + b"\n")
        return 0
    print(format_timeline(page.customer_id, page.entries, page.next_cursor))
    return 0


def format_timeline(
    customer_id: str, entries: Sequence[TimelineEntry], next_cursor: str | None
) -> str:
    lines = [f"Timeline of {customer_id}"]
    for entry in entries:
        when = entry.occurred_at.strftime("%Y-%m-%d %H:%M")
        lines.append(f"  {when}  {entry.channel:<8} {entry.summary}")
    if not entries:
        lines.append("  (nothing yet)")
    if next_cursor:
        lines.append(f"  ... more: --cursor {next_cursor}")
    return "\n".join(lines)


def cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    with build_backbone(settings) as backbone:
        result = backbone.publisher.publish_raw(data)
    for event, position in result.accepted:
        where = f"partition {position.partition} offset {position.offset}"
        print(f"accepted {event.id} {event.type} -> {where}")
    for error in result.rejected:
        print(f"rejected {error}", file=sys.stderr)
    if not result.accepted and not result.rejected:
        print("nothing to publish: the array is empty")
    return exit_codes.REFUSED if result.rejected else exit_codes.OK


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    # Imported here: Litestar and uvicorn are slow to import, and only this command needs them.
    from touchline.api.serve import serve  # noqa: PLC0415

    return serve(settings, host=args.host, port=args.port, processors=args.processors)


def cmd_lag(settings: Settings, _args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        dead = cli_dead_letters.dead_by_processor(backbone)
        for runner in backbone.runners:
            lag = runner.lag()
            name = runner.processor.name
            with runner.engine.connect() as connection:
                # Kafka workers record what they hold; the embedded runtime holds everything.
                held = holdings(connection, name, runner.topic)
            _print_lag(name, runner.topic, lag, held, dead.get(name, 0))
            if runner.relay.topics:
                topics = ", ".join(runner.relay.topics)
                print(f"  outbox: {runner.relay.waiting()} records waiting for {topics}")
            for follower in registry.followers_of(name):
                print(f"  {follower.name}: {follower.about} (no lag of its own)")
        if backbone.handoff is not None:
            kept, deleted = backbone.handoff.kept()
            print(
                f"{backbone.handoff.topic}: {kept} records kept, {deleted} deleted once every"
                " reader had them (README: Retention)"
            )
        # The configured channels' dispatchers (``touchline adapters``): their
        # positions sit beside the action ledger, in the synchronizer's store.
        for adapter in dispatcher_lag(backbone):
            letters = dead.get(adapter.name, 0)
            _print_lag(adapter.name, adapter.topic, adapter.behind, adapter.held, letters)
            if any(adapter.behind.values()) and not adapter.held:
                print("  these actions go out when `touchline adapters` runs")
            if adapter.next_due_us is not None:
                due = from_us(adapter.next_due_us)
                print(
                    f"  put back: {adapter.put_back} actions waiting to be tried again "
                    f"(the next at {due:%Y-%m-%d %H:%M:%S} UTC)"
                )
    return 0


def _print_lag(
    name: str, topic: str, lag: dict[int, int], held: dict[int, Holding], letters: int
) -> None:
    """A processor's (or a dispatcher's) lag, per partition, with who holds each."""
    note = f", {letters} dead (touchline dead-letters list --processor {name})"
    print(f"{name} on {topic}: {sum(lag.values())} records behind{note if letters else ''}")
    for partition, behind in sorted(lag.items()):
        print(f"  partition {partition}: {behind}{_held_by(held.get(partition))}")


def _held_by(holding: Holding | None) -> str:
    if holding is None:
        return ""
    since = from_us(holding.assigned_at_us)
    return f" (held by {holding.worker} since {since:%Y-%m-%d %H:%M:%S} UTC)"


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    urls = dict.fromkeys(settings.store_url(store) for store in registry.stores())
    for url in urls:
        engine = make_engine(url)
        upgrade(engine)
        with engine.connect() as connection:
            positions = list(all_positions(connection))
        engine.dispose()
        print(f"touchline: {url} is up to date ({len(positions)} positions)")
    return 0


def cmd_schemas_export(_settings: Settings, _args: argparse.Namespace) -> int:
    try:
        report = export_schemas()
    except SchemaCompatibilityError as error:
        print(f"touchline: {error}", file=sys.stderr)
        return 1
    print(report)
    return 0


def cmd_schemas_check(_settings: Settings, _args: argparse.Namespace) -> int:
    problems = check_schemas()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
