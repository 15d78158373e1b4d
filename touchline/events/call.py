"""Phone touchpoints: IVR and contact-centre calls, callbacks, voicemail."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from touchline.events.base import AwareDatetime, LegacyPayload, NonEmpty, Payload

Seconds = Annotated[int, msgspec.Meta(ge=0)]


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


class CallEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "call"

    call_id: NonEmpty


class InboundCallStarted(CallEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "call.inbound_started"

    dialled_number: str | None = None
    ivr_path: tuple[str, ...] = ()

    def summary(self) -> str:
        path = f" (IVR: {' > '.join(self.ivr_path)})" if self.ivr_path else ""
        return f"Inbound call started{path}"


class InboundCallEnded(CallEvent, frozen=True, kw_only=True):
    """Version 2: the agent became an id plus a display name.

    Version 1 carried a single free-text ``agent`` and ``duration`` in seconds;
    :class:`InboundCallEndedV1` upcasts it.
    """

    type: ClassVar[str] = "call.inbound_ended"
    version: ClassVar[int] = 2

    duration_seconds: Seconds
    ivr_path: tuple[str, ...] = ()
    queue: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    disposition: str | None = None

    def summary(self) -> str:
        parts = [f"Inbound call, {_duration(self.duration_seconds)}"]
        if self.agent_name or self.agent_id:
            parts.append(f"agent {self.agent_name or self.agent_id}")
        elif self.queue:
            parts.append(f"queue {self.queue}")
        line = ", ".join(parts)
        return f"{line}: {self.disposition}" if self.disposition else line


class InboundCallEndedV1(LegacyPayload, frozen=True, kw_only=True):
    """``call.inbound_ended@1``, as the first IVR integration published it."""

    type: ClassVar[str] = "call.inbound_ended"
    version: ClassVar[int] = 1
    channel: ClassVar[str] = "call"

    call_id: NonEmpty
    duration: Seconds
    agent: str | None = None
    ivr_path: tuple[str, ...] = ()
    queue: str | None = None
    disposition: str | None = None

    def upcast(self) -> InboundCallEnded:
        # v1's agent was whatever the switch printed, usually "<id> <name>";
        # keep the name for people and the id where one is recognisable.
        agent_id, agent_name = None, self.agent
        if self.agent and " " in self.agent and self.agent.split(" ", 1)[0].isalnum():
            head, tail = self.agent.split(" ", 1)
            if any(ch.isdigit() for ch in head):
                agent_id, agent_name = head, tail
        return InboundCallEnded(
            call_id=self.call_id,
            duration_seconds=self.duration,
            ivr_path=self.ivr_path,
            queue=self.queue,
            agent_id=agent_id,
            agent_name=agent_name,
            disposition=self.disposition,
        )


class OutboundCallMade(CallEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "call.outbound_made"

    duration_seconds: Seconds
    agent_id: str | None = None
    agent_name: str | None = None
    outcome: Literal["answered", "no_answer", "busy", "voicemail", "failed"] = "answered"
    disposition: str | None = None

    def summary(self) -> str:
        who = f" by {self.agent_name or self.agent_id}" if self.agent_name or self.agent_id else ""
        what = f": {self.disposition}" if self.disposition else ""
        outcome = self.outcome.replace("_", " ")
        return f"Outbound call{who}, {outcome}, {_duration(self.duration_seconds)}{what}"


class CallbackRequested(CallEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "call.callback_requested"

    requested_for: AwareDatetime | None = None
    reason: str | None = None

    def summary(self) -> str:
        when = f" for {self.requested_for:%Y-%m-%d %H:%M %Z}" if self.requested_for else ""
        why = f": {self.reason}" if self.reason else ""
        return f"Callback requested{when}{why}"


class VoicemailLeft(CallEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "call.voicemail_left"

    duration_seconds: Seconds
    transcript: str | None = None

    def summary(self) -> str:
        said = f": {self.transcript[:60]}" if self.transcript else ""
        return f"Voicemail left, {_duration(self.duration_seconds)}{said}"


CALL_EVENTS: tuple[type[Payload], ...] = (
    InboundCallStarted,
    InboundCallEnded,
    OutboundCallMade,
    CallbackRequested,
    VoicemailLeft,
)
CALL_LEGACY: tuple[type[LegacyPayload], ...] = (InboundCallEndedV1,)
