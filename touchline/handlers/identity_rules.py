"""Which identifiers may tie two customers together.

A family's shared landline or a reseller's generic order mailbox is carried by
several people's events; letting it merge them would fuse a household or a
whole partner's customer base into one person. Two controls:

- **Blocked values** (``kind:value``) are not identifiers of a person at all:
  the resolver ignores them; an event carrying nothing else is dead-lettered
  unless it names its ``customer_id``.
- **Attach-only kinds** still find and join a customer (a call from a known
  landline lands on its first owner) but never merge two: when an event's
  identifiers of attach-only kinds point at another customer than its
  mergeable ones, the mergeable ones decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from touchline.events.identifiers import normalise_identifier
from touchline.events.keys import KINDS, parse_identifier

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class IdentityRules:
    attach_only_kinds: frozenset[str] = frozenset()
    blocked: frozenset[Key] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = self.attach_only_kinds - set(KINDS)
        if unknown:
            raise ValueError(
                f"unknown identifier kind(s) {', '.join(sorted(unknown))}; "
                f"kinds are {', '.join(KINDS)}"
            )

    def usable(self, keys: Sequence[Key]) -> Sequence[Key]:
        if not self.blocked:
            return keys
        return [key for key in keys if key not in self.blocked]

    def may_merge(self, key: Key) -> bool:
        return key[0] not in self.attach_only_kinds

    @classmethod
    def parse(
        cls, attach_only: Iterable[str], blocked: Iterable[str], region: str
    ) -> IdentityRules:
        """From settings: kind names, and ``kind:value`` identifiers normalised
        exactly as events' identifiers are (so ``+44 20 7946 0000`` matches)."""
        keys = set()
        for text in blocked:
            kind, value = parse_identifier(text.strip())
            keys.add((kind, normalise_identifier(kind, value, region)))
        return cls(frozenset(k.strip() for k in attach_only if k.strip()), frozenset(keys))
