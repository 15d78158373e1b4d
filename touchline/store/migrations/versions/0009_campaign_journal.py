"""campaign journal: the events that changed each customer's campaign records

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 18:30:00

Empty at first: the synchronizer journals what it acts on from now on. A
customer merged before this revision has no journal, so an unmerge of it
rebuilds both sides from what was journaled since (nothing before it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_journal",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at_us", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("attributed_to", sa.String(length=64), nullable=True),
        sa.Column("identifiers", sa.Text(), nullable=False),
        sa.Column("event", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint(
            "customer_id", "occurred_at_us", "event_id", name=op.f("pk_campaign_journal")
        ),
    )


def downgrade() -> None:
    op.drop_table("campaign_journal")
