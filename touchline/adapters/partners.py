"""The partner directory: each partner's lead webhook, secret, territory and capacity.

Configured as JSON in ``TOUCHLINE_PARTNERS``::

    {"P1": {"url": "https://p1.example/leads", "secret": "whsec_...",
            "territories": ["US", "+1415"], "capacity": 50}}

- ``secret``: the partner's own Standard Webhooks secret; empty or absent,
  the shared ``TOUCHLINE_PARTNER_WEBHOOK_SECRET``. It signs the leads sent to
  the partner and checks the orders the partner sends in.
- ``territories``: an ISO 3166-1 country (``US``) or an E.164 dialing prefix
  (``+1415``, an area). touchline records no postal address, so a customer's
  place is what their phone and fax numbers say (see
  :mod:`touchline.adapters.partner_routing`).
- ``capacity``: how many open leads the partner takes at once (absent: no limit).

The older form still works, alone or beside it:
``TOUCHLINE_PARTNER_WEBHOOKS=P1=https://...,P2=https://...`` (or a JSON object
of URLs) are partners with the shared secret, no territory and no limit. A
partner named in both is an error, as is a partner left with no secret.
"""

from __future__ import annotations

import json
from typing import Annotated

import msgspec
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

Territory = Annotated[str, msgspec.Meta(pattern=r"^([A-Z]{2}|\+[0-9]{1,9})$")]
"""A country (``US``) or a dialing prefix (``+1415``)."""


class Partner(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(pattern=r"^https?://")]
    secret: str = ""
    territories: tuple[Territory, ...] = ()
    capacity: Annotated[int, msgspec.Meta(ge=0)] | None = None
    """Open leads it takes at once; None: no limit."""


_RAW = msgspec.json.Decoder(dict[str, object])


def parse_partner_webhooks(text: str) -> dict[str, str]:
    """``partner=url,partner=url`` (or a JSON object) -> partner account -> URL."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("TOUCHLINE_PARTNER_WEBHOOKS: a JSON object of partner -> URL")
        return {str(k): str(v) for k, v in loaded.items()}
    mapping = {}
    for item in text.split(","):
        partner, sep, url = item.strip().partition("=")
        if not sep or not partner or not url:
            raise ValueError(f"bad TOUCHLINE_PARTNER_WEBHOOKS item {item!r}: write partner=url")
        mapping[partner.strip()] = url.strip()
    return mapping


def partner_directory(partners: str, webhooks: str, shared_secret: str) -> dict[str, Partner]:
    """Every configured partner, each with the secret it signs with (its own,
    else the shared one); raises ValueError naming the setting and field."""
    directory: dict[str, Partner] = {}
    if partners.strip():
        try:
            raw = _RAW.decode(partners)
        except msgspec.DecodeError as error:
            raise ValueError(f"bad TOUCHLINE_PARTNERS: not a JSON object: {error}") from None
        for name, fields in raw.items():
            try:
                directory[name] = msgspec.convert(fields, Partner)
            except msgspec.ValidationError as error:
                # msgspec names the field: "Expected `int` >= 0 - at `$.capacity`".
                raise ValueError(f"bad TOUCHLINE_PARTNERS: partner {name}: {error}") from None
    for name, url in parse_partner_webhooks(webhooks).items():
        if name in directory:
            raise ValueError(
                f"partner {name} is in both TOUCHLINE_PARTNERS and TOUCHLINE_PARTNER_WEBHOOKS"
            )
        directory[name] = Partner(url=url)
    resolved = {}
    for name, partner in sorted(directory.items()):
        secret = partner.secret or shared_secret
        if not secret:
            raise ValueError(
                f"partner {name} has no secret: give it one in TOUCHLINE_PARTNERS "
                "or set TOUCHLINE_PARTNER_WEBHOOK_SECRET"
            )
        try:
            Webhook(secret)
        except (ValueError, EmptyWebhookSecretError) as error:  # binascii.Error: bad base64
            where = "its secret" if partner.secret else "TOUCHLINE_PARTNER_WEBHOOK_SECRET"
            raise ValueError(f"partner {name}: {where} is not a whsec_ secret ({error})") from None
        resolved[name] = msgspec.structs.replace(partner, secret=secret)
    return resolved
