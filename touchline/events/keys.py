"""Identity keys: the ``kind:value`` strings that name a person across channels."""

from __future__ import annotations

import hmac

from touchline.events.base import Identities

# Most specific first: this order picks the key a touchpoint is partitioned by.
KINDS = ("crm_id", "email", "phone", "partner", "fax", "web_id")


def identity_keys(ids: Identities) -> list[tuple[str, str]]:
    """(kind, value) pairs that identify a person; a partner account alone
    names the partner, not the person, so it counts only with the partner's
    customer reference."""
    keys: list[tuple[str, str]] = []
    for kind in KINDS:
        if kind == "partner":
            if ids.partner_account is not None and ids.partner_customer_ref is not None:
                keys.append(("partner", f"{ids.partner_account}/{ids.partner_customer_ref}"))
            continue
        value = getattr(ids, kind)
        if value is not None:
            keys.append((kind, value))
    return keys


def source_key(ids: Identities) -> str | None:
    """The most specific identifier, ``kind:value``: what places a touchpoint."""
    keys = identity_keys(ids)
    if not keys:
        return None
    kind, value = keys[0]
    return f"{kind}:{value}"


def record_key(identifier: str, secret: bytes) -> bytes:
    """The touchpoint record's key for ``kind:value``: HMAC-SHA-256 with the
    deployment's secret, hex. Placement stays deterministic, and no log,
    compaction or dead letter holds the identifier itself. A plain hash would
    not do: anyone can hash guessed emails and compare."""
    return hmac.digest(secret, identifier.encode(), "sha256").hex().encode()


def parse_identifier(text: str) -> tuple[str, str]:
    """``email:ann@example.com`` or a bare value whose kind is plain to see."""
    kind, sep, value = text.partition(":")
    if sep and kind in KINDS:
        return kind, value
    if "@" in text:
        return "email", text
    if text.startswith("+") or text.replace(" ", "").replace("-", "").isdigit():
        return "phone", text
    raise ValueError(
        f"cannot tell what kind of identifier {text!r} is; write it as kind:value "
        f"with kind one of {', '.join(KINDS)}"
    )
