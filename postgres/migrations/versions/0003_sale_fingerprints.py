"""sale fingerprints

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sales", sa.Column("fingerprint", sa.String(length=64), nullable=True))
    op.add_column("rejected_sales", sa.Column("fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("rejected_sales", "fingerprint")
    op.drop_column("sales", "fingerprint")
