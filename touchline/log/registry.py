"""Log engines by name, so configuration picks one with a URL.

A URL is ``<engine>://<target>``; the engine's opener gets ``<target>``. Tests
loop over this same registry, so an engine added here is held to the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from touchline.log.port import Log, LogError
from touchline.log.sqlite import SYNCHRONOUS, SqliteLog


def _open_sqlite(target: str) -> Log:
    """``sqlite:///relative/log.db`` or ``sqlite:////absolute/log.db``, with
    ``?synchronous=full`` for an fsync on every commit (see SqliteLog).

    The same reading as SQLAlchemy's SQLite URLs (the projections' store), so
    one directory setting means the same place for both.
    """
    location, _, query = target.partition("?")
    path = location.removeprefix("/")
    if not path:
        raise LogError("a sqlite log URL needs a file path, e.g. 'sqlite:///data/log.db'")
    options = dict(parse_qsl(query, keep_blank_values=True))
    synchronous = options.pop("synchronous", "normal").lower()
    if options or synchronous not in SYNCHRONOUS:
        raise LogError(
            f"sqlite log URL options: only synchronous={'|'.join(SYNCHRONOUS)}, not {query!r}"
        )
    return SqliteLog(path, synchronous=synchronous)


def _open_kafka(target: str) -> Log:
    """``kafka://host:port[,host:port...][?compression=gzip&linger_ms=5&...]``.

    Imported here rather than at the top: kafka-python takes a fifth of a
    second to import, which the embedded engine's every start need not pay.
    """
    from touchline.log.kafka import open_kafka_log  # noqa: PLC0415 - see the docstring

    return open_kafka_log(target)


LOG_ENGINES: dict[str, Callable[[str], Log]] = {"kafka": _open_kafka, "sqlite": _open_sqlite}


def open_log(url: str) -> Log:
    """Open the log ``url`` names, e.g. ``sqlite:///data/touchline-log.db``."""
    engine, sep, target = url.partition("://")
    if not sep:
        raise LogError(f"log URL {url!r} has no engine (expected '<engine>://...')")
    try:
        opener = LOG_ENGINES[engine]
    except KeyError:
        known = ", ".join(sorted(LOG_ENGINES))
        raise LogError(f"unknown log engine {engine!r} (known: {known})") from None
    return opener(target)
