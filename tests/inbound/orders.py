"""Partner order files for the tests, and what the backbone made of them."""

from __future__ import annotations

from pathlib import Path

from touchline.bootstrap import Backbone

HEADER = "event,occurred_at,partner_account,customer_ref,order_id,items,total,currency\n"


def placed_lines(count: int) -> str:
    """A file of ``count`` good orders, one customer each (``c-1``...)."""
    return HEADER + "".join(
        f"order.placed,2026-11-20T09:{n % 60:02d}:00+01:00,P-WEST,c-{n},W-{n},KIT:1:10.00,10,EUR\n"
        for n in range(1, count + 1)
    )


def drop(folder: Path, name: str, content: str | bytes) -> Path:
    """As a producer should: write ``name.part``, then rename it in one step."""
    partial = folder / f"{name}.part"
    partial.write_bytes(content.encode() if isinstance(content, str) else content)
    return partial.rename(folder / name)


def types_of(backbone: Backbone, identifier: str) -> list[str]:
    """The event types on the timeline of whoever ``identifier`` names."""
    customer_id = backbone.queries.find(identifier).customer_id
    assert customer_id is not None, identifier
    return sorted(e.type for e in backbone.queries.timeline(customer_id, limit=500).entries)


def appended(backbone: Backbone) -> int:
    """How many records the touchpoints topic holds."""
    return sum(backbone.log.end_offsets(backbone.settings.topics.touchpoints).values())
