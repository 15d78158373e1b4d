"""A fault in a processor stops a Kafka worker with its message, as it stops
the embedded runner: never a crash loop. The worker's batch path is driven
in a process of its own, on records from the embedded log."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from touchline import exit_codes

_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime, UTC
    from tests.helpers import ann_story, runner_for
    from touchline.bootstrap import build_backbone
    from touchline.config import load_settings
    from touchline.log.port import TopicPartition
    from touchline.processing.kafka_worker import apply_until_done
    from touchline.processing.port import EVENTS, Outcome, Processor

    class Faulty(Processor):
        name = "faulty"
        reads = EVENTS
        def __init__(self, topic):
            self.source_topic = topic
        def process(self, connection, events):
            raise AttributeError("'NoneType' object has no attribute 'offer'")

    settings = load_settings({}, data_dir=sys.argv[1])
    with build_backbone(settings) as backbone:
        topic = settings.topics.touchpoints
        backbone.publisher.publish(ann_story(datetime(2026, 11, 20, 9, tzinfo=UTC)))
        runner = runner_for(backbone, Faulty(topic))
        tp, records = next(
            (tp, records)
            for tp in (TopicPartition(topic, p) for p in range(backbone.log.partitions(topic)))
            if (records := backbone.log.read(tp, 0, 10))
        )
        asyncio.run(apply_until_done(runner, tp, records))
    print("carried on")
    """
)


def test_a_fault_stops_the_worker_with_where_and_why(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.returncode == exit_codes.INTERNAL, done.stderr
    assert "carried on" not in done.stdout
    assert "touchline: faulty stopped on touchline.touchpoints[" in done.stderr
    assert "AttributeError: 'NoneType' object has no attribute 'offer'" in done.stderr
