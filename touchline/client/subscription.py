"""Following the campaign-state stream, reconnecting when the connection drops.

Each reconnection sends the id of the last message seen (``Last-Event-ID``),
so the server goes on just past it: nothing is skipped or repeated across a
drop. Every connection opens with an id too, so even one that drops before
any change resumes where it began.

A stream that stays silent past ``idle_timeout`` is taken for dead (the
server sends a heartbeat at least every 15 s) and reconnected. The wait
before a reconnection backs off as in :mod:`touchline.client.retry`, and
starts over once a connection delivers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from types import TracebackType

import httpx

from touchline.client.errors import ConnectionFailed, ProblemError
from touchline.client.models import Change, Reset
from touchline.client.retry import RETRIED_ERRORS, RETRIED_STATUSES, Backoff, retry_after
from touchline.client.sse import messages
from touchline.events import EventCodec

PATH = "/v1/streams/campaign-state"


class Subscription:
    """An iterator of :class:`Change` and :class:`Reset`, endless; close it
    (or use it as a context manager) to drop the connection."""

    def __init__(
        self,
        http: httpx.Client,
        codec: EventCodec,
        backoff: Backoff,
        *,
        last_event_id: str | None,
        from_start: bool,
        idle_timeout: float,
        max_reconnects: int | None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self._codec = codec
        self._backoff = backoff
        self.last_event_id = last_event_id
        """The position to resume from: keep it to carry on after a restart."""
        self._from_start = from_start
        self._idle_timeout = idle_timeout
        self._max_reconnects = max_reconnects
        self._sleep = sleep
        self.reconnects = 0
        """How many times the connection was made again."""
        self._items = self._follow()

    def __iter__(self) -> Subscription:
        return self

    def __next__(self) -> Change | Reset:
        return next(self._items)

    def close(self) -> None:
        self._items.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _follow(self) -> Generator[Change | Reset, None, None]:
        failures = 0
        while True:
            wait: float | None = None
            try:
                with closing(self._connect()) as response:
                    if response.status_code >= 400:
                        response.read()
                        cause: BaseException = ProblemError.from_response(response)
                        if response.status_code not in RETRIED_STATUSES:
                            raise cause
                        wait = retry_after(response)
                    else:
                        for item in self._read(response):
                            failures = 0
                            if item is not None:
                                yield item
                        cause = ConnectionFailed("the server ended the stream")
            except RETRIED_ERRORS as error:
                cause = error
            if self._max_reconnects is not None and failures >= self._max_reconnects:
                raise ConnectionFailed(
                    f"the campaign-state stream dropped {failures + 1} times in a row"
                ) from cause
            self._sleep(self._backoff.delay(failures, wait))
            failures += 1
            self.reconnects += 1

    def _connect(self) -> httpx.Response:
        headers = {"Accept": "text/event-stream"}
        params = {}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        elif self._from_start:
            params["from"] = "start"
        timeout = httpx.Timeout(self._http.timeout.connect, read=self._idle_timeout)
        request = self._http.build_request(
            "GET", PATH, headers=headers, params=params, timeout=timeout
        )
        return self._http.send(request, stream=True)

    def _read(self, response: httpx.Response) -> Iterator[Change | Reset | None]:
        """What the stream brings; None for a message that is neither (a
        heartbeat, the opening id): a sign of life all the same."""
        for message in messages(response.iter_lines()):
            if message.id is not None:
                self.last_event_id = message.id or None
            position = self.last_event_id or ""
            if message.event == "campaign-state" and message.data is not None:
                yield Change(position, self._codec.decode(message.data.encode()))
            elif message.event == "reset" and message.data is not None:
                yield Reset.from_data(position, message.data)
            else:
                yield None
