"""PostgreSQL figures for the ops dashboard and /metrics: sales applied a minute, open alerts,
top sellers, recent rejections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.money import format_amount, format_quantity
from postgres import rollup
from postgres.statuses import timestamp
from postgres.tables import Product, RejectedSale, Sale, StockAlert, StockLevel

TOP_SELLERS = 10
LISTED = 50  # open alerts listed at most (the count is always exact)
RECENT_REJECTIONS = 10


def applied_per_minute(session: Session, now: datetime) -> list[dict]:
    """Sales applied in each of the last 60 minutes (the current one last, still counting)."""
    first = now.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(minutes=59)
    minute = func.date_trunc("minute", Sale.synced_at)
    counts = {
        at.astimezone(UTC): n
        for at, n in session.execute(select(minute, func.count()).where(Sale.synced_at >= first).group_by(minute))
    }
    minutes = [first + timedelta(minutes=i) for i in range(60)]
    return [{"minute": timestamp(at), "count": counts.get(at, 0)} for at in minutes]


def open_alert_count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(StockAlert).where(StockAlert.status == "open")).scalar_one()


def open_alerts(session: Session) -> tuple[int, list[dict]]:
    """How many alerts are open, and the LISTED newest of them."""
    level = func.coalesce(StockLevel.quantity, 0)  # the store's stock now
    query = (
        select(StockAlert, Product, level)
        .join(Product, Product.id == StockAlert.product_id)
        .outerjoin(
            StockLevel, (StockLevel.product_id == StockAlert.product_id) & (StockLevel.store == StockAlert.store)
        )
        .where(StockAlert.status == "open")
    )
    count = open_alert_count(session)
    rows = session.execute(query.order_by(StockAlert.raised_at.desc(), StockAlert.id.desc()).limit(LISTED))
    return count, [
        {
            "id": alert.id,
            "product": product.id,
            "sku": product.sku,
            "name": product.name,
            "store": alert.store,
            "stock": format_quantity(stock),
            "reorder_level": format_quantity(product.reorder_level),
            "raised_at": timestamp(alert.raised_at),
        }
        for alert, product, stock in rows
    ]


def top_sellers(session: Session, day) -> list[dict]:
    return [
        {
            "product": product.id,
            "sku": product.sku,
            "name": product.name,
            "quantity": format_quantity(quantity),
            "revenue": format_amount(revenue),
        }
        for product, quantity, revenue in rollup.top_products(session, day, day, TOP_SELLERS)
    ]


def recent_rejections(session: Session) -> list[dict]:
    rows = session.scalars(select(RejectedSale).order_by(RejectedSale.rejected_at.desc()).limit(RECENT_REJECTIONS))
    return [
        {
            "external_id": row.external_id,
            "device": row.device,
            "reason": row.reason,
            "rejected_at": timestamp(row.rejected_at),
        }
        for row in rows
    ]
