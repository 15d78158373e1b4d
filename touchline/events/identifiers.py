"""Normalising identifiers at the edge, so one person is one key everywhere.

Emails are lower-cased, phone and fax numbers become E.164. Both run for every
event on the hot path, so results are cached and canonical input takes a
regex fast path instead of a full phonenumbers parse (tens of microseconds).
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from touchline.events.base import Identities

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidIdentifier(ValueError):
    """An identifier that cannot be normalised; ``field`` names which one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@lru_cache(maxsize=200_000)
def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidIdentifier("email", f"not an email address: {raw!r}")
    return email


@lru_cache(maxsize=200_000)
def normalise_phone(raw: str, default_region: str = "US", field: str = "phone") -> str:
    """E.164 form of a phone number; national numbers are read in ``default_region``."""
    compact = re.sub(r"[\s().-]", "", raw)
    if _E164.match(compact):
        return compact
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentifier(field, f"not a phone number: {raw!r} ({error})") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentifier(field, f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _plain(field: str, raw: str) -> str:
    value = raw.strip()
    if not value:
        raise InvalidIdentifier(field, f"{field} is empty")
    return value


@lru_cache(maxsize=200_000)
def normalise_identities(ids: Identities, default_region: str = "US") -> Identities:
    """The same identities in canonical form; InvalidIdentifier names a bad one."""
    return Identities(
        email=None if ids.email is None else normalise_email(ids.email),
        phone=None if ids.phone is None else normalise_phone(ids.phone, default_region),
        fax=None if ids.fax is None else normalise_phone(ids.fax, default_region, "fax"),
        crm_id=None if ids.crm_id is None else _plain("crm_id", ids.crm_id),
        web_id=None if ids.web_id is None else _plain("web_id", ids.web_id),
        partner_account=None
        if ids.partner_account is None
        else _plain("partner_account", ids.partner_account),
        partner_customer_ref=None
        if ids.partner_customer_ref is None
        else _plain("partner_customer_ref", ids.partner_customer_ref),
    )


def normalise_identifier(kind: str, value: str, default_region: str = "US") -> str:
    """One identifier of ``kind`` (as in :func:`touchline.events.keys.identity_keys`)."""
    if kind == "email":
        return normalise_email(value)
    if kind in ("phone", "fax"):
        return normalise_phone(value, default_region, kind)
    return _plain(kind, value)
