"""The registry of event types: every current payload and every legacy version."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from touchline.events.base import LegacyPayload, Payload


class UnknownEventType(LookupError):
    """No payload is registered under this ``type@version``."""


class Catalogue:
    """Maps ``(type, version)`` to its payload class.

    Each type has exactly one current version; older versions are
    :class:`LegacyPayload` subclasses whose ``upcast`` leads to the current one.
    """

    def __init__(
        self, current: Iterable[type[Payload]], legacy: Iterable[type[LegacyPayload]] = ()
    ) -> None:
        self._current: dict[str, type[Payload]] = {}
        self._all: dict[tuple[str, int], type[Payload]] = {}
        for cls in current:
            if issubclass(cls, LegacyPayload):
                raise ValueError(f"{cls.__name__} is legacy; register it as legacy")
            if cls.type in self._current:
                raise ValueError(f"event type {cls.type!r} registered twice")
            self._current[cls.type] = cls
            self._add(cls)
        for old in legacy:
            current_cls = self._current.get(old.type)
            if current_cls is None:
                raise ValueError(f"legacy {old.type}@{old.version} has no current version")
            if old.version >= current_cls.version:
                raise ValueError(f"legacy {old.type}@{old.version} is not older than current")
            self._add(old)

    def _add(self, cls: type[Payload]) -> None:
        key = (cls.type, cls.version)
        if key in self._all:
            raise ValueError(f"{cls.type}@{cls.version} registered twice")
        self._all[key] = cls

    def lookup(self, type_name: str, version: int) -> type[Payload]:
        cls = self._all.get((type_name, version))
        if cls is not None:
            return cls
        if type_name in self._current:
            known = sorted(v for t, v in self._all if t == type_name)
            raise UnknownEventType(f"unknown version {version} of {type_name!r} (known: {known})")
        raise UnknownEventType(f"unknown event type {type_name!r}")

    def current(self, type_name: str) -> type[Payload]:
        return self.lookup(type_name, self._current[type_name].version)

    def current_types(self) -> list[type[Payload]]:
        return sorted(self._current.values(), key=lambda cls: cls.type)

    def versions(self) -> Iterator[type[Payload]]:
        """Every registered version, current and legacy, by type then version."""
        for key in sorted(self._all):
            yield self._all[key]

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._current

    def __len__(self) -> int:
        return len(self._current)


def upcast(payload: Payload) -> Payload:
    """Walk a legacy payload's upcasters until the current version."""
    while isinstance(payload, LegacyPayload):
        newer = payload.upcast()
        if newer.version <= payload.version or newer.type != payload.type:
            raise TypeError(f"upcaster of {payload.type}@{payload.version} went nowhere")
        payload = newer
    return payload
