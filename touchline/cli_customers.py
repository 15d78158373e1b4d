"""``touchline profile``, ``unmerge`` and ``rebuild``: commands about one customer."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import msgspec

from touchline.bootstrap import Backbone, build_backbone
from touchline.cli_dead_letters import letters_note
from touchline.config import Settings
from touchline.events import new_event
from touchline.events.identity import CustomerUnmerged
from touchline.projections.profile_store import rebuild_all, rebuild_customer
from touchline.projections.profile_view import Profile
from touchline.projections.timeline import rebuild_timeline_rows


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    profile = commands.add_parser("profile", help="print one customer's 360-degree profile")
    profile.add_argument("identifier", help="kind:value, an email, a phone, or a customer id")
    profile.add_argument("--json", action="store_true", help="machine-readable output")
    profile.set_defaults(command=cmd_profile)

    unmerge = commands.add_parser(
        "unmerge", help="split a customer out of the one it was merged into"
    )
    unmerge.add_argument("customer", help="the merged customer's id (cus_...)")
    unmerge.add_argument("--by", required=True, help="who asks (kept in the audit entry)")
    unmerge.add_argument("--reason", required=True, help="why (kept in the audit entry)")
    unmerge.set_defaults(command=cmd_unmerge)

    rebuild = commands.add_parser(
        "rebuild", help="rebuild a projection from the timeline's event index"
    )
    rebuild.add_argument("projection", choices=["profile", "timeline"])
    rebuild.add_argument(
        "--customer",
        help="only this customer (profile: required for the timeline, whose rows are the index)",
    )
    rebuild.set_defaults(command=cmd_rebuild)


def resolve_customer(backbone: Backbone, identifier: str) -> str | None:
    return backbone.queries.find(identifier).customer_id


def known_customer(backbone: Backbone, identifier: str) -> str | None:
    """``resolve_customer``, saying so on stderr when nobody is known by it."""
    customer_id = resolve_customer(backbone, identifier)
    if customer_id is None:
        print(f"touchline: no customer is known by {identifier!r}", file=sys.stderr)
        mention_dead_letters(backbone, identifier)
    return customer_id


def mention_dead_letters(backbone: Backbone, identifier: str) -> None:
    """Say on stderr when dead letters concern this customer: a profile or
    timeline missing an event should never leave a person guessing why."""
    note = letters_note(backbone, identifier)
    if note is not None:
        print(note, file=sys.stderr)


def cmd_profile(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        customer_id = known_customer(backbone, args.identifier)
        if customer_id is None:
            return 1
        profile = backbone.queries.profile(customer_id)
        mention_dead_letters(backbone, customer_id)
    if profile is None:
        print(f"touchline: {customer_id} has no profile yet (is the backbone running?)")
        return 1
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(profile)) + b"\n")
    else:
        print(format_profile(profile))
    return 0


def format_profile(profile: Profile) -> str:
    """The profile as indented YAML-ish text: every field, nothing hidden."""
    lines = [f"Profile of {profile.customer_id}"]

    def walk(value: object, indent: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, dict | list | tuple) and item:
                    lines.append(f"{indent}{key}:")
                    walk(item, indent + "  ")
                else:
                    lines.append(f"{indent}{key}: {_scalar(item)}")
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, dict):
                    first, *rest = item.items() or [("", "")]
                    lines.append(f"{indent}- {first[0]}: {_scalar(first[1])}")
                    walk(dict(rest), indent + "  ")
                else:
                    lines.append(f"{indent}- {_scalar(item)}")

    body = msgspec.to_builtins(profile)
    body.pop("customer_id", None)
    walk(body, "  ")
    return "\n".join(lines)


def _scalar(value: object) -> str:
    if value in ({}, [], (), None):
        return "-"
    return str(value)


def cmd_unmerge(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        survivor = backbone.queries.find(args.customer).customer_id
        if survivor is None:
            print(f"touchline: no customer {args.customer!r}", file=sys.stderr)
            return 1
        if survivor == args.customer:
            print(
                f"touchline: {args.customer} is not merged into another customer", file=sys.stderr
            )
            return 1
        request = new_event(
            CustomerUnmerged(
                survivor_id=survivor,
                restored_id=args.customer,
                requested_by=args.by,
                reason=args.reason,
            ),
            occurred_at=datetime.now(UTC),
            source="touchline-cli",
            customer_id=survivor,
        )
        result = backbone.publisher.publish([request])
    for error in result.rejected:
        print(f"touchline: {error}", file=sys.stderr)
        return 1
    print(f"unmerge of {args.customer} from {survivor} requested ({request.id});")
    print("the resolver splits them and every projection rebuilds both customers.")
    return 0


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        codec = backbone.codec
        if args.customer is not None:
            customer_id = resolve_customer(backbone, args.customer) or args.customer
            with backbone.engine.begin() as connection:
                if args.projection == "timeline":
                    found = rebuild_timeline_rows(connection, codec, customer_id) > 0
                else:
                    found = rebuild_customer(connection, codec, customer_id)
            if not found:
                print(f"touchline: {customer_id} has no events in the timeline", file=sys.stderr)
                return 1
            print(f"rebuilt the {args.projection} of {customer_id}")
            return 0
        if args.projection == "timeline":
            print(
                "touchline: the timeline is the event index; rebuild it per customer "
                "(--customer), or replay the interactions log into a fresh database "
                "where it was kept whole (TOUCHLINE_INTERACTIONS_RETENTION=all)",
                file=sys.stderr,
            )
            return 2
        done = rebuild_all(
            backbone.engine, codec, progress=lambda n: print(f"  {n} customers folded")
        )
    print(f"rebuilt {done} profiles into a new generation and switched to it")
    return 0
