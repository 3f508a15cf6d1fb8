"""index sales by synced_at (the dashboard's sales applied per minute)

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_sales_synced_at"), "sales", ["synced_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sales_synced_at"), table_name="sales")
