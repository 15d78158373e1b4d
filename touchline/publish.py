"""Publishing touchpoints: the edge where channel systems' events enter the log.

Everything is validated here, once: a publisher gets a clear error per bad
event, and the good events of the same batch are appended all the same.
What the edge accepts, every processor can apply: beyond the schemas it
refuses what no processor could store (:mod:`touchline.events.edge`) and a
second event with an id already in the batch but other content.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, NamedTuple, Protocol
from uuid import UUID

import msgspec

from touchline.events import Envelope, EventCodec, Identities, InvalidEvent
from touchline.events.campaign import CAMPAIGN_WIDE
from touchline.events.codec import INVALID
from touchline.events.digest import content_digest
from touchline.events.edge import EdgeProblem, EdgeRules, envelope_problem, value_problems
from touchline.events.identifiers import InvalidIdentifier, normalise_identities
from touchline.events.keys import record_key, source_key
from touchline.log.port import Log, Position, Record
from touchline.processing.packing import Packing, pack

NO_IDENTIFIER = (
    "an event needs at least one identifier or a customer_id "
    "(a campaign's launch or close: a campaign_id)"
)


NO_CAMPAIGN = "a campaign's launch or close names the campaign in campaign_id"

# Codes of the edge's own refusals (the codec's are in touchline.events.codec).
NO_IDENTIFIER_CODE = "no_identifier"
CONFLICTING_DUPLICATE = "conflicting_duplicate"
REFUSED = "refused"
"""A value no processor could store, or outside the time window (events/edge.py)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


Status = Literal["accepted", "duplicate"]
"""``duplicate``: the id was accepted before (an earlier publish, or earlier
in the same batch with the same content); nothing was appended for it."""


@dataclass(slots=True)
class PublishResult:
    """What happened to each event of a batch, in input order."""

    accepted: list[tuple[Envelope, Position]] = field(default_factory=list)
    rejected: list[InvalidEvent] = field(default_factory=list)
    duplicates: list[Envelope] = field(default_factory=list)
    """Events whose id the ledger knew: accepted by an earlier publish."""
    statuses: dict[int, tuple[UUID, Status]] = field(default_factory=dict)
    """Each event not refused, by its place in the input: its id and status."""

    def refusals(self, count: int) -> list[tuple[int, InvalidEvent]]:
        """Each refused event's place among the ``count`` published, with why:
        refusals are listed in input order, at the places no status holds."""
        places = [place for place in range(count) if place not in self.statuses]
        return list(zip(places, self.rejected, strict=True))


class Ledger(Protocol):
    """The ids accepted before, with their content digests
    (:class:`touchline.store.accepted.AcceptedEvents`)."""

    def digests(self, ids: Sequence[UUID]) -> dict[UUID, str]: ...

    def record(self, accepted: Sequence[tuple[UUID, str]], at: datetime) -> None: ...


class Refusal(NamedTuple):
    """Why an event is refused, at which field (``$.source``), with what code."""

    reason: str
    field: str
    code: str = INVALID


Screen = Callable[[Envelope], Refusal | None]
"""A caller's own reason to refuse an event, asked before the edge's (the
HTTP API's: the publisher's key is not bound to the event's source or type).
An event it refuses is answered like any other refusal: the rest of the
batch is published all the same."""


@dataclass(frozen=True, slots=True)
class _Seen:
    """An event id met earlier in the batch, and what became of it."""

    event: Envelope
    accepted: int | None
    """Its place among the accepted events; None when it was refused."""
    refusal: Refusal | None

    def again(self, event: Envelope) -> Refusal | None:
        """Why a second event with this id is refused: other content, or the
        same content as a refused one (same reason); None for an exact repeat."""
        first, second = content_digest(self.event), content_digest(event)
        if first != second:
            return _conflict(event.id, "this batch already has it", first, second)
        return self.refusal


def _conflict(event_id: UUID, where: str, first: str, second: str) -> Refusal:
    return Refusal(
        f"conflicting duplicate: {where} with other content for event {event_id} "
        f"(digest {first} there, {second} here)",
        "$.id",
        CONFLICTING_DUPLICATE,
    )


@lru_cache(maxsize=65_536)
def _at_the_edge(ids: Identities, region: str, secret: bytes) -> tuple[Identities, bytes | None]:
    """``ids`` normalised, and the record key of the most specific (None when
    there is none); InvalidIdentifier names one that cannot be normalised.
    Cached whole: a person's events bring the same identities again and
    again, and one lookup here stands for three (normalising, the source
    identifier, its HMAC), each of which would hash the identities again."""
    normalised = normalise_identities(ids, region)
    identifier = source_key(normalised)
    return normalised, None if identifier is None else record_key(identifier, secret)


