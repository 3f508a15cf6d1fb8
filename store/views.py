"""JSON views of stored rows, shared by the status endpoint and the apply step."""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.money import format_amount, format_quantity
from domain.stock import PricedSale
from store.schema import Product, RejectedSale, Sale, SaleItem, StockAlert


class Sold(NamedTuple):
    external_id: str
    device: str
    source_device: str
    client_timestamp: datetime
    synced_at: datetime
    total: Decimal


def canonical_uuid(text: str) -> str | None:
    """An external_id in its canonical spelling (any UUID spelling accepted), or None if not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def sale_view(sale: Sale | Sold, items: list) -> dict:
    """A sale as the API shows it, from stored rows or from what apply just wrote."""
    return {
        "external_id": sale.external_id,
        "device": sale.device,
        "source_device": sale.source_device,
        "client_timestamp": timestamp(sale.client_timestamp),
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


def sold_view(priced: PricedSale, synced_at: datetime, fingerprint: str | None) -> dict:
    sale = priced.sale
    sold = Sold(sale.external_id, sale.device, sale.source_device, sale.client_timestamp, synced_at, priced.total)
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
    return {sale.external_id: applied_status(sale.received_at, sale_view(sale, items[sale.id]), sale.fingerprint)
            for sale in sales}


def rejected_sales(session: Session, external_ids: list[str], lock: bool = False) -> dict[str, dict]:
    """`lock`: FOR SHARE, so a replay deleting a row (store/replay.py) is waited for, and its sale not
    found still rejected after the replay queued it again."""
    if not external_ids:
        return {}
    query = select(RejectedSale).where(RejectedSale.external_id.in_(external_ids))
    rows = session.scalars(query.order_by(RejectedSale.external_id).with_for_update(read=True) if lock else query)
    return {row.external_id: rejected_status(row.device, row.received_at, row.reason, row.fingerprint) for row in rows}


def sale_records(intake, sessions, external_ids: list[str], device: str | None = None) -> dict[str, dict]:
    """Sales' status records, by external_id (unknown ones left out), as `device` sees them (None:
    as an admin, who sees every device's). Redis holds a record until it expires, PostgreSQL
    once applied or rejected; Redis keeps an applied sale's status, PostgreSQL the sale itself.
    A record of another device's post under the same external_id (one refused as a conflict)
    does not hide `device`'s own sale: PostgreSQL is asked for it. One Redis round trip, then,
    for the ids it cannot answer alone, one query for applied sales (with their items) and one
    for rejected ones."""
    external_ids = list(dict.fromkeys(external_ids))  # each once, however often asked
    records = {external_id: record for external_id, record in intake.statuses(external_ids).items()
               if device is None or record["device"] == device}
    missing = [external_id for external_id in external_ids if external_id not in records]
    if missing:
        with sessions() as session:
            records |= applied_sales(session, missing) | rejected_sales(session, missing)
    return with_sales(sessions, records)


def with_sales(sessions, records: dict[str, dict]) -> dict[str, dict]:
    """`records` with the sale filled in from PostgreSQL for each applied one that lacks it."""
    wanted = [external_id for external_id, record in records.items()
              if record["status"] == "applied" and "sale" not in record]
    if not wanted:
        return records
    with sessions() as session:
        found = applied_sales(session, wanted)
    return {external_id: {**record, "sale": found[external_id]["sale"]} if external_id in found else record
            for external_id, record in records.items()}


def sale_record(intake, sessions, external_id: str) -> dict | None:
    """One sale's status record, as an admin sees it (sale_records), or None."""
    return sale_records(intake, sessions, [external_id]).get(external_id)


def status_body(external_id: str, record: dict) -> dict:
    """A status record as GET /api/sales/{external_id}/ answers it."""
    body = {"external_id": external_id, "status": record["status"], "received_at": record["received_at"]}
    if record["status"] == "applied":
        body["sale"] = record["sale"] if isinstance(record["sale"], dict) else json.loads(record["sale"])
    elif record["status"] == "rejected":
        body["error"] = record["error"]
    return body


def applied_status(received_at: datetime, view: dict, fingerprint: str | None = None) -> dict:
    """The intake record of an applied sale; settling writes it back to Redis as is."""
    return {"status": "applied", "device": view["device"], "received_at": timestamp(received_at), "sale": view,
            "fingerprint": fingerprint}


def rejected_status(device: str, received_at: datetime, reason: str, fingerprint: str | None = None) -> dict:
    return {"status": "rejected", "device": device, "received_at": timestamp(received_at), "error": reason,
            "fingerprint": fingerprint}


def is_another_sale(stored: dict, device: str, fingerprint: str | None) -> bool:
    """Whether a queued post differs from the sale stored under its external_id: another device,
    or another payload (a record without a fingerprint, from before fingerprints, matches any)."""
    return stored["device"] != device or None not in (stored.get("fingerprint"), fingerprint) \
        and stored["fingerprint"] != fingerprint


def conflict_status(stored: dict, device: str, received_at: datetime, fingerprint: str | None) -> dict:
    """The poster's status for a post refused because its external_id is another sale's: that sale
    stays as it was, and visible to its own device (sale_records)."""
    used_on = stored["received_at"][:10]
    reason = (f"external_id already used on {used_on} for a different sale; that sale is kept unchanged. "
              "Nothing of this one was applied: send it again under a new external_id.")
    return rejected_status(device, received_at, reason, fingerprint)


def product_view(product: Product) -> dict:
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "is_volatile": product.is_volatile,
        "unit_price": None if product.unit_price is None else format_amount(product.unit_price),
        "stock": format_quantity(product.stock),
        "reorder_level": format_quantity(product.reorder_level),
        "created_at": timestamp(product.created_at),
        "updated_at": timestamp(product.updated_at),
    }


def alert_view(alert: StockAlert) -> dict:
    return {
        "id": alert.id,
        "product": alert.product_id,
        "status": alert.status,
        "stock": format_quantity(alert.stock),
        "reorder_level": format_quantity(alert.reorder_level),
        "raised_at": timestamp(alert.raised_at),
        "resolved_at": timestamp(alert.resolved_at),
    }
