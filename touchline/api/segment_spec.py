"""The Segment spec's calls as Segment's and RudderStack's SDKs send them.

Only what the mapping reads is typed; every other field a library adds
(``integrations``, ``channel``, ``version``...) is allowed and left alone,
since the spec grows and SDKs differ. A call is decoded on its own, from its
bytes in the batch, so one call of the wrong shape costs only itself.

Ids may be numbers: the spec says strings, but the SDKs stringify numbers
and a hand-written client may not, so both are read and made strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

CallType = Literal["track", "identify", "page", "screen", "group", "alias"]
CALL_TYPES: tuple[CallType, ...] = ("track", "identify", "page", "screen", "group", "alias")
"""Every call the spec has; the routes accept them all (unmappable ones are kept)."""

Id = str | int


class Call(msgspec.Struct, kw_only=True, rename="camel"):
    """One call: identify, track, page, screen, group or alias."""

    type: str = ""
    """The call's kind; a single-call route (``/v1/track``) implies it."""
    message_id: Id | None = None
    """The SDK's id for the call: the same id again is a retry."""
    anonymous_id: Id | None = None
    user_id: Id | None = None
    previous_id: Id | None = None
    """alias: the id the user had before."""
    group_id: Id | None = None
    event: str | None = None
    """track: what happened (``Order Completed``, or a catalogue type)."""
    name: str | None = None
    """page or screen: its name."""
    category: str | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    timestamp: datetime | None = None
    """When it happened, by the sender's clock (the SDKs always set it)."""
    original_timestamp: datetime | None = None
    """RudderStack's and older clients' name for ``timestamp``."""


class Batch(msgspec.Struct, kw_only=True, rename="camel"):
    """``POST /v1/batch``: the calls, each left as its bytes until read on its own.

    ``context`` applies to every call of the batch (a call's own keys win).
    """

    batch: list[msgspec.Raw]
    context: dict[str, Any] | None = None


class CallHead(msgspec.Struct, kw_only=True, rename="camel"):
    """Just enough of a call that does not decode to name it in the answer."""

    message_id: Any = None
    type: Any = None


def text(value: Id | None) -> str | None:
    """An id as a string; None when absent or blank (no identifier at all)."""
    if value is None:
        return None
    as_text = str(value).strip()
    return as_text or None
