"""The PostgreSQL schema as typed SQLAlchemy models; Alembic migrations follow it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Numeric, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Quantity = Annotated[Decimal, "quantity"]  # quantities, levels: 3 places
# Stock moves by at most 500 lines x 999,999.999 a sale, so 35 digits before the point outlast any
# history of accepted sales (10^26 of the largest ones): no till can drive a product out of range.
Stock = Annotated[Decimal, "stock"]
Price = Annotated[Decimal, "price"]  # unit prices: 4 places
Amount = Annotated[Decimal, "amount"]  # subtotals and totals: exact products of the two


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        Quantity: Numeric(18, 3),
        Stock: Numeric(38, 3),
        Price: Numeric(18, 4),
        Amount: Numeric(32, 7),
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
    }


def created() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


MAIN_STORE = "main"  # the store a migration created; every device and stock row without one is here


def store_code(checked: bool = False) -> Mapped[str]:
    """A column naming a store by its code; without a store given, `main`. `checked`: a foreign key
    (where a store is chosen; rows copied from a checked one need no second check)."""
    if checked:
        return mapped_column(String(32), ForeignKey("stores.code"), server_default=MAIN_STORE)
    return mapped_column(String(32), server_default=MAIN_STORE)


def change_stamp() -> Mapped[int]:
    """The transaction that last wrote the row, stamped by a trigger (migration 0008): what a
    catalogue pull compares with its cursor (postgres/sync.py)."""
    return mapped_column(BigInteger, server_default=text("0"), index=True)


class Store(Base):
    """A location with its own stock: a shop, a warehouse. Its code is its name in the API."""

    __tablename__ = "stores"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created()


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_volatile: Mapped[bool] = mapped_column(default=False)
    unit_price: Mapped[Price | None]
    price_set_at: Mapped[datetime | None]  # client time of the sale that set a volatile price
    # An inactive product is no longer offered, yet a sale a till made offline still applies.
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    change_xid: Mapped[int] = change_stamp()
    reorder_level: Mapped[Quantity] = mapped_column(default=Decimal(0))
    created_at: Mapped[datetime] = created()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class StockLevel(Base):
    """A product's stock in one store. A pair without a row has none (0); sales and returns
    create the row on first use. The product's stock is the sum over its rows."""

    __tablename__ = "stock_levels"
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    store: Mapped[str] = mapped_column(String(32), ForeignKey("stores.code"), primary_key=True)
    quantity: Mapped[Stock] = mapped_column(default=Decimal(0))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    change_xid: Mapped[int] = change_stamp()


class Sale(Base):
    __tablename__ = "sales"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    external_id: Mapped[str] = mapped_column(UUID(as_uuid=False), unique=True)  # canonical text
    device: Mapped[str] = mapped_column(String(100))
    source_device: Mapped[str] = mapped_column(String(100))
    client_timestamp: Mapped[datetime]
    received_at: Mapped[datetime]
    synced_at: Mapped[datetime] = mapped_column(index=True)  # the dashboard's applied-per-minute
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    total: Mapped[Amount]
    # The payload's identity at intake: restores the intake record if Redis has lost it, so a
    # retry is still told 200 and a different sale under the same external_id 422.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The store of the posting device when the sale was recorded: moving a device later moves no sale.
    store: Mapped[str] = store_code()
    kind: Mapped[str] = mapped_column(String(6), server_default="sale")  # "sale" or "return"
    # A return's original sale, when the till named it: what it may bring back is bounded by it.
    original_external_id: Mapped[str | None] = mapped_column(UUID(as_uuid=False), index=True)


class SaleItem(Base):
    __tablename__ = "sale_items"
    __table_args__ = (
        # The rollup restates one product's day by this range, not by scanning the product's history.
        Index("sale_items_product_sold_at", "product_id", "sold_at"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sale_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sales.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    sold_at: Mapped[datetime]  # when the sale happened, for reports (Sale.happened_at: never after received_at)
    store: Mapped[str] = store_code()  # the sale's, copied: the rollup reads items alone
    is_return: Mapped[bool] = mapped_column(server_default=text("false"))  # counts negative in reports
    quantity: Mapped[Quantity]
    unit_price: Mapped[Price]
    subtotal: Mapped[Amount]


class SalesDaily(Base):
    """The analytics rollup: one row per product, store and day in the reporting time zone; net of
    returns, with sale_count counting sales only."""

    __tablename__ = "sales_daily"
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    store: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    quantity: Mapped[Decimal] = mapped_column(Numeric(38, 3))
    revenue: Mapped[Decimal] = mapped_column(Numeric(38, 7))
    sale_count: Mapped[int]


class RollupPending(Base):
    """Sales applied since the last refresh, written in the apply transaction itself, so a
    refresh sees exactly the committed ones whatever order they committed in."""

    __tablename__ = "rollup_pending"
    sale_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class RollupState(Base):
    __tablename__ = "rollup_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    refreshed_at: Mapped[datetime]  # sales committed before this are in the rollup


class StockAlert(Base):
    __tablename__ = "stock_alerts"
    __table_args__ = (
        # At most one open alert per product and store, whatever races.
        Index(
            "one_open_alert_per_product_store",
            "product_id",
            "store",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    store: Mapped[str] = store_code()
    stock: Mapped[Stock]
    reorder_level: Mapped[Quantity]
    status: Mapped[str] = mapped_column(String(10), default="open")
    raised_at: Mapped[datetime] = created()
    resolved_at: Mapped[datetime | None]


class StockAdjustment(Base):
    __tablename__ = "stock_adjustments"
    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    store: Mapped[str] = store_code()
    quantity: Mapped[Quantity]
    reason: Mapped[str] = mapped_column(Text)
    stock_after: Mapped[Stock]
    device: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created()


class RejectedSale(Base):
    __tablename__ = "rejected_sales"
    external_id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    device: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    sale: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    rejected_at: Mapped[datetime] = created()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        # A device may hold two active tokens while its tills change over (token create --keep-old).
        Index("ix_api_tokens_device", "device"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    device: Mapped[str] = mapped_column(String(100))
    store: Mapped[str] = store_code(checked=True)  # the device's store: its sales take stock from there
    is_admin: Mapped[bool] = mapped_column(default=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex; the token itself is never stored
    created_at: Mapped[datetime] = created()
    revoked_at: Mapped[datetime | None]


class DeviceSequence(Base):
    """A sequence number a device's sale carried, once that sale settled (applied or rejected):
    the numbers not here below a device's highest are its missing sales (domain/sequences.py)."""

    __tablename__ = "device_sequences"
    device: Mapped[str] = mapped_column(String(100), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    external_id: Mapped[str] = mapped_column(UUID(as_uuid=False))  # the first sale that carried it
    received_at: Mapped[datetime]


class SequenceConflict(Base):
    """A second, different sale of a device with a sequence already taken (one row per sale, so
    applying it again counts it once)."""

    __tablename__ = "sequence_conflicts"
    device: Mapped[str] = mapped_column(String(100), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    external_id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    received_at: Mapped[datetime]


class SequenceMark(Base):
    """Per device, a sequence up to which every number has been received: gaps are looked for
    above it only, so reading them costs the sequences since the oldest open gap, not all."""

    __tablename__ = "sequence_marks"
    device: Mapped[str] = mapped_column(String(100), primary_key=True)
    complete_through: Mapped[int] = mapped_column(BigInteger)
