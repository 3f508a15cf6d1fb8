"""analytics rollup

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_pending", sa.Column("sale_id", sa.BigInteger(), nullable=False), sa.PrimaryKeyConstraint("sale_id")
    )
    op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "sales_daily",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=38, scale=3), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=38, scale=7), nullable=False),
        sa.Column("sale_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
        ),
        sa.PrimaryKeyConstraint("product_id", "day"),
    )
    op.add_column("sale_items", sa.Column("sold_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE sale_items SET sold_at = sales.client_timestamp FROM sales WHERE sales.id = sale_items.sale_id")
    op.alter_column("sale_items", "sold_at", nullable=False)
    op.create_index("sale_items_product_sold_at", "sale_items", ["product_id", "sold_at"], unique=False)


def downgrade() -> None:
    op.drop_index("sale_items_product_sold_at", table_name="sale_items")
    op.drop_column("sale_items", "sold_at")
    op.drop_table("sales_daily")
    op.drop_table("rollup_state")
    op.drop_table("rollup_pending")
