"""accepted events: the ids the HTTP API has appended, for idempotent retries

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 18:35:00

Empty at first: ``POST /v1/events`` records each id it appends.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accepted_events",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("accepted_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_accepted_events")),
    )


def downgrade() -> None:
    op.drop_table("accepted_events")
