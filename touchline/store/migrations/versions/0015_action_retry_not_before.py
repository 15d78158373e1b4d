"""action retry not_before: when a put-back action may be taken again

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-14 12:00:00

A dispatcher no longer waits inside its batch for a backoff: an action whose
send failed for now (or that quiet hours or contact pressure hold back) goes
back to ``pending`` with the time it may be taken again, and a timer brings
it back then. Existing rows were never put back: none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaign_actions", sa.Column("not_before_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_actions") as batch:
        batch.drop_column("not_before_us")
