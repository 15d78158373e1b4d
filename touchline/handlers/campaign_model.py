"""The campaign in force, what the synchronizer's rules decide, and when a touch may go.

:class:`Campaign` is a launch as the synchronizer keeps it; :class:`Effects`
collects what :class:`~touchline.handlers.campaign_rules.CustomerCampaigns`
decides for a batch. :func:`pressure_wait` and :func:`quiet_until` say how
long a touch must wait, from the event's time alone (never the clock), so a
replay waits alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from touchline.events import Envelope
from touchline.events.campaign import CampaignLaunched
from touchline.events.campaign_terms import OfferTerms, QuietHours
from touchline.handlers.campaign_records import Facts


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    terms: CampaignLaunched
    closed_at: datetime | None = None
    channels: frozenset[str] = field(init=False)
    """Every channel the offer may go through (the terms', worked out once)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", frozenset(self.terms.eligible()))

    def ended_by(self, at: datetime) -> bool:
        end = self.terms.ends_at
        return (end is not None and end <= at) or (
            self.closed_at is not None and self.closed_at <= at
        )

    def best_offer(self) -> OfferTerms:
        """The offer the sequence makes: highest priority, then value (first on a tie)."""
        return max(self.terms.offers, key=lambda o: (o.priority, o.value or 0.0))


@dataclass(frozen=True, slots=True)
class Ledger:
    """An action's row in the ledger: requested, or cancelled."""

    action_id: str
    campaign_id: str
    customer_id: str
    channel: str
    offer_code: str
    step: int
    status: str
    at: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TimerSpec:
    name: str
    due_at: datetime | None
    """None: cancel the timer ``name``."""
    event: Envelope | None = None


@dataclass(slots=True)
class Effects:
    changes: list[Envelope] = field(default_factory=list)
    actions: list[Envelope] = field(default_factory=list)
    ledger: list[Ledger] = field(default_factory=list)
    timers: list[TimerSpec] = field(default_factory=list)


def shows_offer(url: str, page: str) -> bool:
    """Whether a page view of ``url`` is a view of the offer page ``page``
    (given whole, or as a path on any host)."""
    path = url.split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else path
    return url.startswith(page) or path.startswith(page)


def pressure_wait(facts: Facts, terms: CampaignLaunched, at: datetime) -> datetime | None:
    """When a touch may go out again, if the pressure limit is reached now."""
    limit = terms.pressure
    if limit is None:
        return None
    window = timedelta(days=limit.window_days)
    recent = facts.touches_since(at - window, at)
    if len(recent) < limit.touches:
        return None
    # The slot frees when enough of the window's touches have left it.
    return recent[len(recent) - limit.touches] + window + timedelta(microseconds=1)


def quiet_until(quiet: QuietHours | None, at: datetime) -> datetime | None:
    """The end of the quiet hours ``at`` falls in, or None outside them."""
    if quiet is None:
        return None
    local = at.astimezone(ZoneInfo(quiet.timezone))
    now = local.strftime("%H:%M")
    inside = (
        quiet.start <= now < quiet.end
        if quiet.start <= quiet.end
        else now >= quiet.start or now < quiet.end
    )
    if not inside:
        return None
    hour, minute = (int(part) for part in quiet.end.split(":"))
    end = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)
