"""A sale's status records (queued, applied, rejected) and the PostgreSQL reads behind them.


Apply builds them; Redis keeps a compact copy while the intake record lives (redis_queue/intake.py,
settled_record); status answers read PostgreSQL once it does not.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.money import format_amount, format_quantity
from domain.sale import RETURN, WAITING
from domain.sale import Sale as DomainSale
from domain.stock import PricedSale
from postgres.tables import RejectedSale, Sale, SaleItem


class Sold(NamedTuple):
    external_id: str
    device: str
    source_device: str
    client_timestamp: datetime
    synced_at: datetime
    total: Decimal
    store: str
    kind: str
    original_external_id: str | None
    received_at: datetime


def timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def sale_view(sale: Sale | Sold, items: list) -> dict:
    """A sale as the API shows it, from stored rows or from what apply just wrote."""
    view = {
        "external_id": sale.external_id,
        "device": sale.device,
        "source_device": sale.source_device,
        "store": sale.store,
        "kind": sale.kind,
        "client_timestamp": timestamp(sale.client_timestamp),
        # The till's clock ran ahead: its time is kept, reports and prices use received_at instead.
        "clock_ahead": sale.client_timestamp > sale.received_at,
        "synced_at": timestamp(sale.synced_at),
        "total": format_amount(sale.total),
        "items": [
            {
                "product": item.product_id,
                "quantity": format_quantity(item.quantity),
                "unit_price": format_amount(item.unit_price),
                "subtotal": format_amount(item.subtotal),
            }
            for item in items
        ],
    }
    if sale.kind == RETURN:
        view["original_external_id"] = sale.original_external_id
    return view


def sold_view(priced: PricedSale, synced_at: datetime, fingerprint: str | None) -> dict:
    sale = priced.sale
    sold = Sold(
        sale.external_id,
        sale.device,
        sale.source_device,
        sale.client_timestamp,
        synced_at,
        priced.total,
        sale.store,
        sale.kind,
        sale.original_external_id,
        sale.received_at,
    )
    return applied_status(sale.received_at, sale_view(sold, list(priced.lines)), fingerprint)


def applied_sales(session: Session, external_ids: list[str]) -> dict[str, dict]:
    """Status records of sales already in PostgreSQL, by external_id."""
    if not external_ids:
        return {}
    sales = session.scalars(select(Sale).where(Sale.external_id.in_(external_ids))).all()
    if not sales:
        return {}
    items: dict[int, list[SaleItem]] = {sale.id: [] for sale in sales}
    for item in session.scalars(select(SaleItem).where(SaleItem.sale_id.in_(items)).order_by(SaleItem.id)):
        items[item.sale_id].append(item)
    return {
        sale.external_id: applied_status(sale.received_at, sale_view(sale, items[sale.id]), sale.fingerprint)
        for sale in sales
    }


def rejected_sales(session: Session, external_ids: list[str], lock: bool = False) -> dict[str, dict]:
    """`lock`: FOR SHARE, so a replay deleting a row (recovery/replay.py) is waited for, and its sale not
    found still rejected after the replay queued it again."""
    if not external_ids:
        return {}
    query = select(RejectedSale).where(RejectedSale.external_id.in_(external_ids))
    rows = session.scalars(query.order_by(RejectedSale.external_id).with_for_update(read=True) if lock else query)
    return {row.external_id: rejected_status(row.device, row.received_at, row.reason, row.fingerprint) for row in rows}


def applied_status(received_at: datetime, view: dict, fingerprint: str | None = None) -> dict:
    """The intake record of an applied sale; settling writes it back to Redis as is."""
    return {
        "status": "applied",
        "device": view["device"],
        "received_at": timestamp(received_at),
        "sale": view,
        "fingerprint": fingerprint,
    }


def rejected_status(device: str, received_at: datetime, reason: str, fingerprint: str | None = None) -> dict:
    return {
        "status": "rejected",
        "device": device,
        "received_at": timestamp(received_at),
        "error": reason,
        "fingerprint": fingerprint,
    }


def waiting_status(sale: DomainSale, original: str) -> dict:
    """Not a final status: the worker puts the return back in the queue (Intake.settle)."""
    return {"status": WAITING, "device": sale.device, "received_at": timestamp(sale.received_at), "original": original}


def is_another_sale(stored: dict, device: str, fingerprint: str | None) -> bool:
    """Whether a queued post differs from the sale stored under its external_id: another device,
    or another payload (a record without a fingerprint, from before fingerprints, matches any)."""
    return stored["device"] != device or (
        None not in (stored.get("fingerprint"), fingerprint) and stored["fingerprint"] != fingerprint
    )


def conflict_status(stored: dict, device: str, received_at: datetime, fingerprint: str | None) -> dict:
    """The poster's status for a post refused because its external_id is another sale's: that sale
    stays as it was, and visible to its own device (sale_records)."""
    used_on = stored["received_at"][:10]
    reason = (
        f"external_id already used on {used_on} for a different sale; that sale is kept unchanged. "
        "Nothing of this one was applied: send it again under a new external_id."
    )
    return rejected_status(device, received_at, reason, fingerprint)
