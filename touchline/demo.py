"""``touchline demo``: a simulated day on the embedded backbone, end to end."""

from __future__ import annotations

import shlex
import sys
import time
from datetime import UTC, date, datetime
from datetime import time as time_of_day

from touchline import parallel
from touchline.bootstrap import build_backbone
from touchline.config import Settings
from touchline.handlers.campaign_views import Funnel
from touchline.processing.clock import ManualClock
from touchline.progress import ProgressLine
from touchline.projections.profile_view import Profile
from touchline.simulate import CAMPAIGN, Person, batches, simulate_day
from touchline.store.api_keys import ApiKeys

CONSOLE_KEY_NAME = "demo-console"
CONSOLE_URL = "http://127.0.0.1:8000/console"
"""Where ``touchline api`` serves the console with its default host and port."""

# What a broken channel system sends: refused at the edge, the rest goes on.
_BROKEN_FEED = (
    b'[{"id":"01a20000-0000-7000-8000-000000000001","type":"fax.recieved","version":1,'
    b'"occurred_at":"2026-11-20T10:00:00Z","source":"old-fax-gw",'
    b'"identities":{"fax":"+1 212 555 0100"},'
    b'"payload":{"document_id":"F1","pages":1}},'
    b'{"id":"01a20000-0000-7000-8000-000000000002","type":"call.inbound_ended","version":2,'
    b'"occurred_at":"2026-11-20T10:05:00Z","source":"ivr","identities":{"phone":"12"},'
    b'"payload":{"call_id":"c9","duration_seconds":"long"}}]'
)


def run_demo(settings: Settings, *, customers: int, seed: int, day: str) -> int:
    simulated_day = date.fromisoformat(day)
    out = sys.stdout
    print(f"touchline demo: {customers:,} customers, {day}, seed {seed}", file=out)
    print(f"  data in {settings.data_path.resolve()} (embedded log + SQLite)", file=out)
    started = time.perf_counter()
    people, events = simulate_day(simulated_day, customers, seed)
    sources = sorted({event.source for event in events})
    print(
        f"  simulated {len(events):,} events from {len(sources)} channel systems: "
        f"{', '.join(sources)}",
        file=out,
    )

    # Timers (campaign follow-ups, expiries) fire by the end of the simulated
    # day, not by today's date: the demo tells the same story every day.
    end_of_day = datetime.combine(simulated_day, time_of_day.max, UTC)
    with build_backbone(settings, clock=ManualClock(end_of_day)) as backbone:
        publishing = ProgressLine("  publishing", waiting="to go")
        accepted = 0
        for batch in batches(events, 1000):
            accepted += len(backbone.publisher.publish(batch).accepted)
            publishing(accepted, len(events) - accepted)
        publishing.finish(accepted)

        refused = backbone.publisher.publish_raw(_BROKEN_FEED).rejected
        print("  a broken feed sent 2 events; both refused at the edge with reasons:", file=out)
        for error in refused:
            print(f"    - {error}", file=out)

        # Each event passes every processor (resolver, timeline, synchronizer):
        # it counts once per processor.
        processing = ProgressLine("  resolving + projecting + synchronizing")
        consumed = parallel.catch_up(backbone, processing)
        processing.finish(consumed)

        ann = people[0]
        customer_id = backbone.queries.find(f"email:{ann.email}").customer_id
        if customer_id is None:
            print("touchline demo: the showcase customer was not resolved", file=sys.stderr)
            return 1
        page = backbone.queries.timeline(customer_id, limit=40)
        # "Now" is the end of the simulated day: the demo reads the same every time.
        profile = backbone.queries.profile(customer_id, now=end_of_day)
        funnel = backbone.queries.funnel(CAMPAIGN)
        journey = backbone.queries.customer_campaigns(customer_id)
        console_key = demo_console_key(ApiKeys(backbone.engine))

    print(f"\n{ann.name} ({ann.email}, {ann.phone}), customer {customer_id}:", file=out)
    print("  newest first, every channel in one story", file=out)
    for entry in page.entries:
        print(f"  {entry.occurred_at:%H:%M}  {entry.channel:<9} {entry.summary}", file=out)
    if profile is not None:
        print("\n  profile, as the agent's screen shows it:", file=out)
        for line in profile_summary(profile):
            print(f"    {line}", file=out)
    print(f"\n  campaign {CAMPAIGN}, every channel in step:", file=out)
    for line in funnel_summary(funnel):
        print(f"    {line}", file=out)
    for campaign in journey:
        print(f"  {ann.name}'s offer journey in {campaign.campaign_id}:", file=out)
        for step in campaign.history:
            detail = " ".join(part for part in (step.via, step.reason) if part)
            print(f"    {step.at:%H:%M}  {step.state:<10} {detail}".rstrip(), file=out)
    elapsed = time.perf_counter() - started
    print(f"\ndone in {elapsed:.1f}s. Next:", file=out)
    for line in next_steps(settings, ann, console_key):
        print(f"  {line}", file=out)
    return 0


