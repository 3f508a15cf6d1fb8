"""Applies a batch of queued sales in one PostgreSQL transaction, set-based and idempotent.

Each sale is all or nothing: a sale that cannot apply is recorded as rejected and the rest of
its batch still applies. The unique external_id is the last word on "already applied".
"""
from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from domain.sale import NewProduct, Sale
from domain.stock import Effects, PricedSale, Product, SaleRejected, apply_sales, price_sale
from store import schema, views
from store.catalog import open_alerts

log = logging.getLogger(__name__)


def apply_batch(session: Session, raw_sales: list[dict], now: datetime) -> dict[str, dict]:
    """Apply what is new among `raw_sales` (Sale.to_dict() values); return every sale's status."""
    sales: dict[str, Sale] = {}
    fingerprints: dict[str, str | None] = {}
    for raw in raw_sales:
        sales.setdefault(raw["external_id"], Sale.from_dict(raw))
        fingerprints.setdefault(raw["external_id"], raw.get("fingerprint"))
    statuses = views.applied_sales(session, list(sales)) | views.rejected_sales(session, list(sales))
    todo = [sale for external_id, sale in sales.items() if external_id not in statuses]
    rejected = _unknown_products(session, todo)
    todo = [sale for sale in todo if sale.external_id not in rejected]
    ids_by_sku = _create_products(session, todo)
    products = _lock_products(session, todo, ids_by_sku)
    priced = []
    for sale in todo:
        try:
            priced.append(price_sale(sale, products, ids_by_sku))
        except SaleRejected as reason:
            rejected[sale.external_id] = str(reason)
    inserted = _insert_sales(session, priced, fingerprints, now)
    fresh = [p for p in priced if p.sale.external_id in inserted]
    _insert_items(session, fresh, inserted)
    _write_effects(session, apply_sales(fresh, products))
    reject(session, [(sales[eid], reason, fingerprints[eid]) for eid, reason in rejected.items()])
    session.flush()
    late = [p.sale.external_id for p in priced if p.sale.external_id not in inserted]  # applied by a racing worker
    statuses |= {p.sale.external_id: views.sold_view(p, now, fingerprints[p.sale.external_id]) for p in fresh}
    statuses |= views.applied_sales(session, late)
    for eid, reason in rejected.items():
        statuses[eid] = views.rejected_status(sales[eid].device, sales[eid].received_at, reason, fingerprints[eid])
    return statuses


def reject(session: Session, rejections: list[tuple[Sale, str, str | None]]) -> None:
    if rejections:
        rows = [{"external_id": sale.external_id, "device": sale.device, "reason": reason, "sale": sale.to_dict(),
                 "received_at": sale.received_at, "fingerprint": fingerprint}
                for sale, reason, fingerprint in rejections]
        session.execute(insert(schema.RejectedSale).on_conflict_do_nothing(), rows)


def _unknown_products(session: Session, sales: list[Sale]) -> dict[str, str]:
    wanted = {line.product_id for sale in sales for line in sale.lines if line.new_product is None}
    known = set(session.scalars(select(schema.Product.id).where(schema.Product.id.in_(wanted)))) if wanted else set()
    rejected = {}
    for sale in sales:
        missing = sorted({line.product_id for line in sale.lines if line.new_product is None} - known)
        if missing:
            rejected[sale.external_id] = f"product {missing[0]} does not exist; send product_data to create it"
    return rejected


def _create_products(session: Session, sales: list[Sale]) -> dict[str, int]:
    """Resolve product_data by sku, creating what is missing; a racing creator's product is reused."""
    new: dict[str, tuple[NewProduct, Decimal | None]] = {}
    for sale in sales:
        for line in sale.lines:
            if line.new_product is not None:
                new.setdefault(line.new_product.sku, (line.new_product, line.unit_price))
    if not new:
        return {}
    # Without a unit_price in product_data, the price it was first sold at becomes its default.
    rows = [{"sku": sku, "name": p.name, "is_volatile": p.is_volatile, "stock": Decimal(0),
             "unit_price": p.unit_price if p.unit_price is not None else sold_at, "reorder_level": p.reorder_level}
            for sku, (p, sold_at) in sorted(new.items())]
    # Sorted inserts, before any product row lock: concurrent creators queue instead of deadlocking.
    session.execute(insert(schema.Product).on_conflict_do_nothing(index_elements=["sku"]), rows)
    found = session.execute(select(schema.Product.sku, schema.Product.id).where(schema.Product.sku.in_(new)))
    return {sku: product_id for sku, product_id in found}


