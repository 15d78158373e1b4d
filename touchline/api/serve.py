"""``touchline api``: serve the API with uvicorn, and on the embedded log run
the processors beside it, so one command is a working backbone.

A newcomer who posts an event and then reads the timeline expects to see it:
on the embedded log the processors run in this process's children by
default (as ``touchline run`` runs them, holding the same lock, so the two
never both project one data directory). When ``touchline run`` already
holds it, the API only serves and says so; ``--no-processors`` asks for
that. On Kafka the processors are ``touchline worker`` replicas: the API only
serves, and ``--processors`` is refused.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from touchline.api.app import Api, create_app
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import Settings
from touchline.parallel import StageFailed, Stages
from touchline.processing.embedded import AlreadyRunning, RunnerLock
from touchline.store.api_keys import ApiKeys


class ApiServer(uvicorn.Server):
    """uvicorn's server for the API, ending its event streams as it shuts down.

    uvicorn waits for every open response to finish before it stops, with
    no limit by default; an event stream never finishes on its own, so
    without this a stop would wait for the last subscriber to leave.
    """

    def __init__(self, api: Api, **config: Any) -> None:
        super().__init__(uvicorn.Config(api, **config))
        self.api = api

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.api.close_streams()
        await super().shutdown(sockets)


def serve(settings: Settings, *, host: str, port: int, processors: bool | None) -> int:
    """Serve until interrupted; ``processors`` None: run them if nobody does."""
    on_kafka = settings.resolved_log_url.startswith("kafka://")
    if on_kafka and processors:
        raise ValueError("on Kafka the processors run in `touchline worker`, not in the API")
    lock = RunnerLock(settings.data_path)
    run_them = False
    if not on_kafka and processors is not False:
        try:
            lock.acquire()
            run_them = True
        except AlreadyRunning:
            if processors:
                raise
            print(
                f"touchline: {lock.path} is held (touchline run?): serving only, "
                "the processors are that process's",
                file=sys.stderr,
            )
    try:
        with build_backbone(settings) as backbone:
            _serve(backbone, host, port, run_them)
    finally:
        lock.release()
    return 0


def _serve(backbone: Backbone, host: str, port: int, run_them: bool) -> None:
    api = create_app(backbone)
    server = ApiServer(api, host=host, port=port, log_level="info")
    stop = threading.Event()
    # Stages fork: before uvicorn's threads exist, so no child inherits a lock held by one.
    finish = _start_processors(backbone, stop, server) if run_them else None
    where = "with the processors" if run_them else "serving only"
    print(f"touchline: API on http://{host}:{port} ({where}); Ctrl-C stops", file=sys.stderr)
    hint = key_hint(ApiKeys(backbone.engine))
    if hint:
        print(f"touchline: {hint}", file=sys.stderr)
    # uvicorn handles SIGINT and SIGTERM itself (a graceful shutdown), then
    # raises the signal again to the handler it found: let that be a no-op,
    # so a stop asked for is exit status 0, not death by the signal.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda _signum, _frame: None)
    try:
        server.run()
    finally:
        stop.set()
        if finish is not None:
            finish()


def key_hint(keys: ApiKeys) -> str | None:
    """How to make a key, when no live key exists: every /v1 route needs one,
    and a newcomer should read that here before the first 401 says it."""
    if any(key.revoked_at is None for key in keys.list_keys()):
        return None
    return "no API key yet; make one with `touchline keys create --name me --scope admin`"


def _start_processors(
    backbone: Backbone, stop: threading.Event, server: uvicorn.Server
) -> Callable[[], None]:
    """Start the processors; what to call to stop them."""
    if not backbone.parallel:
        thread = threading.Thread(target=backbone.runtime.run, args=(stop,), daemon=True)
        thread.start()
        return thread.join
    stages = Stages(backbone)
    stages.start()

    def supervise() -> None:
        while not stop.wait(0.2):
            try:
                stages.tend()
            except StageFailed as error:
                print(f"touchline: {error}; stopping the API", file=sys.stderr)
                server.should_exit = True
                return

    supervisor = threading.Thread(target=supervise, daemon=True)
    supervisor.start()

    def finish() -> None:
        supervisor.join()
        stages.stop()

    return finish
