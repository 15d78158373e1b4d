"""``touchline campaigns``: launch, target, follow and measure campaigns."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from touchline import exit_codes
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import Settings
from touchline.events import Envelope, Identities, new_event
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_feed import CampaignStateChanged
from touchline.events.keys import parse_identifier
from touchline.segments import Segment, members
from touchline.subscribe import Subscriber

SOURCE = "touchline-cli"


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    campaigns = commands.add_parser("campaigns", help="launch, target and follow campaigns")
    verbs = campaigns.add_subparsers(required=True, metavar="VERB")

    launch = verbs.add_parser("launch", help="launch a campaign from its definition (JSON)")
    launch.add_argument("campaign", help="the campaign id")
    launch.add_argument("file", help="the campaign.launched payload as JSON; - reads stdin")
    launch.set_defaults(command=cmd_launch)

    target = verbs.add_parser(
        "target", help="target customers: by identifier, or a segment of the profiles"
    )
    target.add_argument("campaign")
    target.add_argument("identifiers", nargs="*", help="kind:value, an email, a phone, cus_...")
    target.add_argument("--tier", action="append", default=[], help="a value tier (repeatable)")
    target.add_argument("--partner", help="the owning partner's account")
    target.add_argument("--contacted-within-days", type=int)
    target.add_argument("--silent-for-days", type=int)
    target.add_argument("--open-case", action=argparse.BooleanOptionalAction, default=None)
    target.add_argument("--consent", help="a channel marketing may use now")
    target.add_argument("--segment", help="a name for the segment, kept on each targeting")
    target.set_defaults(command=cmd_target)

    funnel = verbs.add_parser("funnel", help="customers per state and channel, conversions")
    funnel.add_argument("campaign")
    funnel.add_argument("--json", action="store_true")
    funnel.set_defaults(command=cmd_funnel)

    show = verbs.add_parser("show", help="one customer's campaigns, with their history")
    show.add_argument("identifier")
    show.add_argument("--json", action="store_true")
    show.set_defaults(command=cmd_show)

    watch = verbs.add_parser("watch", help="print the campaign-state feed as it grows")
    watch.add_argument("--name", default="cli-watch", help="the subscriber whose place is kept")
    watch.add_argument("--once", action="store_true", help="print what is there, then stop")
    watch.set_defaults(command=cmd_watch)


def cmd_launch(settings: Settings, args: argparse.Namespace) -> int:
    data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        terms = msgspec.json.decode(data, type=CampaignLaunched)
    except msgspec.ValidationError as error:
        print(f"touchline: not a campaign definition: {error}", file=sys.stderr)
        return exit_codes.REFUSED
    launched = new_event(
        terms, occurred_at=datetime.now(UTC), source=SOURCE, campaign_id=args.campaign
    )
    with build_backbone(settings) as backbone:
        if not _published(backbone, [launched]):
            return exit_codes.REFUSED
    steps = ", then ".join(
        f"{s.channel}" + (f" after {s.after_days} days" if s.after_days else "")
        for s in terms.sequence
    )
    print(f"launched {args.campaign} ({launched.id}): {steps}")
    return exit_codes.OK


def cmd_target(settings: Settings, args: argparse.Namespace) -> int:
    segment = Segment(
        tiers=tuple(args.tier),
        partner=args.partner,
        contacted_within_days=args.contacted_within_days,
        silent_for_days=args.silent_for_days,
        open_case=args.open_case,
        consent=args.consent,
    )
    by_segment = segment != Segment() or not args.identifiers
    now = datetime.now(UTC)
    with build_backbone(settings) as backbone:
        if not backbone.queries.launched(args.campaign):
            print(
                f"touchline: no campaign {args.campaign!r} has been launched (or its launch is "
                "not applied yet: see `touchline lag`); nothing targeted",
                file=sys.stderr,
            )
            return exit_codes.REFUSED
        who: list[tuple[Identities, str | None]] = [_who(i) for i in args.identifiers]
        if by_segment and not args.identifiers:
            rules = backbone.settings.profile_rules()
            who = [(Identities(), c) for c in members(backbone.engine, rules, segment, now)]
        targeted = [
            new_event(
                CustomerTargeted(segment=args.segment, targeted_by=SOURCE),
                occurred_at=now,
                source=SOURCE,
                identities=identities,
                customer_id=customer_id,
                campaign_id=args.campaign,
            )
            for identities, customer_id in who
        ]
        if targeted and not _published(backbone, targeted):
            return exit_codes.REFUSED
    print(f"targeted {len(targeted)} customer(s) for {args.campaign}")
    return exit_codes.OK


def cmd_funnel(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        funnel = backbone.queries.funnel(args.campaign)
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(funnel).decode()) + "\n")
        return exit_codes.OK
    print(f"campaign {funnel.campaign_id}: {funnel.customers} customer(s)")
    for state, count in funnel.by_state.items():
        print(f"  {state:<10} {count}")
    for channel, states in funnel.by_channel.items():
        counts = ", ".join(f"{state} {count}" for state, count in states.items())
        print(f"  offered via {channel}: {counts}")
    print(f"  conversions {funnel.conversions}")
    for where, revenue in [
        *(("via " + k, v) for k, v in funnel.revenue_by_channel.items()),
        *(("partner " + k, v) for k, v in funnel.revenue_by_partner.items()),
    ]:
        amounts = ", ".join(f"{amount:,.2f} {currency}" for currency, amount in revenue.items())
        print(f"  revenue {where}: {amounts}")
    return exit_codes.OK


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        customer_id = backbone.queries.find(args.identifier).customer_id
        if customer_id is None:
            print(f"touchline: no customer is known by {args.identifier!r}", file=sys.stderr)
            return exit_codes.REFUSED
        views = backbone.queries.customer_campaigns(customer_id)
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(views).decode()) + "\n")
        return exit_codes.OK
    if not views:
        print(f"{customer_id} is in no campaign")
    for view in views:
        offer = f", offer {view.offer_code}" if view.offer_code else ""
        print(f"{view.campaign_id}: {view.state}{offer}")
        for step in view.history:
            detail = " ".join(part for part in (step.via, step.reason) if part)
            print(f"  {step.at:%Y-%m-%d %H:%M}  {step.state:<10} {detail}".rstrip())
    return exit_codes.OK


def cmd_watch(settings: Settings, args: argparse.Namespace) -> int:
    with build_backbone(settings) as backbone:
        feed = Subscriber(
            args.name,
            backbone.log,
            backbone.codec,
            backbone.engine,
            backbone.settings.topics.campaign_state,
        )
        while True:
            events = feed.poll()
            for event in events:
                print(describe(event), flush=True)
            feed.commit()
            if args.once and not events:
                return exit_codes.OK
            if not events:
                time.sleep(0.5)


def describe(event: Envelope) -> str:
    """One line of the feed."""
    change = event.payload
    if not isinstance(change, CampaignStateChanged):
        return f"{event.occurred_at:%Y-%m-%d %H:%M} {event.type}"
    return (
        f"{event.occurred_at:%Y-%m-%d %H:%M}  {event.campaign_id}  {event.customer_id}  "
        f"#{change.sequence} {change.previous or '-'} -> {change.state}  {change.summary()}"
    )


def _who(identifier: str) -> tuple[Identities, str | None]:
    if identifier.startswith("cus_"):
        return Identities(), identifier
    kind, value = parse_identifier(identifier)
    if kind == "partner":
        account, _, reference = value.partition("/")
        return Identities(partner_account=account, partner_customer_ref=reference), None
    return msgspec.convert({kind: value}, Identities), None


def _published(backbone: Backbone, events: list[Envelope]) -> bool:
    result = backbone.publisher.publish(events)
    for error in result.rejected:
        print(f"touchline: rejected {error}", file=sys.stderr)
    return not result.rejected
