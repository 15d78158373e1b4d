"""worker assignments (which Kafka worker holds each partition)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 11:00:00

Empty at first: each worker fills in its partitions on its next assignment.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_assignments",
        sa.Column("processor", sa.String(length=100), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("assigned_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "processor", "topic", "partition", name=op.f("pk_worker_assignments")
        ),
    )


def downgrade() -> None:
    op.drop_table("worker_assignments")
