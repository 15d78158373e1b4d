"""Which partner gets a lead, and why: a pure function of the customer, the
directory and the partners' open leads.

The factors, strongest first, compared in that order (a tuple, not a sum of
weights, so no amount of a weaker factor outweighs a stronger one):

1. **ownership**: the customer's owning partner on the profile (the partner
   of their latest partner event);
2. **past conversions**: the customer's live orders through the partner
   (a proven relationship beats geography);
3. **territory**: the partner covers where the customer is. touchline
   records no postal address, so "where" is what the customer's phone and
   fax numbers say: their country (``US``) and their E.164 digits, matched
   against a territory's dialing prefix (``+1415``);

then the partner's name, so equal partners always resolve the same way.
**Capacity** is a gate, not a preference: a partner holding as many open
leads as its capacity is passed over, and the reasons say so.

A partner with none of the three is no candidate: such a lead goes to the
default partner (when it has room). When every partner that would take it
is at capacity, the lead waits for room (the dispatcher tries it again as
leads close); when none would, it is undeliverable. Either way with every
reason. A lead that went out before (a re-send after a crash) keeps the
partner it went to, so no lead reaches two partners.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache

import phonenumbers

from touchline.adapters.partners import Partner
from touchline.adapters.port import NoRoomYet, Undeliverable


@dataclass(frozen=True, slots=True)
class Customer:
    """What routing weighs of a customer, as the profile and the identity graph know them."""

    owning: str | None = None
    owning_seen: str | None = None
    """When the owning partner was last seen (for the reason)."""
    orders: Mapping[str, int] | None = None
    """Partner account -> the customer's live orders through it."""
    numbers: tuple[str, ...] = ()
    """The customer's phone and fax numbers, E.164."""


@dataclass(frozen=True, slots=True)
class Route:
    """Which partner gets the lead, where, and why."""

    partner: str
    url: str
    reasons: tuple[str, ...]


@cache
def _country(number: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return None


def territory_match(territories: Collection[str], numbers: Collection[str]) -> str | None:
    """The first of ``territories`` one of ``numbers`` lies in, if any."""
    for territory in territories:
        for number in numbers:
            if (
                number.startswith(territory)
                if territory.startswith("+")
                else (_country(number) == territory)
            ):
                return territory
    return None


def _factors(name: str, partner: Partner, customer: Customer) -> tuple[tuple[int, ...], list[str]]:
    """The partner's affinity (compared as a tuple) and the reasons for it."""
    reasons = []
    owner = int(customer.owning == name)
    if owner:
        reasons.append(f"owning partner on the profile: {name} (last seen {customer.owning_seen})")
    orders = (customer.orders or {}).get(name, 0)
    if orders:
        reasons.append(f"{orders} past order{'s' if orders != 1 else ''} through {name}")
    territory = territory_match(partner.territories, customer.numbers)
    if territory is not None:
        reasons.append(f"territory {territory} covers the customer's phone")
    return (owner, orders, int(territory is not None)), reasons


def _room(name: str, partner: Partner, open_leads: Mapping[str, int]) -> tuple[bool, str | None]:
    """Whether the partner takes another lead, and what its load is."""
    if partner.capacity is None:
        return True, None
    held = open_leads.get(name, 0)
    load = f"{held} of {partner.capacity} open leads"
    return held < partner.capacity, load


def route(
    customer: Customer,
    partners: Mapping[str, Partner],
    open_leads: Mapping[str, int],
    default: str = "",
    *,
    sent_to: str | None = None,
) -> Route:
    """The partner with the best affinity that has room (see the module's
    docstring); ``sent_to`` a partner an earlier attempt sent this lead to,
    which it keeps (the same reasons, so the same bytes, when nothing changed).
    Raises :class:`NoRoomYet` with every reason when the partners that would
    take it are all at capacity, :class:`Undeliverable` when none would."""
    if sent_to is None:
        return _best(customer, partners, open_leads, default)
    if sent_to not in partners:
        raise Undeliverable(
            f"this lead went to partner {sent_to} before, which is no longer configured; "
            "it is not sent to another"
        )
    try:
        now = _best(customer, partners, open_leads, default)
    except Undeliverable as error:
        return Route(
            sent_to, partners[sent_to].url, (f"sent to {sent_to} before: kept", str(error))
        )
    if now.partner == sent_to:
        return now
    kept = f"sent to {sent_to} before: kept (routing now would pick {now.partner})"
    return Route(sent_to, partners[sent_to].url, (kept,))


def _best(
    customer: Customer, partners: Mapping[str, Partner], open_leads: Mapping[str, int], default: str
) -> Route:
    preamble = []
    if customer.owning is None:
        preamble.append("no owning partner on the profile")
    elif customer.owning not in partners:
        preamble.append(f"owning partner {customer.owning} has no webhook configured")
    ranked = sorted(
        ((*_factors(name, partner, customer), name) for name, partner in partners.items()),
        key=lambda scored: (tuple(-f for f in scored[0]), scored[2]),
    )
    passed_over = []
    # Whether a partner that would take the lead was passed over for its
    # capacity: room comes once one of its leads closes.
    full = False
    for factors, reasons, name in ranked:
        if not any(factors):
            break  # sorted: no one after this one has any affinity either
        fits, load = _room(name, partners[name], open_leads)
        if not fits:
            passed_over.append(f"{name} passed over: at capacity ({load})")
            full = True
            continue
        held = [] if load is None else [f"{name} holds {load}"]
        return Route(name, partners[name].url, (*preamble, *reasons, *held, *passed_over))
    if not passed_over:
        preamble.append("no configured partner has sold to or covers the customer")
    if default in partners:
        fits, load = _room(default, partners[default], open_leads)
        if fits:
            held = [] if load is None else [f"{default} holds {load}"]
            return Route(
                default,
                partners[default].url,
                (*preamble, *passed_over, f"the default partner: {default}", *held),
            )
        passed_over.append(f"the default partner {default} is at capacity ({load})")
        full = True
    elif default:
        passed_over.append(f"the default partner {default} has no webhook configured")
    else:
        passed_over.append("no default partner")
    reason = "; ".join([*preamble, *passed_over])
    raise NoRoomYet(reason) if full else Undeliverable(reason)
