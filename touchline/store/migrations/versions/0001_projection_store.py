"""projection store: positions, timeline, identity graph

Revision ID: 0001
Revises:
Create Date: 2026-11-22 16:11:19.843816
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timeline_aliases",
        sa.Column("merged_id", sa.String(length=64), nullable=False),
        sa.Column("survivor_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("merged_id", name=op.f("pk_timeline_aliases")),
    )
    with op.batch_alter_table("timeline_aliases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_timeline_aliases_survivor_id"), ["survivor_id"], unique=False
        )
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("created_at_us", sa.BigInteger(), nullable=False),
        sa.Column("created_by_event", sa.String(length=36), nullable=False),
        sa.Column("merged_into", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_table(
        "identifiers",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("linked_by_event", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_identifiers")),
    )
    with op.batch_alter_table("identifiers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identifiers_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "projector_positions",
        sa.Column("projector", sa.String(length=100), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "projector", "topic", "partition", name=op.f("pk_projector_positions")
        ),
    )
    op.create_table(
        "timeline_entries",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at_us", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at_us", sa.BigInteger(), nullable=True),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("campaign_id", sa.String(length=100), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("event", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_timeline_entries")),
    )
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_timeline_customer_time", ["customer_id", "occurred_at_us", "event_id"], unique=False
        )

    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_table("timeline_aliases")
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_timeline_customer_time")

    op.drop_table("timeline_entries")
    op.drop_table("projector_positions")
    with op.batch_alter_table("identifiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identifiers_customer_id"))

    op.drop_table("identifiers")
    op.drop_table("customers")
    # ### end Alembic commands ###
