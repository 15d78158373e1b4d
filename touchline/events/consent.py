"""Consent per contact channel and purpose, and do-not-contact.

The profile keeps the latest grant or revocation per (channel, purpose);
``all`` stands for every channel at once. Do-not-contact overrides every
grant for marketing until it is cleared. Adapters check both again at the
moment of sending.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from touchline.events.base import AwareDatetime, NonEmpty, Payload, clip

ContactChannel = Literal["email", "sms", "phone", "post", "fax", "web", "partner", "in_person"]
"""The ways we can reach a person: shared with campaigns, so an offer's
channel is checked against consent for the very same name. ``in_person`` is
a rep's visit or meeting: an offer can be made face to face."""
ConsentChannel = Literal[ContactChannel, "all"]
ConsentPurpose = Literal["marketing", "service", "profiling", "research", "third_party_sharing"]


class ConsentEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "consent"


class ConsentChange(ConsentEvent, frozen=True, kw_only=True):
    # ``channel`` is the timeline's channel of the event itself, so the
    # channel consent is about is ``contact_channel``.
    contact_channel: ConsentChannel
    purpose: ConsentPurpose

    def _scope(self) -> str:
        where = "on all channels" if self.contact_channel == "all" else f"by {self.contact_channel}"
        return f"{self.purpose.replace('_', ' ')} {where}"


class ConsentGranted(ConsentChange, frozen=True, kw_only=True):
    type: ClassVar[str] = "consent.granted"

    captured_via: str | None = None
    """Where the person said yes (``web_form``, ``call``, ``paper``...)."""
    policy_version: str | None = None
    """Which wording they agreed to, for the audit trail."""
    recorded_by: str | None = None
    """The agent who recorded it, when a person did (the console, the API)."""

    def summary(self) -> str:
        via = f" (via {self.captured_via})" if self.captured_via else ""
        by = f", recorded by {self.recorded_by}" if self.recorded_by else ""
        return f"Consent granted for {self._scope()}{via}{by}"


class ConsentRevoked(ConsentChange, frozen=True, kw_only=True):
    type: ClassVar[str] = "consent.revoked"

    reason: str | None = None
    recorded_by: str | None = None
    """The agent who recorded it, when a person did (the console, the API)."""

    def summary(self) -> str:
        why = f": {clip(self.reason)}" if self.reason else ""
        by = f" (recorded by {self.recorded_by})" if self.recorded_by else ""
        return f"Consent revoked for {self._scope()}{why}{by}"


class DoNotContactSet(ConsentEvent, frozen=True, kw_only=True):
    """No marketing in any channel from now on (until ``until``, if given)."""

    type: ClassVar[str] = "consent.do_not_contact_set"

    reason: NonEmpty
    set_by: NonEmpty
    until: AwareDatetime | None = None

    def summary(self) -> str:
        until = f" until {self.until:%Y-%m-%d}" if self.until else ""
        return f"Do-not-contact set{until} by {self.set_by}: {clip(self.reason)}"


class DoNotContactCleared(ConsentEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "consent.do_not_contact_cleared"

    reason: NonEmpty
    cleared_by: NonEmpty

    def summary(self) -> str:
        return f"Do-not-contact cleared by {self.cleared_by}: {clip(self.reason)}"


CONSENT_EVENTS: tuple[type[Payload], ...] = (
    ConsentGranted,
    ConsentRevoked,
    DoNotContactSet,
    DoNotContactCleared,
)
