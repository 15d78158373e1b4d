"""Normalising identifiers at the edge, so one person is one key everywhere.

Emails are lower-cased, phone and fax numbers become E.164. Both run for every
event on the hot path, so results are cached and canonical input takes a
regex fast path instead of a full phonenumbers parse (tens of microseconds).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata

from touchline.events.base import Identities

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SPACING = re.compile(r"[\s.-]")


def _hold_metadata_for_fork() -> None:
    # phonenumbers loads a region's metadata on first use, importing its
    # module under one class-wide lock. A process forked while another thread
    # held it (the stages fork; a bench published from a second thread
    # meanwhile) inherited the lock held by no thread of its own and hung on
    # its first new region for ever, with a half-done import as likely. So a
    # fork waits for a load in progress (a millisecond) and holds the lock
    # across itself: parent and child each come out with it free.
    PhoneMetadata._metadata_lock.acquire()


def _free_metadata_after_fork() -> None:
    PhoneMetadata._metadata_lock.release()


os.register_at_fork(
    before=_hold_metadata_for_fork,
    after_in_parent=_free_metadata_after_fork,
    after_in_child=_free_metadata_after_fork,
)


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
    """E.164 form of a phone number; national numbers are read in ``default_region``.

    Most numbers take a shortcut instead of a parse (some 15 us, met once per
    unique number and process): one spelt in E.164, or a national one of
    digits alone, when phonenumbers' metadata shows the parse would only
    give it back, or put the country code before it. Anything else is parsed.
    """
    # Parentheses stay in for the E.164 test: "+44 (0) 20 ..." holds a trunk
    # prefix that E.164 leaves out, and only the parse drops it.
    compact = _SPACING.sub("", raw)
    if compact[:1] == "+":
        if _E164.match(compact) and is_canonical_e164(compact):
            return compact
    else:
        digits = compact.replace("(", "").replace(")", "")
        shortcut = national_e164(digits, default_region)
        if shortcut is not None:
            return shortcut
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentifier(field, f"not a phone number: {raw!r} ({error})") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentifier(field, f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_canonical_e164(e164: str) -> bool:
    """Whether the parse would give ``e164`` back unchanged, told from the
    metadata of its country; False leaves the decision to the parse."""
    digits = e164[1:]
    for size in (1, 2, 3):
        if int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False
    code = int(digits[:size])
    # The parse strips a prefix by its country's main region, as here.
    region = phonenumbers.region_code_for_country_code(code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    return _prefixed(code, digits[size:], metadata) == e164


def national_e164(digits: str, region: str) -> str | None:
    """The E.164 form of ``digits``, a national number typed in ``region``,
    when the parse would only put the country code before it; None leaves
    the decision to the parse (letters, an extension, a leading country code
    or international prefix, a trunk prefix)."""
    if not (digits.isascii() and digits.isdigit()):
        return None
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.country_code is None:
        return None
    code = metadata.country_code
    if digits.startswith(str(code)):
        return None  # the parse may read it as the country code without its "+"
    international = metadata.international_prefix
    if international and _pattern(international).match(digits):
        return None
    return _prefixed(code, digits, metadata)


def _prefixed(code: int, national: str, metadata: PhoneMetadata | None) -> str | None:
    """``+`` with ``code`` and ``national``, when the parse would keep every
    digit of ``national`` and the length is possible; else None."""
    # A leading 0 is a trunk prefix in most countries and part of the number
    # in some (Italy): the parse decides.
    if not national or national[0] == "0":
        return None
    prefix = None if metadata is None else metadata.national_prefix_for_parsing
    if prefix and _pattern(prefix).match(national):
        return None  # a trunk prefix (the "1" of "+1 1 415 ..."), stripped by the parse
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    return f"+{code}{national}" if phonenumbers.is_possible_number(number) else None


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
