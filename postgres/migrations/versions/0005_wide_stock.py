"""stock columns wide enough for any history of accepted sales (numeric(38, 3))

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = [("products", "stock"), ("stock_alerts", "stock"), ("stock_adjustments", "stock_after")]


def upgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Numeric(38, 3), existing_type=sa.Numeric(18, 3))


def downgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Numeric(18, 3), existing_type=sa.Numeric(38, 3))
