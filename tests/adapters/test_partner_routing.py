"""Partner routing as a pure function, and the partner directory it reads:
each factor alone, their order, capacity as a gate, the name as the
tie-break, and the reasons when no partner fits."""

from __future__ import annotations

import pytest

from touchline.adapters.partner_routing import Customer, route, territory_match
from touchline.adapters.partners import Partner, partner_directory
from touchline.adapters.port import NoRoomYet, Undeliverable

SHARED = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OWN = "whsec_" + "QUJD" * 8

BAY = "+14155550134"
"""A San Francisco number (US, area code 415)."""
LONDON = "+442071234567"


def _partners(**territories: tuple[str, ...]) -> dict[str, Partner]:
    return {
        name: Partner(url=f"https://{name.lower()}.example/leads", secret=SHARED, territories=t)
        for name, t in territories.items()
    }


def test_the_owning_partner_wins_over_orders_and_territory() -> None:
    """Ownership is the strongest factor, whatever the others say."""
    partners = _partners(A=("US",), B=(), C=())
    customer = Customer(owning="B", owning_seen="2026-11-01", orders={"C": 5}, numbers=(BAY,))
    chosen = route(customer, partners, {})
    assert chosen.partner == "B"
    assert chosen.url == "https://b.example/leads"
    assert chosen.reasons == ("owning partner on the profile: B (last seen 2026-11-01)",)


def test_past_orders_win_over_territory_when_the_owner_has_no_webhook() -> None:
    """A proven relationship beats geography; the unconfigured owner is named."""
    partners = _partners(A=("US",), B=())
    customer = Customer(owning="Z", orders={"B": 2}, numbers=(BAY,))
    chosen = route(customer, partners, {})
    assert chosen.partner == "B"
    assert chosen.reasons == (
        "owning partner Z has no webhook configured",
        "2 past orders through B",
    )


def test_more_past_orders_win() -> None:
    """Between two partners the customer bought through, the one with more orders."""
    chosen = route(Customer(orders={"A": 1, "B": 3}), _partners(A=(), B=()), {})
    assert (chosen.partner, chosen.reasons[-1]) == ("B", "3 past orders through B")


@pytest.mark.parametrize(
    ("territories", "numbers", "match"),
    [
        (("US",), (BAY,), "US"),
        (("GB", "US"), (LONDON,), "GB"),
        (("+1415",), (BAY,), "+1415"),
        (("+1212",), (BAY,), None),
        (("US",), (LONDON,), None),
        (("US",), (), None),
    ],
)
def test_a_territory_is_a_country_or_a_dialing_prefix(
    territories: tuple[str, ...], numbers: tuple[str, ...], match: str | None
) -> None:
    """The customer's place is their numbers': the country they belong to, or their digits."""
    assert territory_match(territories, numbers) == match


def test_territory_routes_a_customer_no_partner_knows() -> None:
    """With no history, the partner covering the customer's number gets the lead."""
    partners = _partners(EAST=("+1212",), WEST=("+1415",))
    chosen = route(Customer(numbers=(BAY,)), partners, {})
    assert chosen.partner == "WEST"
    assert chosen.reasons == (
        "no owning partner on the profile",
        "territory +1415 covers the customer's phone",
    )


def test_equal_partners_go_by_name() -> None:
    """The same affinity resolves the same way every time: the first name."""
    partners = _partners(ZED=("US",), ALPHA=("US",), MID=("US",))
    assert route(Customer(numbers=(BAY,)), partners, {}).partner == "ALPHA"


def test_a_full_partner_is_passed_over_saying_so() -> None:
    """At capacity, the best partner is skipped for the next one with room."""
    partners = {
        "A": Partner(url="https://a.example/", secret=SHARED, territories=("US",), capacity=2),
        "B": Partner(url="https://b.example/", secret=SHARED, territories=("US",), capacity=3),
    }
    chosen = route(Customer(numbers=(BAY,)), partners, {"A": 2, "B": 1})
    assert chosen.partner == "B"
    assert chosen.reasons == (
        "no owning partner on the profile",
        "territory US covers the customer's phone",
        "B holds 1 of 3 open leads",
        "A passed over: at capacity (2 of 2 open leads)",
    )
    room = route(Customer(numbers=(BAY,)), partners, {"A": 1})
    assert (room.partner, room.reasons[-1]) == ("A", "A holds 1 of 2 open leads")


def test_a_full_owner_is_passed_over_too() -> None:
    """Capacity is a gate even for the owning partner."""
    partners = {
        "OWNER": Partner(url="https://o.example/", secret=SHARED, capacity=0),
        "NEAR": Partner(url="https://n.example/", secret=SHARED, territories=("+1415",)),
    }
    chosen = route(Customer(owning="OWNER", numbers=(BAY,)), partners, {})
    assert chosen.partner == "NEAR"
    assert "OWNER passed over: at capacity (0 of 0 open leads)" in chosen.reasons


