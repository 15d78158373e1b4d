"""action outcomes: the adapters' attempts, reason and consent proof in the ledger

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:00:00

Existing rows keep their status and gain no attempts, no reason, no proof.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaign_actions",
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("campaign_actions", sa.Column("reason", sa.Text(), nullable=True))
    op.add_column("campaign_actions", sa.Column("proof", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_actions") as batch:
        batch.drop_column("proof")
        batch.drop_column("reason")
        batch.drop_column("attempts")
