"""Calls that become no event are kept: on the dead-letter topic, with the reason.

The dead-letter topic is where touchline already keeps what it could not
take, and where people already look (``touchline dead-letters list
--processor segment-ingest``, and the note ``touchline customers show``
prints about a customer). A kept call is a letter like any other: the
reason and a code in its headers, and a document that names the event id
it would have had, its kind (``segment.track``) and the identifiers it
carried, so the index finds it by customer, around the call's bytes as
they were sent.

A kept call was never on a topic, so there is nowhere to re-drive it to:
once a mapping covers it, its sender sends it again (the ledger remembers
it as kept under :func:`touchline.api.kept_letters.kept_id`, apart from its
event id, so the call is published then), and a person discards the letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import msgspec

from touchline.api.kept_letters import kept_record, storable
from touchline.api.segment_spec import CALL_TYPES
from touchline.events import Identities
from touchline.log.port import Record

PROCESSOR = "segment-ingest"
"""The letters' ``processor``: what kept them."""


class KeptCall(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A kept call as its letter holds it."""

    id: UUID
    """The event id the call would have had (from its messageId)."""
    type: str
    """``segment.`` and the call's kind: ``segment.track``, ``segment.alias``."""
    source: str
    identities: Identities = Identities()
    call: msgspec.Raw
    """The call, byte for byte as it arrived (inside the batch, if it was in one)."""


@dataclass(frozen=True, slots=True)
class Kept:
    """One call to keep, and why."""

    index: int
    """Its place in the request."""
    event_id: UUID
    call_type: str
    code: str
    reason: str
    identities: Identities
    raw: bytes


_encode = msgspec.json.Encoder().encode


def letter(kept: Kept, *, source: str, route: str, key_secret: bytes) -> Record:
    """The dead letter that keeps ``kept``, placed as its event would have been."""
    identities = storable(kept.identities)
    document = KeptCall(
        id=kept.event_id,
        type=f"segment.{kept.call_type if kept.call_type in CALL_TYPES else 'unknown'}",
        source=source,
        identities=identities,
        call=msgspec.Raw(kept.raw),
    )
    return kept_record(
        _encode(document),
        identities,
        reason=kept.reason,
        code=kept.code,
        processor=PROCESSOR,
        route=route,
        index=kept.index,
        key_secret=key_secret,
    )
