"""``touchline adapters``: the channel adapters' dispatchers, until interrupted.

On the embedded log they run in this process beside ``touchline run`` (the
ledger's conditional take keeps two dispatchers from sending one action
twice). On Kafka they run as a Faust app of their own consumer group
(``<group>-adapters``), so scaling them never moves the workers' partitions.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import faust

from touchline.adapters.registry import channels, close_adapters, dispatcher_runners
from touchline.bootstrap import build_backbone
from touchline.config import Settings
from touchline.processing.embedded import EmbeddedRuntime
from touchline.processing.kafka_worker import make_app, worker_id
from touchline.stopping import stop_on_signals


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    adapters = commands.add_parser(
        "adapters", help="send the campaigns' actions through each channel until interrupted"
    )
    adapters.add_argument(
        "--channel",
        action="append",
        default=[],
        help=f"run only this channel's adapter (repeatable; default: all): {', '.join(channels())}",
    )
    adapters.set_defaults(command=cmd_adapters)


def cmd_adapters(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        runners = dispatcher_runners(backbone, only=args.channel)
        names = ", ".join(runner.processor.name for runner in runners)
        if settings.resolved_log_url.startswith("kafka://"):
            # Imported here: kafka-python is slow to import and the embedded log never needs it.
            from touchline.log.kafka import KafkaLog  # noqa: PLC0415

            assert isinstance(backbone.log, KafkaLog)  # a kafka:// URL opens one
            app = make_app(
                backbone.log.bootstrap_servers,
                runners,
                app_id=f"{settings.group}-adapters",
                partitions=settings.partitions,
                batch_size=settings.batch_size,
                session_timeout=settings.session_timeout,
                worker=worker_id(os.getpid()),
                datadir=str(Path(settings.data_dir) / f"faust-{settings.group}-adapters"),
            )
            faust.Worker(app, loglevel="INFO", redirect_stdouts=False).execute_from_commandline()
            return 0
        stop = stop_on_signals("this action")
        print(f"touchline: adapters running: {names} (Ctrl-C stops)", file=sys.stderr)
        try:
            EmbeddedRuntime(runners).run(stop)
        finally:
            close_adapters(runners)
    return 0
