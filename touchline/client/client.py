"""The client: one httpx connection pool, every call retried the same way."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
from uuid6 import uuid7

from touchline.client.errors import ConnectionFailed, ProblemError
from touchline.client.models import Published
from touchline.client.retry import RETRIED_ERRORS, RETRIED_STATUSES, Backoff, retry_after
from touchline.client.subscription import Subscription
from touchline.events import CATALOGUE, Envelope, EventCodec

USER_AGENT = "touchline-client/0.1.0"

Event = Envelope | Mapping[str, Any]
"""A catalogue envelope, or an event as JSON-ready data (the published
JSON Schemas' shape); one without an ``id`` is given a UUIDv7."""

JSON = dict[str, Any]


class Client:
    """The touchline HTTP API.

    ``retries``: attempts after the first, for calls that got no answer, a
    5xx or a 429 (see :mod:`touchline.client.retry`); ``timeout``: seconds
    for each attempt to connect, send and read.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        batch_size: int = 500,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"User-Agent": USER_AGENT}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # Redirects followed: a merged customer's id answers 308 to the survivor.
        self._http = httpx.Client(
            base_url=base_url, headers=headers, timeout=timeout, follow_redirects=True
        )
        self._backoff = Backoff(retries, backoff, max_backoff)
        self._codec = EventCodec(CATALOGUE, "json")
        self._sleep = sleep
        self.batch_size = batch_size
        """Events per request: a longer list is sent in several."""

    # -- publishing ---------------------------------------------------------

    def publish(self, events: Event | Sequence[Event]) -> Published:
        """Publish one event or a list of them; a result per event, in order.

        Each event has its id before the first attempt, so a retry (after a
        lost answer, say) is answered ``duplicate`` for what the API took
        already, never taken twice. A lone event the API refuses raises
        :class:`ProblemError` (its result in ``errors``); in a list each
        refusal is its result's, and the others are taken.
        """
        if isinstance(events, Envelope | Mapping):
            return self._publish(self._encode(events))
        bodies = [self._encode(event) for event in events]
        answers = [
            self._publish(b"[" + b",".join(bodies[start : start + self.batch_size]) + b"]")
            for start in range(0, len(bodies), self.batch_size)
        ]
        results = [
            msgspec.structs.replace(result, index=chunk * self.batch_size + result.index)
            for chunk, answer in enumerate(answers)
            for result in answer.results
        ]
        return Published(
            accepted=sum(answer.accepted for answer in answers),
            duplicates=sum(answer.duplicates for answer in answers),
            rejected=sum(answer.rejected for answer in answers),
            results=results,
        )

    def _publish(self, body: bytes) -> Published:
        response = self._call(
            "POST", "/v1/events", content=body, headers={"Content-Type": "application/json"}
        )
        return msgspec.json.decode(response.content, type=Published)

    def _encode(self, event: Event) -> bytes:
        if isinstance(event, Envelope):
            return self._codec.encode(event)
        data = dict(event)
        if data.get("id") is None:
            data["id"] = str(uuid7())
        return msgspec.json.encode(data)

    # -- reading ------------------------------------------------------------

    def find_customer(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        crm_id: str | None = None,
        web_id: str | None = None,
        fax: str | None = None,
        partner_account: str | None = None,
        partner_customer_ref: str | None = None,
    ) -> JSON | None:
        """The customer one identifier belongs to (``customer_id``, ``matched``,
        links), or None when it belongs to no one."""
        asked = {
            "email": email,
            "phone": phone,
            "crm_id": crm_id,
            "web_id": web_id,
            "fax": fax,
            "partner_account": partner_account,
            "partner_customer_ref": partner_customer_ref,
        }
        try:
            return self._get("/v1/customers", params={k: v for k, v in asked.items() if v})
        except ProblemError as error:
            if error.status == 404:
                return None
            raise

    def profile(self, customer_id: str) -> JSON:
        """The customer's profile (a merged id leads to the survivor's)."""
        return self._get(f"/v1/customers/{_segment(customer_id)}")

    def timeline(
        self,
        customer_id: str,
        *,
        channels: Sequence[str] = (),
        types: Sequence[str] = (),
        campaign: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = 100,
    ) -> Iterator[JSON]:
        """Every timeline entry, newest first, fetched a page at a time as
        the iteration goes."""
        params: dict[str, Any] = {"limit": page_size}
        if channels:
            params["channel"] = list(channels)
        if types:
            params["type"] = list(types)
        for name, value in (("campaign", campaign), ("since", since), ("until", until)):
            if value is not None:
                params[name] = value.isoformat() if isinstance(value, datetime) else value
        path = f"/v1/customers/{_segment(customer_id)}/timeline"
        while True:
            page = self._get(path, params=params)
            yield from page["entries"]
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def funnel(self, campaign_id: str) -> JSON:
        """The campaign's funnel: customers by state, conversions, revenue."""
        return self._get(f"/v1/campaigns/{_segment(campaign_id)}")

    def campaign_customer(self, campaign_id: str, customer_id: str) -> JSON:
        """One customer's state in a campaign, with its history."""
        return self._get(f"/v1/campaigns/{_segment(campaign_id)}/customers/{_segment(customer_id)}")

    def next_offer(
        self,
        customer_id: str,
        *,
        channel: str = "phone",
        limit: int = 1,
        shown: bool = False,
        shown_by: str | None = None,
    ) -> JSON:
        """The next best offers for the customer in ``channel``, with why;
        ``shown=True`` records them as made (pass it when they are shown)."""
        params: dict[str, Any] = {"channel": channel, "limit": limit, "shown": shown}
        if shown_by is not None:
            params["shown_by"] = shown_by
        return self._get(f"/v1/customers/{_segment(customer_id)}/next-offer", params=params)

    # -- subscribing --------------------------------------------------------

    def subscribe(
        self,
        last_event_id: str | None = None,
        *,
        from_start: bool = False,
        idle_timeout: float = 30.0,
        max_reconnects: int | None = None,
    ) -> Subscription:
        """Campaign state changes as they happen, from just past
        ``last_event_id`` (else from now; ``from_start``: from the log's
        beginning). Reconnects after a drop, resuming from the last id seen;
        ``max_reconnects`` drops in a row end it with ConnectionFailed
        (None: never)."""
        return Subscription(
            self._http,
            self._codec,
            self._backoff,
            last_event_id=last_event_id,
            from_start=from_start,
            idle_timeout=idle_timeout,
            max_reconnects=max_reconnects,
            sleep=self._sleep,
        )

    # -- the connection -----------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> JSON:
        answer = self._call("GET", path, params=params).json()
        if not isinstance(answer, dict):
            raise TypeError(f"GET {path} answered {type(answer).__name__}, not an object")
        return answer

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The answer to the request, after retries; ProblemError for an error."""
        attempt = 0
        while True:
            wait = None
            try:
                response = self._http.request(
                    method, path, params=params, content=content, headers=headers
                )
            except RETRIED_ERRORS as error:
                if attempt >= self._backoff.retries:
                    raise ConnectionFailed(
                        f"{method} {path}: no answer after {attempt + 1} attempts: {error}"
                    ) from error
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRIED_STATUSES or (
                    attempt >= self._backoff.retries
                ):
                    raise ProblemError.from_response(response)
                wait = retry_after(response)
            self._sleep(self._backoff.delay(attempt, wait))
            attempt += 1


def _segment(value: str) -> str:
    """``value`` as one path segment, whatever it holds."""
    return quote(value, safe="")
