"""catalogue changes tracked for incremental pulls; products can be deactivated

Every insert or update of a product or of a stock level stamps the row with the id of the
transaction that made it (a trigger, so no writer can forget). A pull answers the rows stamped
at or after its cursor's watermark, the oldest transaction still running when the previous pull
read (docs/design.md, "Catalogue pull").

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("products", "stock_levels")


def upgrade() -> None:
    op.add_column("products", sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False))
    op.execute("""
        CREATE FUNCTION salesync_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.change_xid := pg_current_xact_id()::text::bigint;
            RETURN NEW;
        END $$
    """)
    for table in TABLES:
        # 0 for the rows there now: a first pull (cursor 0) answers them; no later one needs to.
        op.add_column(table, sa.Column("change_xid", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
        op.create_index(f"ix_{table}_change_xid", table, ["change_xid"])
        op.execute(
            f"CREATE TRIGGER {table}_stamp_change BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION salesync_stamp_change()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_stamp_change ON {table}")
        op.drop_index(f"ix_{table}_change_xid", table_name=table)
        op.drop_column(table, "change_xid")
    op.execute("DROP FUNCTION salesync_stamp_change()")
    op.drop_column("products", "active")
