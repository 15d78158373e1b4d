"""Reading a ``text/event-stream`` line by line, as the HTML standard's
EventSource does (https://html.spec.whatwg.org/multipage/server-sent-events.html).

One difference: a block holding only comments is handed over too (with no
data), so a caller can see heartbeats; EventSource drops them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Message:
    """One block of the stream, up to a blank line."""

    event: str = "message"
    data: str | None = None
    """The data lines joined by newlines; None when the block had none."""
    id: str | None = None
    """The id this block set (None: it set none); the stream's last id
    carries on from the blocks before."""
    retry: int | None = None
    comments: tuple[str, ...] = field(default=())


def messages(lines: Iterable[str]) -> Iterator[Message]:
    """The blocks of a stream, from its lines (line breaks removed)."""
    event, data, last_id, retry = "", list[str](), None, None
    comments: list[str] = []
    for line in lines:
        if not line:
            if data or last_id is not None or retry is not None or comments:
                yield Message(
                    event=event or "message",
                    data="\n".join(data) if data else None,
                    id=last_id,
                    retry=retry,
                    comments=tuple(comments),
                )
            event, data, last_id, retry, comments = "", [], None, None, []
            continue
        name, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if not name:
            comments.append(value)
        elif name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
        # Any other field is ignored, as the standard says.
