"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work).

Ready means the log and every store answer a query now: a load balancer
sends no traffic to an instance whose database is away, and the tests wait
on it rather than on time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec
from litestar import get
from litestar.di import NamedDependency
from sqlalchemy import Engine, text

from touchline.api.problems import unavailable
from touchline.log.port import Log


class Health(msgspec.Struct, kw_only=True):
    status: str
    checks: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What readiness checks: the log (by one of its topics) and the stores."""

    log: Log
    topic: str
    stores: Mapping[str, Engine]
    """Each database once, by the first store that uses it."""
    retry_after: int


@get("/healthz", summary="The process is up", tags=["operations"], operation_id="healthz")
async def healthz() -> Health:
    return Health(status="ok")


@get(
    "/readyz",
    summary="The log and every store answer",
    tags=["operations"],
    operation_id="readyz",
    sync_to_thread=True,
)
def readyz(dependencies: NamedDependency[Dependencies]) -> Health:
    checks: dict[str, str] = {}
    try:
        dependencies.log.end_offsets(dependencies.topic)
        checks["log"] = "ok"
        for name, engine in dependencies.stores.items():
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            checks[name] = "ok"
    except Exception as error:  # any failure to answer is "not ready", said plainly
        detail = f"not ready: {type(error).__name__}: {error}"
        raise unavailable(detail, dependencies.retry_after) from None
    return Health(status="ready", checks=checks)
