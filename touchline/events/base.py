"""The shapes every event shares: payload base, identities and the envelope.

A payload struct carries no msgspec tag of its own: the envelope's
``type`` and ``version`` are the discriminator on the wire (a tag inside the
payload would repeat ``type`` and could not carry the version), and the codec
picks the one typed decoder for that ``type@version``.

Events are structs with ``gc=False``: they hold only strings, numbers and
other frozen structs, so they can form no reference cycles, and leaving them
out of the cyclic garbage collector saves its pauses on the hot path.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

import msgspec

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
"""Channel timestamps must say their zone: a naive one is refused at the edge."""

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
"""Free text a person wrote (a chat message, a case note); the timeline clips it."""
Money = Annotated[float, msgspec.Meta(ge=0, le=1e15)]
"""An amount in major units. The ceiling keeps infinity out: msgpack carries it,
but JSON cannot (it encodes as ``null``), so such an event could not be re-sent."""
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
"""ISO 4217 code, e.g. ``EUR``."""


class Payload(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    forbid_unknown_fields=True,
    gc=False,
):
    """Base of every typed event payload.

    Subclasses set ``type`` (past tense, ``touchpoint.happened``), ``version``
    when it moves past 1, and ``channel``: the timeline's channel filter.
    """

    type: ClassVar[str]
    version: ClassVar[int] = 1
    channel: ClassVar[str]

    def summary(self) -> str:
        """One line a person reads on the timeline."""
        return _humanise(self.type)


class LegacyPayload(Payload, frozen=True, kw_only=True):
    """An older published version of a payload, kept so old records still decode."""

    def upcast(self) -> Payload:
        """The next version of this payload (the codec repeats until current)."""
        raise NotImplementedError


class Identities(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    forbid_unknown_fields=True,
    gc=False,
):
    """What a channel system knows about the person; normalised at the edge.

    Unknown kinds are refused: a misspelt ``emial`` would otherwise drop the
    only identifier silently and leave the event unattributable.
    """

    email: str | None = None
    phone: str | None = None
    crm_id: str | None = None
    web_id: str | None = None
    partner_account: str | None = None
    partner_customer_ref: str | None = None
    fax: str | None = None

    def items(self) -> list[tuple[str, str]]:
        """The identifiers present, as (kind, value) pairs in a fixed order."""
        return [
            (name, value)
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not None
        ]


class Envelope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """One event as it travels the log: metadata plus one typed payload.

    ``type`` and ``version`` always name the payload's class; build envelopes
    with :func:`touchline.events.new_event` (or the codec) to keep that true.
    """

    id: UUID
    type: str
    version: int
    occurred_at: AwareDatetime
    source: NonEmpty
    payload: Payload
    identities: Identities = Identities()
    recorded_at: AwareDatetime | None = None
    customer_id: str | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    campaign_id: str | None = None

    @property
    def channel(self) -> str:
        return self.payload.channel

    def summary(self) -> str:
        return self.payload.summary()

    def with_customer(self, customer_id: str) -> Envelope:
        """The same event, attributed to a resolved customer."""
        return msgspec.structs.replace(self, customer_id=customer_id)


class EnvelopeHead(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
    forbid_unknown_fields=True,
    gc=False,
):
    """An envelope with its payload left as the bytes it came in.

    What a step that only routes events reads (the identity resolver): the
    head is decoded, the payload is not, and encoding the head writes the
    payload's bytes back verbatim (msgspec copies a ``Raw`` field as is),
    so setting ``customer_id`` costs neither a payload decode nor an encode.
    ``type`` and ``version`` are the payload's as sent: a legacy version is
    upcast by whoever decodes the payload.
    """

    id: UUID
    type: NonEmpty
    version: Annotated[int, msgspec.Meta(ge=1)]
    occurred_at: AwareDatetime
    source: NonEmpty
    payload: msgspec.Raw
    identities: Identities = Identities()
    recorded_at: AwareDatetime | None = None
    customer_id: str | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    campaign_id: str | None = None

    def with_customer(self, customer_id: str) -> EnvelopeHead:
        """The same event, attributed to a resolved customer."""
        return msgspec.structs.replace(self, customer_id=customer_id)


def clip(text: str, limit: int = 60) -> str:
    """``text`` on one line, at most ``limit`` characters: for summaries."""
    line = " ".join(text.split())
    return line if len(line) <= limit else f"{line[: limit - 1].rstrip()}…"


def money(amount: float, currency: str) -> str:
    """An amount as the timeline shows it: ``1,240.00 USD``."""
    return f"{amount:,.2f} {currency}"


def require_together(
    amount: float | None, currency: str | None, *, field: str, currency_field: str = "currency"
) -> None:
    """For ``__post_init__``: an optional amount means nothing without its currency."""
    if (amount is None) != (currency is None):
        raise ValueError(f"`{field}` and `{currency_field}` go together: give both or neither")


def _humanise(type_name: str) -> str:
    words = re.sub(r"[._]", " ", type_name)
    return words[:1].upper() + words[1:]


def struct_kwargs(value: msgspec.Struct) -> dict[str, Any]:
    """A struct's fields as keyword arguments (for upcasters building the next version)."""
    return msgspec.structs.asdict(value)
