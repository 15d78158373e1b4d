"""An event's content digest: tells an exact re-send from a conflicting duplicate.

Two events with one id are the same event when the channel said the same
thing: the digest covers every field a channel sets, decoded and normalised
(so ``Ann@Example.com`` and ``ann@example.com`` agree, and an old version
agrees with its upcast), and leaves out what touchline itself fills in on the
way (``recorded_at``, stamped at the edge; ``customer_id``, set by identity
resolution). Wire format and key order do not matter: it encodes msgpack with
sorted keys.
"""

from __future__ import annotations

import hashlib

import msgspec

from touchline.events.base import Envelope

_encode = msgspec.msgpack.Encoder(order="sorted").encode
_encode_json = msgspec.json.Encoder(order="sorted").encode


def content_digest(event: Envelope) -> str:
    """SHA-256 (hex, first 32 characters) of what the channel said."""
    bare = msgspec.structs.replace(event, recorded_at=None, customer_id=None)
    try:
        encoded = _encode(bare)
    except OverflowError:
        # A value msgpack cannot hold (a time outside UTC's calendar once
        # converted, an integer past 64 bits). The edge refuses such an
        # event, but asks its digest first (to tell a repeat from a conflict):
        # it must not raise. JSON holds both, and this event always lands here.
        encoded = b"json:" + _encode_json(bare)
    return hashlib.sha256(encoded).hexdigest()[:32]
