"""Both cores at work on one machine: each processor in a process of its own.

On the embedded default each processor writes to a SQLite file of its own
(``registry.Entry.store``) and reads the shared log, so the resolver and the
timeline can commit at the same time; on PostgreSQL they always could. The
parent process only supervises: it starts one child per processor (forked,
so nothing is imported again), tells when the pipeline has caught up, and
stops the children. A child dies with its parent (``PR_SET_PDEATHSIG``), so a
``kill -9`` of ``touchline run`` never leaves a stage running on its own.

Positions stay with the state they produced, in each child's own database,
exactly as in one process: a crash of any process replays its batch, and
event ids make that harmless.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.context import ForkProcess
from multiprocessing.sharedctypes import Synchronized

from sqlalchemy import Engine

from touchline import exit_codes
from touchline.bootstrap import Backbone, build_backbone
from touchline.collector import collect_less_often
from touchline.config import Settings
from touchline.processing.embedded import EmbeddedRuntime, Progress
from touchline.processing.port import ProcessorStopped
from touchline.store.checkpointer import Checkpointer

_PR_SET_PDEATHSIG = 1
_TICK_S = 0.005
"""How often the supervisor reads the stages' counters while it waits for
them to catch up: shared memory, a few microseconds a read."""
_PROGRESS_S = 0.25


class StageFailed(RuntimeError):
    """A stage's process ended on its own: its message is on stderr above."""


class Stages:
    """One process per processor of ``backbone``, started by ``start``."""

    def __init__(self, backbone: Backbone, *, idle_sleep: float = 0.02) -> None:
        self.backbone = backbone
        self.names = [runner.processor.name for runner in backbone.runners]
        self.idle_sleep = idle_sleep
        self._context = multiprocessing.get_context("fork")
        # A flag, not a multiprocessing.Event: setting an Event waits for the
        # processes asleep on it to wake, and a stage killed in its sleep
        # never does, which hung the parent on its way out.
        self._stop: Synchronized[bool] = self._context.Value(ctypes.c_bool, False)
        self._counters: dict[str, _Counters] = {}
        self._processes: dict[str, ForkProcess] = {}

    def start(self) -> None:
        parent = os.getpid()
        for name in self.names:
            value = self._context.Value
            counters = _Counters(
                taken=value("q", 0),
                rounds=value("q", 0),
                cpu=value("d", 0.0),
                idle=value(ctypes.c_bool, False),
            )
            stage = _Stage(self.backbone.settings, name, parent, self.idle_sleep)
            process = self._context.Process(
                target=_stage,
                args=(stage, self._stop, counters),
                name=f"touchline-{name}",
                daemon=True,
            )
            process.start()
            self._counters[name] = counters
            self._processes[name] = process

    def __enter__(self) -> Stages:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def pids(self) -> dict[str, int]:
        """Each stage's process id, by processor name."""
        return {name: p.pid for name, p in self._processes.items() if p.pid is not None}

    def rounds(self) -> dict[str, int]:
        """How many times each stage has gone round its loop: a stage that
        stops counting while it has work is stuck."""
        return {name: c.rounds.value for name, c in self._counters.items()}

    def taken(self) -> int:
        """Events the stages have taken so far (applied or dead-lettered)."""
        return sum(c.taken.value for c in self._counters.values())

    def cpu_seconds(self) -> dict[str, float]:
        """Each stage's CPU time (all its threads) as of its last round, by
        processor name: what a stage costs per event, measured where it runs."""
        return {name: c.cpu.value for name, c in self._counters.items()}

    def idle(self) -> dict[str, bool]:
        """Whether each stage's last round found nothing to take."""
        return {name: c.idle.value for name, c in self._counters.items()}

    def until_caught_up(self, progress: Progress | None = None) -> None:
        """Wait, once started, until nothing waits on any topic. A stage
        reports after its commit: read ``taken`` and ``cpu_seconds`` once
        stopped for the last batch's share.

        The check that settles it (:meth:`waiting`, some 2 ms of reading
        every stage's positions and the log's ends) runs only when every
        stage has gone round again since the last one and found nothing to
        take; until then the stages' counters are read, every few ms. So
        this returns within a few ms of the last commit, where a fixed
        quarter-second poll overshot by half that on average, and it takes
        no CPU from stages that are busy.
        """
        checked = dict.fromkeys(self.names, -1)
        shown = time.monotonic()
        while True:
            self.check()
            rounds = self.rounds()
            if all(self.idle().values()) and all(rounds[n] > checked[n] for n in self.names):
                checked = rounds
                if not self.waiting():
                    return
            if progress is not None and time.monotonic() - shown >= _PROGRESS_S:
                progress(self.taken(), self.waiting())
                shown = time.monotonic()
            time.sleep(_TICK_S)

    def tend(self) -> None:
        """A supervisor's round: raise StageFailed when a stage has ended, and
        delete the interactions every reader has taken, when that is due."""
        self.check()
        if self.backbone.handoff is not None:
            self.backbone.handoff.due()

    def check(self) -> None:
        """Raise StageFailed when a stage's process has ended on its own."""
        for name, process in self._processes.items():
            if process.exitcode is not None and not self._stop.value:
                raise StageFailed(
                    f"the {name} stage stopped (exit code {process.exitcode}); "
                    "its message is above, and nothing of its last batch was committed"
                )

    def waiting(self) -> int:
        """Records waiting on any topic, by the positions the stages stored."""
        return waiting(self.backbone)

    def stop(self) -> None:
        self._stop.value = True
        for process in self._processes.values():
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
                process.join()


