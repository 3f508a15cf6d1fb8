"""stores with their own stock, and returns

Creates the store `main` and moves every product's stock there (one stock_levels row per
product); sales, items, alerts, adjustments, tokens and the rollup gain a store (`main` for
everything before), sales a kind (sale or return) and a return's original.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MAIN = sa.text("'main'")


def store_column(**options) -> sa.Column:
    return sa.Column("store", sa.String(length=32), server_default=MAIN, nullable=False, **options)


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.execute("INSERT INTO stores (code, name) VALUES ('main', 'Main store')")
    op.create_table(
        "stock_levels",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=38, scale=3), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"]),
        sa.ForeignKeyConstraint(["store"], ["stores.code"]),
        sa.PrimaryKeyConstraint("product_id", "store"),
    )
    op.execute("INSERT INTO stock_levels (product_id, store, quantity) SELECT id, 'main', stock FROM products")
    op.drop_column("products", "stock")

    # Constant defaults: PostgreSQL adds these columns without rewriting the tables.
    op.add_column("sales", store_column())
    op.add_column("sales", sa.Column("kind", sa.String(length=6), server_default=sa.text("'sale'"), nullable=False))
    op.add_column("sales", sa.Column("original_external_id", postgresql.UUID(as_uuid=False), nullable=True))
    op.create_index("ix_sales_original_external_id", "sales", ["original_external_id"])
    op.add_column("sale_items", store_column())
    op.add_column("sale_items", sa.Column("is_return", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.add_column("stock_adjustments", store_column())
    op.add_column("api_tokens", store_column())
    op.create_foreign_key("api_tokens_store_fkey", "api_tokens", "stores", ["store"], ["code"])

    op.add_column("stock_alerts", store_column())
    op.drop_index("one_open_alert_per_product", table_name="stock_alerts")
    op.create_index(
        "one_open_alert_per_product_store",
        "stock_alerts",
        ["product_id", "store"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )

    op.add_column("sales_daily", store_column())
    op.drop_constraint("sales_daily_pkey", "sales_daily", type_="primary")
    op.create_primary_key("sales_daily_pkey", "sales_daily", ["product_id", "store", "day"])


def downgrade() -> None:
    # Stock by store folds back into one number per product; returns stay as plain rows.
    op.drop_constraint("sales_daily_pkey", "sales_daily", type_="primary")
    op.execute("DELETE FROM sales_daily")  # the next refresh rebuilds it
    op.execute("DELETE FROM rollup_state")
    op.drop_column("sales_daily", "store")
    op.create_primary_key("sales_daily_pkey", "sales_daily", ["product_id", "day"])
    op.drop_index("one_open_alert_per_product_store", table_name="stock_alerts")
    op.execute(
        "UPDATE stock_alerts SET status = 'resolved', resolved_at = now() WHERE status = 'open' AND id NOT IN "
        "(SELECT min(id) FROM stock_alerts WHERE status = 'open' GROUP BY product_id)"
    )
    op.create_index(
        "one_open_alert_per_product",
        "stock_alerts",
        ["product_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.drop_column("stock_alerts", "store")
    op.drop_constraint("api_tokens_store_fkey", "api_tokens", type_="foreignkey")
    op.drop_column("api_tokens", "store")
    op.drop_column("stock_adjustments", "store")
    op.drop_column("sale_items", "is_return")
    op.drop_column("sale_items", "store")
    op.drop_index("ix_sales_original_external_id", table_name="sales")
    op.drop_column("sales", "original_external_id")
    op.drop_column("sales", "kind")
    op.drop_column("sales", "store")
    op.add_column(
        "products",
        sa.Column("stock", sa.Numeric(precision=38, scale=3), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        "UPDATE products p SET stock = s.total FROM "
        "(SELECT product_id, sum(quantity) AS total FROM stock_levels GROUP BY product_id) s WHERE s.product_id = p.id"
    )
    op.drop_table("stock_levels")
    op.drop_table("stores")
