"""``touchline dead-letters list|show|replay|discard``, and the dead-letter
notes the other commands print about a customer or a processor."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime

import msgspec

from touchline.bootstrap import Backbone, build_backbone
from touchline.config import Settings
from touchline.dead_letters.index import (
    DEAD,
    DISCARDED,
    REDRIVEN,
    LetterFilter,
    LetterRow,
    count_letters,
    list_letters,
    sync,
)
from touchline.dead_letters.redrive import Done, discard, read_letter, redrive


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        "dead-letters", help="see, re-drive or discard what a processor could not take"
    ).add_subparsers(required=True, metavar="ACTION")

    listing = group.add_parser("list", help="dead letters, newest first")
    _filters(listing)
    listing.add_argument(
        "--status",
        choices=[DEAD, REDRIVEN, DISCARDED, "all"],
        default=DEAD,
        help="which letters (default: dead, the ones still to deal with)",
    )
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(command=cmd_list)

    show = group.add_parser("show", help="one letter: reason, origin and its bytes decoded")
    show.add_argument("letter", help="its id as the list prints it (partition:offset)")
    show.set_defaults(command=cmd_show)

    replay = group.add_parser(
        "replay", help="append letters to the topic they came from again (once each)"
    )
    replay.add_argument("letters", nargs="*", help="ids (partition:offset)")
    _filters(replay)
    replay.add_argument(
        "--matching", action="store_true", help="every dead letter the filters match"
    )
    replay.add_argument("--by", default=None, help="who re-drives (default: your user name)")
    replay.set_defaults(command=cmd_replay)

    drop = group.add_parser("discard", help="mark letters dealt with; who and why are kept")
    drop.add_argument("letters", nargs="*", help="ids (partition:offset)")
    _filters(drop)
    drop.add_argument("--matching", action="store_true", help="every dead letter the filters match")
    drop.add_argument("--by", required=True, help="who discards (kept in the audit entry)")
    drop.add_argument("--reason", required=True, help="why (kept in the audit entry)")
    drop.set_defaults(command=cmd_discard)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processor", help="e.g. identity-resolver, timeline")
    parser.add_argument("--code", help="e.g. refused-at-edge, conflicting-duplicate, undecodable")
    parser.add_argument("--reason-contains", dest="reason_text", help="a piece of the reason")
    parser.add_argument("--since", type=datetime.fromisoformat, help="dead at or after (ISO)")
    parser.add_argument("--until", type=datetime.fromisoformat, help="dead before (ISO)")
    parser.add_argument(
        "--customer", help="a customer id or identifier (kind:value, email, phone) it concerns"
    )


def _where(backbone: Backbone, args: argparse.Namespace, status: str | None) -> LetterFilter:
    concerning = concerning_tokens(backbone, args.customer) if args.customer else ()
    return LetterFilter(
        processor=args.processor,
        code=args.code,
        reason=args.reason_text,
        since=args.since,
        until=args.until,
        concerning=concerning,
        status=status,
    )


def concerning_tokens(backbone: Backbone, identifier: str) -> tuple[str, ...]:
    """What a letter about this customer names: every id it has had, every
    identifier it has, and the identifier asked about (even if nobody has it:
    the event that would have created the customer may be the dead one)."""
    lookup = backbone.queries.find(identifier)
    tokens = [lookup.asked]
    if lookup.customer_id is not None:
        ids, identifiers = backbone.queries.identities(lookup.customer_id)
        tokens += ids + identifiers
    return tuple(dict.fromkeys(tokens))


def synced(backbone: Backbone) -> None:
    topic = backbone.settings.topics.dead_letter
    sync(backbone.engine, backbone.log, backbone.codec, topic)


def letters_note(backbone: Backbone, identifier: str) -> str | None:
    """One line naming the dead letters that concern a customer, or None."""
    synced(backbone)
    where = LetterFilter(concerning=concerning_tokens(backbone, identifier))
    with backbone.engine.connect() as connection:
        counts = count_letters(connection, where)
    if not counts:
        return None
    total = sum(counts.values())
    by = ", ".join(f"{n} from {processor}" for processor, n in sorted(counts.items()))
    verb = "concerns" if total == 1 else "concern"
    return (
        f"touchline: {_letters(total)} {verb} {identifier} ({by}): "
        f"touchline dead-letters list --customer {identifier}"
    )


def _letters(count: int) -> str:
    return f"{count} dead letter{'' if count == 1 else 's'}"


def dead_by_processor(backbone: Backbone) -> dict[str, int]:
    synced(backbone)
    with backbone.engine.connect() as connection:
        return count_letters(connection)


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        synced(backbone)
        where = _where(backbone, args, None if args.status == "all" else args.status)
        with backbone.engine.connect() as connection:
            rows = list_letters(connection, where, limit=args.limit)
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(rows)) + b"\n")
        return 0
    if not rows:
        print("no dead letters match")
        return 0
    for row in rows:
        print(_line(row))
    return 0


def _line(row: LetterRow) -> str:
    when = row.dead_at.strftime("%Y-%m-%d %H:%M:%S")
    what = f"{row.event_type or '?'} {row.event_id or '(no id)'}"
    status = "" if row.status == DEAD else f"  [{row.status} by {row.status_by}]"
    return f"{row.id:>8}  {when}  {row.processor:<17} {row.code:<21} {what}: {row.reason}{status}"


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        synced(backbone)
        letter = read_letter(
            backbone.engine, backbone.log, backbone.codec, settings.topics.dead_letter, args.letter
        )
    row = letter.row
    print(f"dead letter {row.id} on {settings.topics.dead_letter}")
    print(f"  dead at:   {row.dead_at.isoformat()}")
    print(f"  processor: {row.processor}")
    print(f"  code:      {row.code}")
    print(f"  reason:    {row.reason}")
    print(f"  origin:    {row.origin}")
    print(f"  event:     {row.event_type or '?'} {row.event_id or '(no id)'}")
    print(f"  customer:  {row.customer_id or '-'}")
    print(f"  status:    {row.status}" + _status_detail(row))
    for name, value in letter.record.headers:
        if name.startswith("digest."):
            print(f"  {name}: {value.decode(errors='replace')}")
    print("  bytes, decoded as far as they go:")
    print("\n".join(f"    {line}" for line in letter.peek.shown.splitlines()))
    return 0


def _status_detail(row: LetterRow) -> str:
    if row.status == DEAD:
        return ""
    when = row.status_at.isoformat() if row.status_at else "?"
    detail = f" by {row.status_by} at {when}"
    if row.redriven_to:
        detail += f" -> {row.redriven_to}"
    if row.status_note:
        detail += f" ({row.status_note})"
    return detail


def _chosen(backbone: Backbone, args: argparse.Namespace) -> list[str]:
    """The letters named, or those the filters match; the index synced first."""
    if args.letters and args.matching:
        raise ValueError("name letters or pass --matching with filters, not both")
    synced(backbone)
    if args.letters:
        return list(args.letters)
    if not args.matching:
        raise ValueError("name the letters (partition:offset) or pass --matching with filters")
    with backbone.engine.connect() as connection:
        rows = list_letters(connection, _where(backbone, args, DEAD), limit=1_000_000)
    return [row.id for row in reversed(rows)]  # oldest first: the order they died in


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        chosen = _chosen(backbone, args)
        done = redrive(
            backbone.engine,
            backbone.log,
            settings.topics.dead_letter,
            chosen,
            by=args.by or getpass.getuser(),
        )
    return _report(done, "re-driven")


def cmd_discard(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        chosen = _chosen(backbone, args)
        done = discard(
            backbone.engine, settings.topics.dead_letter, chosen, by=args.by, reason=args.reason
        )
    return _report(done, "discarded")


def _report(done: list[Done], verb: str) -> int:
    if not done:
        print(f"no dead letters match: nothing {verb}")
    for item in done:
        if item.done:
            where = f" -> {item.where}" if item.where else ""
            print(f"{item.letter_id} {verb}{where}")
        else:
            print(f"{item.letter_id} was already {item.status}: left as it is")
    return 0
