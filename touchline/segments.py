"""Segments: the customers a campaign targets, chosen on the profile projection.

A segment is evaluated once, when it is used: what it chose is published as
one ``campaign.targeted`` event per customer, so a replay targets the same
people whatever the profiles say by then.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from touchline.projections.profile_store import live_states
from touchline.projections.profile_view import Profile, ProfileRules, render


@dataclass(frozen=True, slots=True)
class Segment:
    """Every condition given must hold; none given: every customer."""

    tiers: tuple[str, ...] = ()
    """Value tiers (``gold``, ``platinum``...)."""
    partner: str | None = None
    """The owning partner's account."""
    contacted_within_days: int | None = None
    """Last contact in any channel at most this many days ago."""
    silent_for_days: int | None = None
    """No contact in any channel for at least this many days."""
    open_case: bool | None = None
    consent: str | None = None
    """A channel marketing may use now (granted, no do-not-contact)."""

    def admits(self, profile: Profile, now: datetime) -> bool:
        last = max(profile.last_contact.values(), default=None)
        partner = profile.owning_partner
        checks = (
            not self.tiers or profile.value_tier in self.tiers,
            self.partner is None or (partner is not None and partner.account == self.partner),
            self.contacted_within_days is None
            or (last is not None and last >= now - timedelta(days=self.contacted_within_days)),
            self.silent_for_days is None
            or last is None
            or last <= now - timedelta(days=self.silent_for_days),
            self.open_case is None or bool(profile.open_cases) == self.open_case,
            self.consent is None or self.consent in profile.marketing_channels,
        )
        return all(checks)


def members(engine: Engine, rules: ProfileRules, segment: Segment, now: datetime) -> Iterator[str]:
    """The customer ids the segment admits, as the profiles stand at ``now``."""
    with engine.connect() as connection:
        for customer_id, state in live_states(connection):
            if segment.admits(render(customer_id, state, rules, now), now):
                yield customer_id
