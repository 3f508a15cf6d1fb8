"""Products, stock adjustments and alerts: the operator-facing side of the catalogue."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import exists, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain import stock
from postgres.tables import Product, StockAdjustment, StockAlert


class SkuTaken(ValueError):
    pass


def list_products(session: Session, sku: str | None = None) -> list[Product]:
    query = select(Product).order_by(Product.id)
    if sku is not None:
        query = query.where(Product.sku == sku)
    return list(session.scalars(query))


def get_product(session: Session, product_id: int) -> Product | None:
    return session.get(Product, product_id)


def create_product(session: Session, **fields) -> Product:
    created = session.scalar(
        insert(Product).values(**fields).on_conflict_do_nothing(index_elements=["sku"]).returning(Product.id)
    )
    if created is None:
        raise SkuTaken(f"a product with sku {fields['sku']!r} already exists")
    product = session.get_one(Product, created)
    _alert_if_low(session, product)
    return product


def adjust_stock(
    session: Session, product_id: int, quantity: Decimal, reason: str, device: str, now: datetime
) -> Product | None:
    product = session.get(Product, product_id, with_for_update=True)
    if product is None:
        return None
    has_open = bool(
        session.scalar(select(exists().where(StockAlert.product_id == product_id, StockAlert.status == "open")))
    )
    state = stock.ProductState(
        product.id,
        product.is_volatile,
        product.unit_price,
        product.stock,
        product.reorder_level,
        product.price_set_at,
        has_open,
    )
    adjusted, alert, resolves = stock.adjust_stock(state, quantity)
    product.stock = adjusted.stock
    session.add(
        StockAdjustment(
            product_id=product_id, quantity=quantity, reason=reason, stock_after=adjusted.stock, device=device
        )
    )
    if resolves:
        session.execute(
            update(StockAlert)
            .where(StockAlert.product_id == product_id, StockAlert.status == "open")
            .values(status="resolved", resolved_at=now)
        )
    open_alerts(session, [alert] if alert else [])
    session.flush()
    session.refresh(product)
    return product


def list_alerts(session: Session, status: str | None) -> list[StockAlert]:
    query = select(StockAlert).order_by(StockAlert.id)
    if status is not None:
        query = query.where(StockAlert.status == status)
    return list(session.scalars(query))


def _alert_if_low(session: Session, product: Product) -> None:
    state = stock.ProductState(
        product.id, product.is_volatile, product.unit_price, product.stock, product.reorder_level
    )
    _, alert, _ = stock.adjust_stock(state, Decimal(0))
    open_alerts(session, [alert] if alert else [])


def open_alerts(session: Session, alerts: list[stock.StockFellBelowReorder]) -> None:
    """Open each alert unless its product has one open already (the partial unique index decides)."""
    if alerts:
        rows = [
            {"product_id": a.product_id, "stock": a.stock, "reorder_level": a.reorder_level, "status": "open"}
            for a in alerts
        ]
        session.execute(
            insert(StockAlert).on_conflict_do_nothing(
                index_elements=["product_id"], index_where=StockAlert.status == "open"
            ),
            rows,
        )
