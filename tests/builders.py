"""Memorable test data: sales as a till would queue them, in the shape apply receives; recording
them as intake does; device tokens as `salesync serve` publishes them."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.sale import Line, NewProduct, Sale
from postgres import catalog, tokens
from postgres.tables import StockLevel
from redis_queue.intake import Recorded

NOON = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def line(product_id: int | None = None, quantity="1", unit_price="1.00", new: NewProduct | None = None) -> Line:
    return Line(Decimal(quantity), None if unit_price is None else Decimal(unit_price), product_id, new)


def new_product(sku="JUICE-1L", name="Juice 1L", is_volatile=False, unit_price="0.50", reorder_level="0"):
    return NewProduct(
        sku, name, is_volatile, None if unit_price is None else Decimal(unit_price), Decimal(reorder_level)
    )


def sale(
    *lines: Line,
    device="till-1",
    at: datetime = NOON,
    minutes_later: int = 0,
    external_id=None,
    received_at: datetime | None = None,
    **more,
) -> dict:
    """A sale as Sale.to_dict(), the value the stream carries; received the day after NOON unless told.
    `more`: store, kind ("return"), original_external_id."""
    return Sale(
        external_id=external_id or str(uuid.uuid4()),
        device=device,
        source_device="mobile-app-v1.2",
        client_timestamp=at + timedelta(minutes=minutes_later),
        received_at=received_at or NOON + timedelta(days=1),
        lines=tuple(lines),
        **more,
    ).to_dict()


def returned(*lines: Line, original: dict | None = None, **more) -> dict:
    """A return (as `sale()` builds it) of `original` (a sale() value), or of no named sale."""
    return sale(*lines, kind="return", original_external_id=original and original["external_id"], **more)


def sale_now(*lines: Line, **changes) -> dict:
    """A sale made and received just now: what counts as today's and as the last hour's."""
    now = datetime.now(UTC)
    return sale(*lines, at=now, received_at=now, **changes)


def fingerprint(raw: dict) -> str:
    """A fingerprint of a sale's payload: the same for the same payload, as intake's is."""
    return hashlib.sha256(repr(raw).encode()).hexdigest()


def record(intake, raw: dict) -> Recorded:
    """Record a sale (as `sale()` builds it) straight into intake, as the web app does; intake's answer."""
    return intake.record(Sale.from_dict(raw), fingerprint(raw))


def issue_tokens(
    sessions, redis_client, prefix: str, *devices: str, admin: bool | None = None, store: str = "main"
) -> dict[str, str]:
    """A token for each device, published to Redis as `salesync serve` does; device -> token. A device
    named "admin..." gets an admin token, the others a till's, unless `admin` says for all."""
    with sessions.begin() as session:
        issued = {
            device: tokens.create(session, device, device.startswith("admin") if admin is None else admin, store=store)
            for device in devices
        }
        tokens.publish(session, redis_client, prefix)
    return issued


def auth(token: str) -> dict:
    """The Authorization header of a device's requests."""
    return {"Authorization": f"Token {token}"}


def add_product(
    sessions, sku, is_volatile=False, unit_price="1.00", stock="0", reorder_level="0", stock_by_store=None
) -> int:
    """A product in PostgreSQL, by sku, with its name made from it; its id. `stock` is main's,
    `stock_by_store` ({code: level}) any store's."""
    opening = {"main": Decimal(stock)} | {store: Decimal(level) for store, level in (stock_by_store or {}).items()}
    with sessions.begin() as session:
        return catalog.create_product(
            session,
            opening,
            sku=sku,
            name=sku.title(),
            is_volatile=is_volatile,
            unit_price=Decimal(unit_price),
            reorder_level=Decimal(reorder_level),
        ).id


def add_store(sessions, code: str) -> str:
    with sessions.begin() as session:
        return catalog.create_store(session, code, f"Store {code}").code


def stock(db, product_id: int, store: str | None = None) -> Decimal:
    """A product's stock in `store`, or summed over every store (None): what the API shows as
    `stock`. `db`: a session, or a session factory to open one."""
    if not isinstance(db, Session):
        with db() as session:
            return stock(session, product_id, store)
    query = select(func.coalesce(func.sum(StockLevel.quantity), 0)).where(StockLevel.product_id == product_id)
    if store is not None:
        query = query.where(StockLevel.store == store)
    return Decimal(db.scalar(query))
