"""campaign aliases: the synchronizer's own merge aliases

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:20:00

Empty at first: merges met from now on fill it. (Customers merged before
lie behind their survivor already: the merge moved their campaigns.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_aliases",
        sa.Column("merged_id", sa.String(length=64), nullable=False),
        sa.Column("survivor_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("merged_id", name=op.f("pk_campaign_aliases")),
    )
    op.create_index(
        op.f("ix_campaign_aliases_survivor_id"), "campaign_aliases", ["survivor_id"], unique=False
    )
    # The row a batch holds while it reads the aliases and a merge while it writes them.
    op.execute("INSERT INTO processor_clocks (name, version) VALUES ('campaign-aliases', 0)")


def downgrade() -> None:
    op.execute("DELETE FROM processor_clocks WHERE name = 'campaign-aliases'")
    op.drop_index(op.f("ix_campaign_aliases_survivor_id"), table_name="campaign_aliases")
    op.drop_table("campaign_aliases")
