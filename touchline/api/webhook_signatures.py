"""The signature schemes the inbound webhooks accept: Standard Webhooks (and
Svix's header names), SendGrid's Signed Event Webhook, Twilio's request
validation.

A route holds the schemes it has keys for; the request's headers say which
one it was signed with (:func:`chosen`), and that one alone is checked, so
a provider configured both ways is accepted either way. Each check raises
:class:`SignatureRefused` with a reason fit for the caller: none of them
names a key or what it expected.

Replays: Standard Webhooks and SendGrid sign a timestamp, refused more than
five minutes off. Twilio signs none; a resent callback is a duplicate by
its event id (the CallSid and status), so it changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Protocol
from urllib.parse import parse_qsl, urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

TOLERANCE = timedelta(minutes=5)
"""How far a signed timestamp may be from our clock: Standard Webhooks' own."""
FORM = "application/x-www-form-urlencoded"


class SignatureRefused(Exception):
    """The request is not signed, or not by the key we hold."""


@dataclass(frozen=True, slots=True)
class Signed:
    """A request as its signature covers it."""

    body: bytes
    """The bytes as received: never decoded and re-encoded before the check."""
    headers: Mapping[str, str]
    """Names lower-cased."""
    url: str
    """The URL the provider called: the public base URL, else the request's."""
    now: datetime


class Scheme(Protocol):
    """One way a provider signs its webhooks, with the key to check it."""

    label: ClassVar[str]
    """The scheme and its header, for a refusal."""

    def presented(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries this scheme's signature header."""
        ...

    def verify(self, signed: Signed) -> None:
        """Raise :class:`SignatureRefused` unless the signature checks out."""
        ...


@dataclass(frozen=True, slots=True)
class StandardWebhooks:
    """``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` (or ``svix-*``):
    HMAC-SHA256 over id, timestamp and body with a ``whsec_`` secret."""

    secret: str
    label: ClassVar[str] = "Standard Webhooks (webhook-signature or svix-signature)"

    def presented(self, headers: Mapping[str, str]) -> bool:
        return "webhook-signature" in headers or "svix-signature" in headers

    def verify(self, signed: Signed) -> None:
        headers = dict(signed.headers)
        # Svix (which many providers send through) names the same headers svix-*.
        for name in ("id", "timestamp", "signature"):
            if f"webhook-{name}" not in headers and f"svix-{name}" in headers:
                headers[f"webhook-{name}"] = headers[f"svix-{name}"]
        try:
            Webhook(self.secret).verify(signed.body, headers, json_parse=False)
        except (WebhookVerificationError, ValueError) as error:
            raise SignatureRefused(str(error)) from None


SENDGRID_SIGNATURE = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"


@dataclass(frozen=True, slots=True)
class SendGridSignature:
    """SendGrid's Signed Event Webhook: an ECDSA P-256 signature with SHA-256
    over the timestamp header's text followed by the raw body, base64 DER in
    ``X-Twilio-Email-Event-Webhook-Signature``."""

    key: ec.EllipticCurvePublicKey
    label: ClassVar[str] = "SendGrid (X-Twilio-Email-Event-Webhook-Signature)"

    @classmethod
    def from_setting(cls, text: str, setting: str) -> SendGridSignature:
        """The verification key as SendGrid's settings page shows it (base64 of
        the DER SubjectPublicKeyInfo), or PEM; a ValueError naming ``setting``."""
        text = text.strip()
        try:
            if text.startswith("-----BEGIN"):
                key = serialization.load_pem_public_key(text.encode())
            else:
                key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
        except (ValueError, binascii.Error, UnsupportedAlgorithm) as error:
            raise ValueError(f"bad {setting}: not a public key ({error})") from None
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise ValueError(f"bad {setting}: SendGrid signs with an ECDSA P-256 key")
        return cls(key)

    def presented(self, headers: Mapping[str, str]) -> bool:
        return SENDGRID_SIGNATURE in headers

    def verify(self, signed: Signed) -> None:
        stamp = signed.headers.get(SENDGRID_TIMESTAMP)
        if stamp is None:
            raise SignatureRefused("no X-Twilio-Email-Event-Webhook-Timestamp header")
        _within_window(stamp, signed.now)
        try:
            signature = base64.b64decode(signed.headers[SENDGRID_SIGNATURE], validate=True)
            # The timestamp as sent, not as parsed: its exact bytes are signed.
            message = stamp.encode() + signed.body
            self.key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, binascii.Error, ValueError):
            raise SignatureRefused("no matching SendGrid signature found") from None


TWILIO_SIGNATURE = "x-twilio-signature"


@dataclass(frozen=True, slots=True)
class TwilioSignature:
    """Twilio's request validation: ``X-Twilio-Signature`` is the base64
    HMAC-SHA1, keyed by the account's auth token, of the URL Twilio called
    followed by each form parameter's name and value, sorted by name."""

    token: str
    label: ClassVar[str] = "Twilio (X-Twilio-Signature)"

    def presented(self, headers: Mapping[str, str]) -> bool:
        return TWILIO_SIGNATURE in headers

    def verify(self, signed: Signed) -> None:
        if not is_form(signed.headers):
            # The signature would cover the URL alone: the body must be the form it signs.
            raise SignatureRefused("Twilio's signature is checked on form-encoded callbacks only")
        try:
            fields = form_fields(signed.body)
        except ValueError as error:
            raise SignatureRefused(f"the form cannot be read: {error}") from None
        # Twilio's own library sorts by name, then by value, each pair once.
        signed_text = "".join(name + value for name, value in sorted(set(fields)))
        given = signed.headers[TWILIO_SIGNATURE].encode()
        for url in _with_and_without_port(signed.url):
            mac = hmac.new(self.token.encode(), (url + signed_text).encode(), hashlib.sha1)
            if hmac.compare_digest(base64.b64encode(mac.digest()), given):
                return
        raise SignatureRefused("no matching Twilio signature found")


def chosen(schemes: tuple[Scheme, ...], headers: Mapping[str, str]) -> Scheme:
    """The scheme the request is signed with, among those we hold keys for."""
    for scheme in schemes:
        if scheme.presented(headers):
            return scheme
    expected = " or ".join(scheme.label for scheme in schemes)
    raise SignatureRefused(f"no {expected} signature")


def is_form(headers: Mapping[str, str]) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == FORM


def form_fields(body: bytes) -> list[tuple[str, str]]:
    """A form-encoded body's fields, in order, empty values kept (Twilio signs them)."""
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))


def _within_window(stamp: str, now: datetime) -> None:
    try:
        at = int(stamp)
    except ValueError:
        raise SignatureRefused("the signed timestamp is not a number") from None
    drift = now.timestamp() - at
    if drift > TOLERANCE.total_seconds():
        raise SignatureRefused("message timestamp too old")
    if -drift > TOLERANCE.total_seconds():
        raise SignatureRefused("message timestamp too new")


def _with_and_without_port(url: str) -> list[str]:
    """``url`` as given, without its port, and with the scheme's default port:
    Twilio's own validator tries both, as Twilio has signed both ways."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    default = {"https": 443, "http": 80}.get(parts.scheme)
    netlocs = [parts.netloc, host]
    if default is not None:
        netlocs.append(f"{host}:{parts.port or default}")
    return list(dict.fromkeys(parts._replace(netloc=n).geturl() for n in netlocs))
