"""per-device sequence numbers: the sequences received, conflicts, and a watermark for gap reads

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_sequences",
        sa.Column("device", sa.String(100), primary_key=True),
        sa.Column("sequence", sa.BigInteger(), primary_key=True),
        sa.Column("external_id", UUID(as_uuid=False), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sequence_conflicts",
        sa.Column("device", sa.String(100), primary_key=True),
        sa.Column("sequence", sa.BigInteger(), primary_key=True),
        sa.Column("external_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sequence_marks",
        sa.Column("device", sa.String(100), primary_key=True),
        sa.Column("complete_through", sa.BigInteger(), nullable=False),
    )
    # The fleet view: a device's sales counted, its latest and its recent ones (clock skew) by range.
    op.create_index("ix_sales_device_received_at", "sales", ["device", "received_at"])
    op.create_index("ix_rejected_sales_device", "rejected_sales", ["device"])


def downgrade() -> None:
    op.drop_index("ix_rejected_sales_device", table_name="rejected_sales")
    op.drop_index("ix_sales_device_received_at", table_name="sales")
    op.drop_table("sequence_marks")
    op.drop_table("sequence_conflicts")
    op.drop_table("device_sequences")
