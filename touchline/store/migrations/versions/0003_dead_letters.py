"""dead-letter index with re-drive and discard status

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 05:00:00

The index starts empty; the first `touchline dead-letters` command (or
`lag`) reads the dead-letter topic from its beginning into it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("dead_at_us", sa.BigInteger(), nullable=False),
        sa.Column("processor", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("origin_topic", sa.String(length=200), nullable=False),
        sa.Column("origin_partition", sa.Integer(), nullable=False),
        sa.Column("origin_offset", sa.BigInteger(), nullable=False),
        sa.Column("origin_index", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("event_type", sa.String(length=100), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("identifiers", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at_us", sa.BigInteger(), nullable=True),
        sa.Column("status_by", sa.String(length=200), nullable=True),
        sa.Column("status_note", sa.Text(), nullable=True),
        sa.Column("redriven_to", sa.String(length=250), nullable=True),
        sa.PrimaryKeyConstraint("topic", "partition", "offset", name=op.f("pk_dead_letters")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letters_processor"), ["processor"], unique=False)
        batch_op.create_index(batch_op.f("ix_dead_letters_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_dead_letters_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("dead_letters")
