"""A Python client for touchline's HTTP API, on httpx.

Publish events (one, or a list: each gets its id before the first attempt,
so a retry is never taken twice), read customers, timelines and campaigns,
and follow campaign state as it changes::

    from datetime import UTC, datetime

    from touchline.client import Client, Reset
    from touchline.events import Identities, new_event
    from touchline.events.email import EmailOpened

    with Client("http://127.0.0.1:8000", api_key="tk_...") as touchline:
        opened = new_event(
            EmailOpened(message_id="m-1", subject="Spring offer"),
            occurred_at=datetime.now(UTC),
            source="esp",
            identities=Identities(email="ann@example.com"),
        )
        print(touchline.publish(opened).results[0].status)  # accepted

        found = touchline.find_customer(email="ann@example.com")
        for entry in touchline.timeline(found["customer_id"], channels=["email"]):
            print(entry["summary"])

        saved_id = None  # or the id stored last time, to resume from it
        with touchline.subscribe(last_event_id=saved_id) as changes:
            for change in changes:
                if isinstance(change, Reset):
                    ...  # changes were skipped: re-read what depends on them
                else:
                    print(change.event.customer_id, change.state.state)
                saved_id = change.id  # store it to resume after a restart

Errors: :class:`ProblemError` carries the API's problem+json (raised at once
for a 4xx, after the retries for a 429 or 5xx); :class:`ConnectionFailed`
when no answer came.
"""

from touchline.client.client import JSON, Client, Event
from touchline.client.errors import ConnectionFailed, ProblemError, TouchlineError
from touchline.client.models import Change, EventResult, Published, Reset, ResetPartition
from touchline.client.subscription import Subscription

__all__ = [
    "JSON",
    "Change",
    "Client",
    "ConnectionFailed",
    "Event",
    "EventResult",
    "ProblemError",
    "Published",
    "Reset",
    "ResetPartition",
    "Subscription",
    "TouchlineError",
]