def waiting(backbone: Backbone) -> int:
    """Records waiting on any topic, by the positions the processors stored
    (in this process or in others: each is read from its store).

    A stage appends what it emits before it commits its position, so a
    stage with nothing waiting has put in the log all it will emit for
    what it read. But the stages are not a line: the synchronizer emits
    onto the interactions it reads itself, after the timeline's lag was
    read as 0, and may take its own events before its lag is read. So
    the lags count only when no topic grew while they were read (the
    ends before and after are the same): then all were read of one log.
    """
    before = _ends(backbone)
    count = 0
    for runner in backbone.runners:
        runner.forget()  # the stages' processes move the positions, not this one
        count += sum(runner.lag().values()) + runner.pending()
    if count == 0 and _ends(backbone) != before:
        return 1  # something was appended meanwhile: not settled, look again
    return count


def _ends(backbone: Backbone) -> dict[str, dict[int, int]]:
    topics = {runner.topic for runner in backbone.runners}
    return {topic: backbone.log.end_offsets(topic) for topic in sorted(topics)}


def catch_up(backbone: Backbone, progress: Progress | None = None) -> int:
    """Run until nothing waits on any topic: in a process per processor when
    each has a database of its own, else in this process. How many events
    were taken (applied or dead-lettered)."""
    if not backbone.parallel:
        return backbone.runtime.catch_up(progress)
    with Stages(backbone) as stages:
        stages.until_caught_up(progress)
    return stages.taken()


def run(backbone: Backbone, stop: threading.Event) -> None:
    """Run until ``stop`` is set, in a process per processor where possible."""
    if not backbone.parallel:
        backbone.runtime.run(stop)
        return
    with Stages(backbone) as stages:
        while not stop.wait(0.2):
            stages.tend()


@dataclass(frozen=True, slots=True)
class _Counters:
    """What a stage tells its parent, in shared memory, after each round."""

    taken: Synchronized[int]
    rounds: Synchronized[int]
    cpu: Synchronized[float]
    idle: Synchronized[bool]
    """The last round found nothing to take (not set while retrying)."""


@dataclass(frozen=True, slots=True)
class _Stage:
    settings: Settings
    name: str
    parent: int
    """The supervising process's pid: the child dies with it."""
    idle_sleep: float


def _stage(stage: _Stage, stop: Synchronized[bool], counters: _Counters) -> None:
    """A child's life: one processor's runner, until told to stop."""
    settings, name, idle_sleep = stage.settings, stage.name, stage.idle_sleep
    _die_with(stage.parent)
    # Ctrl-C reaches the whole process group: the parent handles it and then
    # stops the children between batches. A SIGTERM sent to a child itself
    # ends it at once, which is as harmless as a kill -9: nothing of an
    # unfinished batch is committed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, forked with it
    with build_backbone(settings, migrate=False, only=[name]) as backbone:
        [runner] = backbone.runners
        # What was built to run (modules, the codec's decoders, the engine) lives
        # as long as the stage: out of the collector's sight, its full passes do
        # not walk it again and again (a few microseconds per event, measured).
        checkpointer = _checkpointer(runner.engine)
        gc.freeze()
        collect_less_often()  # as the touchline command sets it; an embedding process may not

        def report(consumed: int | None) -> None:
            counters.taken.value = runner.stats.taken
            counters.cpu.value = time.process_time()
            counters.idle.value = consumed == 0
            counters.rounds.value += 1  # last: a new round's report is whole
            if checkpointer is not None:
                checkpointer.poke()

        try:
            EmbeddedRuntime([runner], idle_sleep=idle_sleep).run(_Flag(stop), each_round=report)
        except ProcessorStopped as error:
            print(f"touchline: {error}", file=sys.stderr)
            sys.exit(exit_codes.INTERNAL)
        finally:
            if checkpointer is not None:
                checkpointer.stop()


def _checkpointer(engine: Engine) -> Checkpointer | None:
    """A stage's own SQLite file is checkpointed beside it; PostgreSQL has
    nothing of the kind to do."""
    if engine.dialect.name != "sqlite":
        return None
    return Checkpointer(engine).start()


class _Flag:
    """The parent's stop flag, as a run loop waits on it."""

    def __init__(self, value: Synchronized[bool]) -> None:
        self._value = value

    def is_set(self) -> bool:
        return bool(self._value.value)

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking soon after the flag is raised."""
        deadline = time.monotonic() + timeout
        while not self._value.value and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.02))
        return self.is_set()


def _die_with(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies; if the parent is
    already gone (it died before the request), go now."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(exit_codes.INTERNAL)