def test_no_affinity_goes_to_the_default() -> None:
    """A customer no partner knows or covers goes to the default partner."""
    chosen = route(Customer(numbers=(LONDON,)), _partners(A=("US",), D=()), {}, "D")
    assert chosen.partner == "D"
    assert chosen.reasons == (
        "no owning partner on the profile",
        "no configured partner has sold to or covers the customer",
        "the default partner: D",
    )


@pytest.mark.parametrize(
    ("default", "open_leads", "said"),
    [
        ("", {"A": 1}, "no default partner"),
        ("GONE", {"A": 1}, "the default partner GONE has no webhook configured"),
        ("D", {"D": 1, "A": 1}, "the default partner D is at capacity (1 of 1 open leads)"),
    ],
)
def test_no_partner_fits_is_undeliverable_with_every_reason(
    default: str, open_leads: dict[str, int], said: str
) -> None:
    """Nowhere to go: undeliverable, saying what was passed over and why."""
    partners = {
        "A": Partner(url="https://a.example/", secret=SHARED, territories=("US",), capacity=1),
        "D": Partner(url="https://d.example/", secret=SHARED, capacity=1),
    }
    with pytest.raises(Undeliverable) as raised:
        route(Customer(numbers=(BAY,)), partners, open_leads, default)
    reason = str(raised.value)
    assert reason.startswith("no owning partner on the profile; ")
    assert reason.endswith(said)
    assert "A passed over: at capacity (1 of 1 open leads)" in reason
    assert isinstance(raised.value, NoRoomYet)  # A would take it once a lead closes


def test_no_partner_that_would_ever_take_it_is_undeliverable_for_good() -> None:
    """No affinity and no default: no room will ever come, so no waiting."""
    with pytest.raises(Undeliverable) as raised:
        route(Customer(numbers=(LONDON,)), _partners(A=("US",)), {}, "")
    assert not isinstance(raised.value, NoRoomYet)
    assert str(raised.value) == (
        "no owning partner on the profile; "
        "no configured partner has sold to or covers the customer; no default partner"
    )


def test_a_resent_lead_keeps_its_partner() -> None:
    """A lead sent before goes to the same partner again, even if routing now
    says otherwise (full, or another partner better), and never to another."""
    partners = _partners(A=("US",), B=())
    customer = Customer(numbers=(BAY,))
    assert route(customer, partners, {}, sent_to="A") == route(customer, partners, {})
    kept = route(customer, partners, {}, sent_to="B")
    assert (kept.partner, kept.reasons) == (
        "B",
        ("sent to B before: kept (routing now would pick A)",),
    )
    with pytest.raises(Undeliverable, match="went to partner GONE before"):
        route(customer, partners, {}, sent_to="GONE")


def test_the_directory_reads_json_and_the_older_pairs() -> None:
    """Each partner has its own secret or the shared one; the old form adds partners."""
    directory = partner_directory(
        '{"A": {"url": "https://a.example/", "secret": "' + OWN + '",'
        ' "territories": ["US", "+1415"], "capacity": 5},'
        ' "B": {"url": "https://b.example/"}}',
        "C=https://c.example/",
        SHARED,
    )
    assert directory == {
        "A": Partner(url="https://a.example/", secret=OWN, territories=("US", "+1415"), capacity=5),
        "B": Partner(url="https://b.example/", secret=SHARED),
        "C": Partner(url="https://c.example/", secret=SHARED),
    }
    assert partner_directory("", "", "") == {}


@pytest.mark.parametrize(
    ("partners", "webhooks", "shared", "said"),
    [
        (
            '{"A": {"url": "https://a/", "capacity": -1}}',
            "",
            SHARED,
            r"partner A: .* at `\$\.capacity`",
        ),
        (
            '{"A": {"url": "https://a/", "territories": ["California"]}}',
            "",
            SHARED,
            r"partner A: .* at `\$\.territories\[0\]`",
        ),
        ('{"A": {"url": "ftp://a/"}}', "", SHARED, r"partner A: .*https.* at `\$\.url`"),
        ('{"A": {"url": "https://a/", "region": "US"}}', "", SHARED, "unknown field `region`"),
        ('{"A": ', "", SHARED, "not a JSON object"),
        ('{"A": {"url": "https://a/"}}', "", "", "partner A has no secret"),
        ('{"A": {"url": "https://a/", "secret": "whsec_"}}', "", "", "partner A: its secret"),
        ('{"A": {"url": "https://a/"}}', "A=https://a/", SHARED, "in both"),
    ],
)
def test_a_bad_directory_names_the_field(
    partners: str, webhooks: str, shared: str, said: str
) -> None:
    """A mistake in TOUCHLINE_PARTNERS says which partner and which field."""
    with pytest.raises(ValueError, match=said):
        partner_directory(partners, webhooks, shared)