def next_steps(settings: Settings, ann: Person, console_key: str) -> list[str]:
    """What to try next on the demo's data, the console first."""
    return [
        f"open the console: {touchline_command(settings)} api, then {CONSOLE_URL} "
        f"(agent key {console_key}; find {ann.phone})",
        f".venv/bin/touchline timeline {ann.email}",
        f".venv/bin/touchline timeline '{ann.phone}' --channel call --channel service",
        f".venv/bin/touchline profile {ann.email}",
        f".venv/bin/touchline campaigns funnel {CAMPAIGN}",
        f".venv/bin/touchline campaigns show {ann.email}",
        ".venv/bin/touchline campaigns watch --once",
        ".venv/bin/touchline lag",
        ".venv/bin/touchline dead-letters list --status all",
    ]


def demo_console_key(keys: ApiKeys) -> str:
    """A new agent key for the console on the demo's data, the previous demo
    key revoked: a key is shown once (only its hash is kept), and a demo run
    again should leave one working demo key, not one more each time."""
    for key in keys.list_keys():
        if key.name == CONSOLE_KEY_NAME and key.revoked_at is None:
            keys.revoke(key.key_id)
    return keys.create(CONSOLE_KEY_NAME, ["agent"]).token


def touchline_command(settings: Settings) -> str:
    """The command as the person should type it, with the demo's data directory."""
    default = Settings().data_dir
    if settings.data_dir == default:
        return ".venv/bin/touchline"
    return f".venv/bin/touchline --data-dir {shlex.quote(settings.data_dir)}"


def profile_summary(profile: Profile) -> list[str]:
    """The few lines of a profile an agent reads first."""
    orders = profile.orders
    value = ", ".join(
        f"{amount:,.2f} {currency}" for currency, amount in orders.lifetime_value.items()
    )
    channels = ", ".join(sorted(profile.last_contact))
    lines = [
        f"identifiers: {', '.join(profile.identifiers)}",
        f"value tier: {profile.value_tier}; lifetime value {value or 'none yet'} "
        f"over {orders.count} orders ({orders.direct} direct, {orders.partner} via partners)",
        f"in touch by: {channels}",
        f"open cases: {len(profile.open_cases)}; "
        f"recent complaints: {len(profile.recent_complaints)}",
    ]
    if profile.owning_partner is not None:
        lines.append(
            f"owning partner: {profile.owning_partner.name or profile.owning_partner.account}"
        )
    lines.extend(f"talking point: {point}" for point in profile.talking_points)
    lines.extend(f"churn risk: {signal.text}" for signal in profile.churn_signals)
    return lines


def funnel_summary(funnel: Funnel) -> list[str]:
    """A campaign's funnel in a few lines."""
    states = ", ".join(f"{state} {count:,}" for state, count in funnel.by_state.items())
    lines = [f"{funnel.customers:,} customers: {states}"]
    for channel, states_by in funnel.by_channel.items():
        lines.append(f"offered via {channel}: {sum(states_by.values()):,}")
    revenue = [
        *(f"via {k}: {_money(v)}" for k, v in funnel.revenue_by_channel.items()),
        *(f"partner {k}: {_money(v)}" for k, v in funnel.revenue_by_partner.items()),
    ]
    lines.append(
        f"conversions {funnel.conversions:,}" + (f" ({'; '.join(revenue)})" if revenue else "")
    )
    return lines


def _money(by_currency: dict[str, float]) -> str:
    return ", ".join(f"{amount:,.2f} {currency}" for currency, amount in by_currency.items())
