"""The identity graph's own events: identifiers linked, customers merged and split.

The identifiers themselves travel in the envelope's ``identities`` (normalised
there like every other event's); these payloads say why and by whom, so every
link, merge and unmerge is auditable. Customer ids are the resolver's
``cus_...`` strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar
from uuid import UUID

from touchline.events.base import NonEmpty, Payload, clip


class IdentityEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "identity"


class CustomerIdentified(IdentityEvent, frozen=True, kw_only=True):
    """The envelope's identifiers belong together (one person logged in, a
    CRM sync matched them, an agent confirmed them on a call)."""

    type: ClassVar[str] = "customer.identified"

    method: NonEmpty
    """How they were linked: ``login``, ``crm_sync``, ``agent``, ``order``..."""
    link_reason: str | None = None

    def summary(self) -> str:
        why = f": {clip(self.link_reason)}" if self.link_reason else ""
        return f"Customer identified by {self.method.replace('_', ' ')}{why}"


class CustomerMerged(IdentityEvent, frozen=True, kw_only=True):
    """``merged_id`` folds into ``survivor_id`` (the older customer survives)."""

    type: ClassVar[str] = "customer.merged"

    survivor_id: NonEmpty
    merged_id: NonEmpty
    merged_by: NonEmpty
    """``identity-resolver`` for an automatic merge, else the person's id."""
    reason: NonEmpty
    caused_by: UUID | None = None
    """The event whose identifiers tied the two together, if one did."""

    def __post_init__(self) -> None:
        if self.survivor_id == self.merged_id:
            raise ValueError("`merged_id` must differ from `survivor_id`")

    def summary(self) -> str:
        return (
            f"Merged customer {self.merged_id} into {self.survivor_id} "
            f"by {self.merged_by}: {clip(self.reason)}"
        )


class CustomerUnmerged(IdentityEvent, frozen=True, kw_only=True):
    """Undoes a merge: ``restored_id`` is a customer of its own again and both
    customers' projections are rebuilt from their events."""

    type: ClassVar[str] = "customer.unmerged"

    survivor_id: NonEmpty
    restored_id: NonEmpty
    requested_by: NonEmpty
    reason: NonEmpty
    undoes: UUID | None = None
    """The ``customer.merged`` event this reverses."""
    restored_customers: tuple[str, ...] = ()
    """Filled in by the resolver: every customer id that goes with ``restored_id``
    (it and whatever had been merged into it)."""
    restored_identifiers: tuple[str, ...] = ()
    """Filled in by the resolver: the ``kind:value`` identifiers that go back."""
    survivor_identifiers: tuple[str, ...] = ()
    """Filled in by the resolver: the identifiers that stay with the survivor.
    With the two lists every projection splits the same way, from the event
    alone: an event carrying only restored identifiers goes back."""

    def __post_init__(self) -> None:
        if self.survivor_id == self.restored_id:
            raise ValueError("`restored_id` must differ from `survivor_id`")

    def summary(self) -> str:
        return (
            f"Split customer {self.restored_id} out of {self.survivor_id} "
            f"at the request of {self.requested_by}: {clip(self.reason)}"
        )

    def sides(self) -> UnmergeSides:
        """The rule that tells, for each of the survivor's events, which side it goes to."""
        return UnmergeSides(self)


class UnmergeSides:
    """Which side of an unmerge an event belongs to, from the event alone.

    Every projection that splits a survivor's events (the timeline and,
    from its own journal, the campaign synchronizer) asks here, so they all
    split alike whichever runs first.
    """

    __slots__ = ("_owners", "_restored", "_survivor")

    def __init__(self, unmerge: CustomerUnmerged) -> None:
        self._restored = frozenset(unmerge.restored_identifiers)
        self._survivor = frozenset(unmerge.survivor_identifiers)
        self._owners = frozenset(unmerge.restored_customers)

    def goes_back(self, identifiers: Iterable[str], attributed_to: str | None) -> bool:
        """Whether an event that carried ``identifiers`` (``kind:value``) and was
        first attributed to ``attributed_to`` goes to the restored customer.

        One that names any survivor's identifier stays (it ties the two, or
        is the survivor's). Otherwise it goes back when it names a restored
        identifier, or, naming neither side's, when it was attributed to one
        of the restored customers in the first place.
        """
        names = set(identifiers)
        if names & self._survivor:
            return False
        return bool(names & self._restored) or attributed_to in self._owners


IDENTITY_EVENTS: tuple[type[Payload], ...] = (
    CustomerIdentified,
    CustomerMerged,
    CustomerUnmerged,
)
