"""Email touchpoints, as an email service provider reports them."""

from __future__ import annotations

from typing import ClassVar, Literal

from touchline.events.base import NonEmpty, Payload


class EmailEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "email"

    message_id: NonEmpty
    subject: str | None = None

    def _subject(self) -> str:
        return f" '{self.subject}'" if self.subject else ""


class EmailSent(EmailEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "email.sent"

    template: str | None = None

    def summary(self) -> str:
        return f"Sent email{self._subject()}"


class EmailDelivered(EmailEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "email.delivered"

    def summary(self) -> str:
        return f"Email delivered{self._subject()}"


class EmailOpened(EmailEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "email.opened"

    user_agent: str | None = None

    def summary(self) -> str:
        return f"Opened email{self._subject()}"


class EmailClicked(EmailEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "email.clicked"

    url: NonEmpty

    def summary(self) -> str:
        return f"Clicked {self.url} in email{self._subject()}"


class EmailReplied(EmailEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "email.replied"

    excerpt: str | None = None

    def summary(self) -> str:
        said = f": {self.excerpt[:60]}" if self.excerpt else ""
        return f"Replied to email{self._subject()}{said}"


class EmailBounced(EmailEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "email.bounced"

    bounce: Literal["hard", "soft"]
    reason: str | None = None

    def summary(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"Email{self._subject()} bounced, {self.bounce}{why}"


class EmailUnsubscribed(EmailEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "email.unsubscribed"

    list_id: str | None = None

    def summary(self) -> str:
        return f"Unsubscribed via email{self._subject()}"


class EmailComplained(EmailEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "email.complained"

    def summary(self) -> str:
        return f"Marked email{self._subject()} as spam"


EMAIL_EVENTS: tuple[type[Payload], ...] = (
    EmailSent,
    EmailDelivered,
    EmailOpened,
    EmailClicked,
    EmailReplied,
    EmailBounced,
    EmailUnsubscribed,
    EmailComplained,
)
