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
_SPACING = re.compile(r"[\s.-]")


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
    # Parentheses are not dropped here: "+44 (0) 20 ..." holds a trunk prefix
    # that E.164 leaves out, and only the parse knows it.
    compact = _SPACING.sub("", raw)
    if _E164.match(compact) and is_canonical_e164(compact):
        return compact
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentifier(field, f"not a phone number: {raw!r} ({error})") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentifier(field, f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_canonical_e164(e164: str) -> bool:
    """Whether phonenumbers would give ``e164`` back unchanged, told from its
    metadata without a parse (a parse is some 15 us, and every unique number
    meets one per process): no digit the parse would strip after the country
    code (a trunk prefix: ``+44 020 ...``, ``+1 1 415 ...``), and a possible
    length. False leaves the decision to the parse."""
    digits = e164[1:]
    for size in (1, 2, 3):
        if int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False
    code, national = int(digits[:size]), digits[size:]
    # A leading 0 is a trunk prefix in most countries and part of the number
    # in some (Italy): the parse decides.
    if not national or national[0] == "0":
        return False
    # The parse strips a prefix by its country's main region, as here.
    region = phonenumbers.region_code_for_country_code(code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    prefix = None if metadata is None else metadata.national_prefix_for_parsing
    if prefix and _pattern(prefix).match(national):
        return False
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    return bool(phonenumbers.is_possible_number(number))


@lru_cache(maxsize=512)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


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