def _lock_products(session: Session, sales: list[Sale], ids_by_sku: dict[str, int]) -> dict[int, Product]:
    ids = {line.product_id for sale in sales for line in sale.lines if line.new_product is None}
    ids |= set(ids_by_sku.values())
    if not ids:
        return {}
    p = schema.Product
    open_alert = exists().where(schema.StockAlert.product_id == p.id, schema.StockAlert.status == "open")
    # Fixed lock order (by id) so workers applying overlapping batches never deadlock.
    rows = session.execute(
        select(p.id, p.is_volatile, p.unit_price, p.stock, p.reorder_level, p.price_set_at, open_alert)
        .where(p.id.in_(ids)).order_by(p.id).with_for_update(of=p)
    )
    return {row[0]: Product(*row) for row in rows}


def _insert_sales(session: Session, priced: list[PricedSale], fingerprints: dict[str, str | None],
                  now: datetime) -> dict[str, int]:
    if not priced:
        return {}
    rows = [{"external_id": p.sale.external_id, "device": p.sale.device, "source_device": p.sale.source_device,
             "client_timestamp": p.sale.client_timestamp, "received_at": p.sale.received_at,
             "synced_at": now, "updated_at": now, "total": p.total, "fingerprint": fingerprints[p.sale.external_id]}
            for p in priced]
    table = schema.Sale.__table__
    statement = (insert(table).on_conflict_do_nothing(index_elements=["external_id"])
                 .returning(table.c.external_id, table.c.id))
    return {external_id: sale_id for external_id, sale_id in session.execute(statement, rows)}


def _insert_items(session: Session, priced: list[PricedSale], sale_ids: dict[str, int]) -> None:
    rows = [{"sale_id": sale_ids[p.sale.external_id], "product_id": line.product_id, "quantity": line.quantity,
             "unit_price": line.unit_price, "subtotal": line.subtotal, "sold_at": p.sale.client_timestamp}
            for p in priced for line in p.lines]
    if rows:
        session.execute(insert(schema.SaleItem.__table__), rows)
        session.execute(insert(schema.RollupPending.__table__), [{"sale_id": sale_ids[p.sale.external_id]} for p in priced])


def _write_effects(session: Session, effects: Effects) -> None:
    if effects.products:
        table = schema.Product.__table__
        statement = (update(table).where(table.c.id == bindparam("product_id"))
                     .values(stock=bindparam("new_stock"), unit_price=bindparam("new_price"),
                             price_set_at=bindparam("new_price_set_at"), updated_at=func.now()))
        session.connection().execute(statement, [
            {"product_id": p.id, "new_stock": p.stock, "new_price": p.unit_price,
             "new_price_set_at": p.price_set_at} for p in effects.products.values()])
    open_alerts(session, effects.alerts)


TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "08000", "08003", "08006"}


def is_transient(error: BaseException) -> bool:
    """Errors that say nothing about the sales: retry them, never reject for them."""
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    return isinstance(error, DBAPIError) and getattr(error.orig, "pgcode", None) in TRANSIENT_SQLSTATES


def apply_isolating(sessions: sessionmaker[Session], raw_sales: list[dict], now: datetime) -> dict[str, dict]:
    """One transaction for the batch; if it fails for a reason of its own, each sale alone, so
    one poison sale is rejected with its reason instead of holding up the others."""
    try:
        with sessions.begin() as session:
            return apply_batch(session, raw_sales, now)
    except Exception as error:
        if is_transient(error):
            raise
        log.exception("batch of %d sales failed; applying them one by one", len(raw_sales))
    statuses = {}
    for raw in raw_sales:
        try:
            with sessions.begin() as session:
                statuses |= apply_batch(session, [raw], now)
        except Exception as error:
            if is_transient(error):
                raise
            statuses |= _reject_alone(sessions, raw, f"could not be applied: {_describe(error)}")
    return statuses


def _reject_alone(sessions: sessionmaker[Session], raw: dict, reason: str) -> dict[str, dict]:
    sale, fingerprint = Sale.from_dict(raw), raw.get("fingerprint")
    with sessions.begin() as session:
        reject(session, [(sale, reason, fingerprint)])
    return {sale.external_id: views.rejected_status(sale.device, sale.received_at, reason, fingerprint)}


def _describe(error: Exception) -> str:
    """The first line of the database's own message, never the SQL statement or a traceback."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = str(cause).strip().splitlines() or [""]
    return f"{type(cause).__name__}: {lines[0]}"[:300]
