"""``touchline keys``: make, list and revoke the HTTP API's keys.

Only the system database is opened (no log, no processors): an operator can
hand out or revoke a key while the backbone runs, and a running API honours
the change on its next request.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec

from touchline import exit_codes, registry
from touchline.config import Settings
from touchline.store.api_keys import SCOPES, ApiKey, ApiKeys, UnknownKey
from touchline.store.engine import make_engine
from touchline.store.migrate import upgrade


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="create, list and revoke the HTTP API's keys")
    verbs = keys.add_subparsers(required=True, metavar="VERB")

    create = verbs.add_parser("create", help="make a key (shown once)")
    create.add_argument("--name", required=True, help="who holds it (e.g. crm, contact-centre)")
    create.add_argument(
        "--scope",
        action="extend",
        nargs="+",
        required=True,
        help=f"what it may do (repeatable): {', '.join(SCOPES)}; admin may do everything",
    )
    create.add_argument(
        "--source",
        action="extend",
        nargs="+",
        default=[],
        help="a publish key: the event sources it may publish for (default: any)",
    )
    create.add_argument(
        "--type",
        action="extend",
        nargs="+",
        default=[],
        help="a publish key: the event types it may publish (default: any)",
    )
    create.set_defaults(command=cmd_create)

    listing = verbs.add_parser("list", help="every key, revoked ones too (never a secret)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(command=cmd_list)

    revoke = verbs.add_parser("revoke", help="stop a key working, at once")
    revoke.add_argument("key_id", help="the key's id, as `touchline keys list` shows it")
    revoke.set_defaults(command=cmd_revoke)


@contextmanager
def _keys(settings: Settings) -> Iterator[ApiKeys]:
    """The keys in the system database, migrated first (as the API's are)."""
    engine = make_engine(settings.store_url(registry.SYSTEM_STORE))
    try:
        upgrade(engine)
        yield ApiKeys(engine)
    finally:
        engine.dispose()


def cmd_create(settings: Settings, args: argparse.Namespace) -> int:
    with _keys(settings) as keys:
        made = keys.create(args.name, args.scope, sources=args.source, types=args.type)
    # The key alone on stdout, so a script can capture it; the rest for the person.
    print(f"touchline: new key {describe(made.key)}", file=sys.stderr)
    print(made.token)
    print(
        "touchline: this key will not be shown again: store it now "
        "(only its hash is kept; a lost key is revoked and replaced)",
        file=sys.stderr,
    )
    return exit_codes.OK


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    with _keys(settings) as keys:
        listed = keys.list_keys()
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(listed).decode()) + "\n")
        return exit_codes.OK
    for key in listed:
        print(describe(key))
    if not listed:
        print("no keys yet: touchline keys create --name NAME --scope SCOPE")
    return exit_codes.OK


def cmd_revoke(settings: Settings, args: argparse.Namespace) -> int:
    with _keys(settings) as keys:
        try:
            key = keys.revoke(args.key_id)
        except UnknownKey as error:
            print(f"touchline: {error.args[0]}", file=sys.stderr)
            return exit_codes.REFUSED
    print(f"revoked {describe(key)}")
    return exit_codes.OK


def describe(key: ApiKey) -> str:
    """One line: id, name, scopes, bindings, and when it was made (and revoked)."""
    parts = [f"{key.key_id}  {key.name}  scopes {','.join(key.scopes)}"]
    if key.sources:
        parts.append(f"sources {','.join(key.sources)}")
    if key.types:
        parts.append(f"types {','.join(key.types)}")
    parts.append(f"created {key.created_at:%Y-%m-%d %H:%M:%S} UTC")
    if key.revoked_at is not None:
        parts.append(f"REVOKED {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return "  ".join(parts)
