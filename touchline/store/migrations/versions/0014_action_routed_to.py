"""action routed_to: the receiver a partner lead went to, in the ledger

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10 12:00:00

The partner adapter records the partner before it sends, so a partner's open
leads can be counted against its capacity and a re-send after a crash keeps
the partner. Existing rows were routed before this was kept: none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaign_actions", sa.Column("routed_to", sa.String(100), nullable=True))
    op.create_index("ix_campaign_actions_routed_to", "campaign_actions", ["routed_to", "status"])


def downgrade() -> None:
    op.drop_index("ix_campaign_actions_routed_to", table_name="campaign_actions")
    with op.batch_alter_table("campaign_actions") as batch:
        batch.drop_column("routed_to")