class Publisher:
    """Appends touchpoint events to the log, keyed by the source identity."""

    def __init__(
        self,
        log: Log,
        codec: EventCodec,
        topic: str,
        *,
        rules: EdgeRules | None = None,
        key_secret: bytes = b"",
        clock: Callable[[], datetime] = utc_now,
        packing: Packing = Packing.PER_PARTITION,
        ledger: Ledger | None = None,
    ) -> None:
        self.log = log
        self.key_secret = key_secret
        """The HMAC key of record keys (:func:`touchline.events.keys.record_key`)."""
        self.codec = codec
        self.topic = topic
        self.rules = rules or EdgeRules()
        self.clock = clock
        self.packing = packing
        self.ledger = ledger
        """Where accepted ids are kept: given one, a re-sent id appends nothing."""

    def publish(self, events: Sequence[Envelope], screen: Screen | None = None) -> PublishResult:
        """Append typed events; ones no processor could take (or ``screen``
        refuses) are refused."""
        return self._publish([(None, event) for event in events], screen)

    def _publish(
        self, events: Sequence[tuple[int | None, Envelope]], screen: Screen | None = None
    ) -> PublishResult:
        result = PublishResult()
        accepted: list[tuple[Envelope, bytes]] = []
        seen: dict[UUID, _Seen] = {}
        repeats: list[tuple[Envelope, int]] = []
        digests: list[str] = []
        now = self.clock()
        before = {} if self.ledger is None else self.ledger.digests([e.id for _, e in events])
        # Values are screened for the whole batch at once (one encode, one
        # search); the envelope checks run per event below.
        bad_values = value_problems([event for _, event in events])
        for place, (index, event) in enumerate(events):
            earlier = seen.get(event.id)
            # What is appended and placed: identifiers in the log's form. What
            # is compared (digests, duplicates): the event as it was given.
            normalised, key, unusable = self._placed(event)
            known = before.get(event.id) if earlier is None else None
            digest = content_digest(event) if known is not None or self.ledger else ""
            # The caller's screen first: an event it refuses is told nothing
            # of what was accepted before (a duplicate, a conflict).
            problem = (None if screen is None else screen(event)) or unusable
            if problem is None:
                problem = self._refusal(
                    event,
                    earlier,
                    key,
                    stored=normalised,
                    known=known,
                    digest=digest,
                    now=now,
                    bad_value=bad_values.get(place),
                )
            if problem is not None:
                if earlier is None:
                    seen[event.id] = _Seen(event, None, problem)
                where = problem.field if index is None else f"[{index}]{problem.field[1:]}"
                result.rejected.append(
                    InvalidEvent(
                        problem.reason,
                        field=where,
                        event_id=str(event.id),
                        event_type=event.type,
                        code=problem.code,
                    )
                )
                continue
            at = place if index is None else index
            if known is not None or earlier is not None:
                # Accepted by an earlier publish (a retry), or the same event
                # again in this batch: nothing to append for it.
                result.statuses[at] = (event.id, "duplicate")
                if earlier is None:
                    seen[event.id] = _Seen(event, None, None)
                    result.duplicates.append(event)
                elif earlier.accepted is not None:  # else a repeat of an earlier publish's
                    repeats.append((event, earlier.accepted))
                continue
            assert key is not None  # refused above when there is none
            stamped = normalised
            if event.recorded_at is None:
                stamped = msgspec.structs.replace(normalised, recorded_at=now)
            seen[event.id] = _Seen(event, len(accepted), None)
            accepted.append((stamped, key))
            digests.append(digest)
            result.statuses[at] = (event.id, "accepted")
        if not accepted:
            return result
        positions = self._append(accepted)
        if self.ledger is not None:
            # After the append, never before: see touchline/store/accepted.py.
            ids = [event.id for event, _ in accepted]
            self.ledger.record(list(zip(ids, digests, strict=True)), now)
        result.accepted = [(event, positions[i]) for i, (event, _) in enumerate(accepted)]
        result.accepted += [(event, positions[i]) for event, i in repeats]
        return result

    def _placed(self, event: Envelope) -> tuple[Envelope, bytes | None, Refusal | None]:
        """``event`` with its identifiers normalised and its record key (None
        when nothing places it), or why an identifier cannot be normalised.

        Decoding normalises what comes as bytes (the API, the CLI); events
        built in code (a partner's file, a webhook, a caller of this class)
        come here as they were made. Unnormalised, an identifier would place
        the record under another key than the documented one, and one that
        is not an identifier at all would be accepted here and then refused
        by the resolver, after the producer was told it was taken."""
        try:
            identities, key = _at_the_edge(
                event.identities, self.codec.default_region, self.key_secret
            )
        except InvalidIdentifier as error:  # refused as decoding refuses it
            return event, None, Refusal(str(error), f"$.identities.{error.field}", INVALID)
        if identities != event.identities:
            event = msgspec.structs.replace(event, identities=identities)
        return event, key or self._key(event), None

    def _key(self, event: Envelope) -> bytes | None:
        """The record key of an event without identifiers: its campaign's, or
        the customer id (a pseudonym already); None when there is neither."""
        if event.type in CAMPAIGN_WIDE and event.campaign_id is not None:
            # About a campaign, not a person: placed by the campaign (the
            # resolver then hands it to every partition of the interactions).
            return event.campaign_id.encode()
        return None if event.customer_id is None else event.customer_id.encode()

    def _refusal(
        self,
        event: Envelope,
        earlier: _Seen | None,
        key: bytes | None,
        *,
        stored: Envelope,
        known: str | None,
        digest: str,
        now: datetime,
        bad_value: EdgeProblem | None,
    ) -> Refusal | None:
        """Why ``event`` is refused: as its id's ``earlier`` event in the batch
        was, other content than the ``known`` digest accepted before, or the
        edge's reasons (judged on the event as it would be ``stored``); None
        when it is not."""
        if earlier is not None:
            return earlier.again(event)
        if known is not None and known != digest:
            return _conflict(event.id, "an earlier publish had it", known, digest)
        return self._problem(stored, key, now, bad_value)

    def _problem(
        self, event: Envelope, key: bytes | None, now: datetime, bad_value: EdgeProblem | None
    ) -> Refusal | None:
        """Why the edge refuses ``event`` (placed by ``key``) and at which field, or None."""
        if event.type in CAMPAIGN_WIDE and event.campaign_id is None:
            return Refusal(NO_CAMPAIGN, "$.campaign_id")
        if key is None:
            return Refusal(NO_IDENTIFIER, "$.identities", NO_IDENTIFIER_CODE)
        problem = bad_value or envelope_problem(event, self.rules, now)
        return None if problem is None else Refusal(problem.reason, problem.field, REFUSED)

    def _append(self, accepted: list[tuple[Envelope, bytes]]) -> dict[int, Position]:
        partitions = self.log.partitions(self.topic)
        # A campaign's launch or close goes to every partition, ahead of the
        # batch: the resolvers of all partitions meet it before anything
        # published after it, and hand it on to every partition of the
        # interactions (a copy per pair of partitions; the synchronizer
        # keeps one).
        wide = [i for i, (event, _) in enumerate(accepted) if event.type in CAMPAIGN_WIDE]
        records = [
            Record(value=self.codec.encode(accepted[i][0]), key=accepted[i][1], partition=p)
            for i in wide
            for p in range(partitions)
        ]
        is_wide = set(wide)
        rest = [i for i in range(len(accepted)) if i not in is_wide]
        packed = pack(self.codec, [accepted[i] for i in rest], partitions, self.packing)
        positions = self.log.append(self.topic, records + [record for _, record in packed])
        where: dict[int, Position] = {}
        for number, i in enumerate(wide):
            where[i] = positions[number * partitions]
        for (indexes, _), position in zip(packed, positions[len(records) :], strict=True):
            where.update({rest[index]: position for index in indexes})
        return where

    def publish_raw(self, data: bytes, screen: Screen | None = None) -> PublishResult:
        """A JSON (or msgpack) array of events, or one event, from a channel system.

        Raises UnreadableInput when no event in ``data`` can be told apart
        (empty, not JSON, an array that does not close): nothing is appended.
        """
        stripped = data.lstrip()
        if stripped[:1] == b"{":
            try:
                single = self.codec.decode(data)
            except InvalidEvent as error:
                return PublishResult(rejected=[error])
            return self.publish([single], screen)
        decoded = self.codec.decode_batch(data)
        good = [(i, item) for i, item in enumerate(decoded) if isinstance(item, Envelope)]
        result = self._publish(good, screen)
        bad = [item for item in decoded if isinstance(item, InvalidEvent)]
        result.rejected = sorted(bad + result.rejected, key=lambda error: error.index or 0)
        return result
