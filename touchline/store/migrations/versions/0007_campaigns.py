"""campaign synchronization: definitions, per-customer states, contact facts, actions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 15:00:00

Empty at first: the synchronizer fills them from the interactions log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("definition", sa.LargeBinary(), nullable=False),
        sa.Column("launched_at_us", sa.BigInteger(), nullable=False),
        sa.Column("launched_by_event", sa.String(length=36), nullable=False),
        sa.Column("closed_at_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "campaign_states",
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", name=op.f("pk_campaign_states")),
    )
    op.create_index("ix_campaign_states_customer", "campaign_states", ["customer_id"])
    op.create_table(
        "campaign_contacts",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("facts", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_campaign_contacts")),
    )
    op.create_table(
        "campaign_actions",
        sa.Column("action_id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("offer_code", sa.String(length=100), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at_us", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_us", sa.BigInteger(), nullable=True),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("action_id", name=op.f("pk_campaign_actions")),
    )
    op.create_index("ix_campaign_actions_customer", "campaign_actions", ["customer_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_campaign_actions_customer", table_name="campaign_actions")
    op.drop_table("campaign_actions")
    op.drop_table("campaign_contacts")
    op.drop_index("ix_campaign_states_customer", table_name="campaign_states")
    op.drop_table("campaign_states")
    op.drop_table("campaigns")
