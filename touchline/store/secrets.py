"""The deployment's shared secrets, kept in the projection database.

Every process of a deployment opens the same database, so a secret made
once there is the same for all of them, and survives restarts: the
publisher's record keys (HMAC of the identifier) place a person's events on
the same partition from every process, today and after an upgrade.
``TOUCHLINE_KEY_SECRET`` overrides it (e.g. to share it with an outside
producer's configuration rather than read it from here).
"""

from __future__ import annotations

import secrets

from sqlalchemy import Engine, select

from touchline.store.tables import deployment_secrets
from touchline.store.writes import insert_ignoring_duplicates

RECORD_KEY = "record-key"


def deployment_secret(engine: Engine, name: str = RECORD_KEY) -> str:
    """The secret ``name``, made (32 random bytes, hex) by whichever process asks first."""
    with engine.begin() as connection:
        connection.execute(
            insert_ignoring_duplicates(connection, deployment_secrets),
            {"name": name, "value": secrets.token_hex(32)},
        )
        value: str = connection.execute(
            select(deployment_secrets.c.value).where(deployment_secrets.c.name == name)
        ).scalar_one()
    return value
