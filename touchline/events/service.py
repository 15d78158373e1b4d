"""Customer service: cases (complaints included) and satisfaction surveys.

A case can start in any channel (``opened_via``); the profile counts open
cases and recent complaints, and a recent complaint pauses cross-selling.
Satisfaction surveys live here too (``service.survey_answered``): they follow
service contacts far more often than anything else, and the profile reads
them beside the cases.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from touchline.events.base import NonEmpty, Payload, Text, clip

Priority = Literal["low", "normal", "high", "urgent"]
CaseStatus = Literal["open", "in_progress", "waiting_on_customer", "escalated", "reopened"]
"""Where an unresolved case stands; resolving one is ``service.case_resolved``."""


class ServiceEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "service"


class CaseEvent(ServiceEvent, frozen=True, kw_only=True):
    case_id: NonEmpty


class CaseOpened(CaseEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "service.case_opened"

    subject: NonEmpty
    category: str | None = None
    priority: Priority = "normal"
    is_complaint: bool = False
    opened_via: str | None = None
    """The channel the customer raised it in (``call``, ``email``, ``web``...)."""

    def summary(self) -> str:
        kind = "Complaint" if self.is_complaint else "Case"
        details = [part for part in (self.category, f"{self.priority} priority") if part]
        return f"{kind} {self.case_id} opened: '{clip(self.subject)}' ({', '.join(details)})"


class CaseUpdated(CaseEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "service.case_updated"

    status: CaseStatus
    note: Text | None = None
    updated_by: str | None = None

    def summary(self) -> str:
        note = f": {clip(self.note)}" if self.note else ""
        return f"Case {self.case_id} updated, {self.status.replace('_', ' ')}{note}"


class CaseResolved(CaseEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "service.case_resolved"

    resolution: Text
    resolved_by: str | None = None

    def summary(self) -> str:
        return f"Case {self.case_id} resolved: {clip(self.resolution)}"


_SCALE_BOUNDS = {"0-10": (0, 10), "1-5": (1, 5)}


class SurveyAnswered(ServiceEvent, frozen=True, kw_only=True):
    """A satisfaction survey answered: NPS-style ``0-10`` or CSAT-style ``1-5``.

    ``score`` is read on ``scale``; :meth:`satisfaction` puts both on 0..1 for
    comparing. ``case_id`` names the case the survey followed, if one did.
    """

    type: ClassVar[str] = "service.survey_answered"

    survey_id: NonEmpty
    scale: Literal["0-10", "1-5"]
    score: Annotated[int, msgspec.Meta(ge=0, le=10)]
    comment: Text | None = None
    case_id: str | None = None

    def __post_init__(self) -> None:
        low, high = _SCALE_BOUNDS[self.scale]
        if not low <= self.score <= high:
            raise ValueError(f"`score` {self.score} is off the {self.scale} scale")

    def satisfaction(self) -> float:
        """The score as a fraction of the scale: 0 the worst, 1 the best."""
        low, high = _SCALE_BOUNDS[self.scale]
        return (self.score - low) / (high - low)

    def summary(self) -> str:
        _, high = _SCALE_BOUNDS[self.scale]
        said = f": {clip(self.comment)}" if self.comment else ""
        return f"Survey {self.survey_id} answered {self.score}/{high}{said}"


SERVICE_EVENTS: tuple[type[Payload], ...] = (
    CaseOpened,
    CaseUpdated,
    CaseResolved,
    SurveyAnswered,
)
