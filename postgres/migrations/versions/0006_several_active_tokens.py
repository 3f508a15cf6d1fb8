"""let a device hold more than one active token (rotation without a lockout)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("one_active_token_per_device", table_name="api_tokens")
    op.create_index("ix_api_tokens_device", "api_tokens", ["device"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_api_tokens_device", table_name="api_tokens")
    op.create_index(
        "one_active_token_per_device",
        "api_tokens",
        ["device"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
