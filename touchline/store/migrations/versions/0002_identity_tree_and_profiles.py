"""identity merge tree, separations and processor clocks; profiles and generations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 19:20:00

Existing graphs are carried over: an identifier's node is the customer it
lives on now (what it first joined was not recorded before), and every
customer's root is found by following ``merged_into``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("root_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("identifiers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("node_id", sa.String(length=64), nullable=True))
    _backfill()
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column("root_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_customers_root_id"), ["root_id"], unique=False)
    with op.batch_alter_table("identifiers", schema=None) as batch_op:
        batch_op.alter_column("node_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_identifiers_node_id"), ["node_id"], unique=False)
    op.create_table(
        "identity_separations",
        sa.Column("customer_a", sa.String(length=64), nullable=False),
        sa.Column("customer_b", sa.String(length=64), nullable=False),
        sa.Column("unmerged_by_event", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("customer_a", "customer_b", name=op.f("pk_identity_separations")),
    )
    op.create_table(
        "processor_clocks",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_processor_clocks")),
    )
    op.execute(
        "INSERT INTO processor_clocks (name, version) "
        "VALUES ('identity-graph', 0), ('timeline-aliases', 0)"
    )
    op.create_table(
        "customer_profiles",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("generation", "customer_id", name=op.f("pk_customer_profiles")),
    )
    op.create_table(
        "projection_generations",
        sa.Column("projection", sa.String(length=100), nullable=False),
        sa.Column("live", sa.Integer(), nullable=False),
        sa.Column("building", sa.Integer(), nullable=True),
        sa.Column("build_cursor", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("projection", name=op.f("pk_projection_generations")),
    )
    # The row exists from the start so that a rebuild's first lock on it waits
    # for every projection transaction already in flight.
    op.execute(
        "INSERT INTO projection_generations (projection, live, building, build_cursor) "
        "VALUES ('profile', 0, NULL, NULL)"
    )


def _backfill() -> None:
    connection = op.get_bind()
    parents: dict[str, str | None] = dict(
        connection.execute(sa.text("SELECT customer_id, merged_into FROM customers")).all()
    )

    def root(customer: str) -> str:
        seen = {customer}
        while (parent := parents.get(customer)) is not None and parent not in seen:
            seen.add(parent)
            customer = parent
        return customer

    if parents:
        connection.execute(
            sa.text("UPDATE customers SET root_id = :root WHERE customer_id = :customer"),
            [{"root": root(customer), "customer": customer} for customer in parents],
        )
    connection.execute(sa.text("UPDATE identifiers SET node_id = customer_id"))


def downgrade() -> None:
    op.drop_table("projection_generations")
    op.drop_table("customer_profiles")
    op.drop_table("processor_clocks")
    op.drop_table("identity_separations")
    with op.batch_alter_table("identifiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identifiers_node_id"))
        batch_op.drop_column("node_id")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_root_id"))
        batch_op.drop_column("root_id")
