"""Identity keys: the ``kind:value`` strings that name a person across channels."""

from __future__ import annotations

import hmac
from functools import lru_cache

from touchline.events.base import Identities

# Most specific first: this order picks the key a touchpoint is partitioned by.
KINDS = ("crm_id", "email", "phone", "partner", "fax", "web_id")


# Asked two or three times per event (the publisher's record key, the
# resolver's lookup for the batch and its attribution of each event) at
# ~0.4 µs a time, a cache hit ~0.1; an event's identities are a frozen,
# hashable struct. The resolver
# asks for a whole batch (TOUCHLINE_BATCH_SIZE, 8,000 events by default)
# before it asks for each event again, so the cache holds several batches.
@lru_cache(maxsize=65_536)
def identity_keys(ids: Identities) -> tuple[tuple[str, str], ...]:
    """(kind, value) pairs that identify a person; a partner account alone
    names the partner, not the person, so it counts only with the partner's
    customer reference. A tuple: the result is cached and shared."""
    keys: list[tuple[str, str]] = []
    for kind in KINDS:
        if kind == "partner":
            if ids.partner_account is not None and ids.partner_customer_ref is not None:
                keys.append(("partner", f"{ids.partner_account}/{ids.partner_customer_ref}"))
            continue
        value = getattr(ids, kind)
        if value is not None:
            keys.append((kind, value))
    return tuple(keys)


def identifier_names(ids: Identities) -> tuple[str, ...]:
    """The ``kind:value`` names of the identifiers ``ids`` carries, as the
    identity events (and an unmerge's two lists) spell them."""
    return tuple(f"{kind}:{value}" for kind, value in identity_keys(ids))


def source_key(ids: Identities) -> str | None:
    """The most specific identifier, ``kind:value``: what places a touchpoint."""
    keys = identity_keys(ids)
    if not keys:
        return None
    kind, value = keys[0]
    return f"{kind}:{value}"


# A person's touchpoints come again and again under the same identifier: an
# HMAC is ~3 µs, a hit ~0.1 (the publisher spent a tenth of its time here).
@lru_cache(maxsize=65_536)
def record_key(identifier: str, secret: bytes) -> bytes:
    """The touchpoint record's key for ``kind:value``: HMAC-SHA-256 with the
    deployment's secret, hex. Placement stays deterministic, and no log,
    compaction or dead letter holds the identifier itself. A plain hash would
    not do: anyone can hash guessed emails and compare."""
    return hmac.digest(secret, identifier.encode(), "sha256").hex().encode()


_PHONE_PUNCTUATION = str.maketrans("", "", " -.()")
"""What people put between a phone number's digits: ``(415) 555-0134`` is a phone."""


def parse_identifier(text: str) -> tuple[str, str]:
    """``email:ann@example.com`` or a bare value whose kind is plain to see."""
    kind, sep, value = text.partition(":")
    if sep and kind in KINDS:
        return kind, value
    if "@" in text:
        return "email", text
    if text.startswith("+") or text.translate(_PHONE_PUNCTUATION).isdigit():
        return "phone", text
    raise ValueError(
        f"cannot tell what kind of identifier {text!r} is; write it as kind:value "
        f"with kind one of {', '.join(KINDS)}"
    )
