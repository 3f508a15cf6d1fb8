"""What the API shows of stored rows: status answers, products and alerts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import reduce

from domain.money import EXACT, format_amount, format_quantity
from postgres.statuses import applied_sales, rejected_sales, timestamp
from postgres.tables import Product, StockAlert, Store


def sale_records(intake, sessions, external_ids: list[str], device: str | None = None) -> dict[str, dict]:
    """Sales' status records, by external_id (unknown ones left out), as `device` sees them (None:
    as an admin, who sees every device's). Redis holds a record until it expires, PostgreSQL
    once applied or rejected; Redis keeps an applied sale's status, PostgreSQL the sale itself.
    A record of another device's post under the same external_id (one refused as a conflict)
    does not hide `device`'s own sale: PostgreSQL is asked for it. One Redis round trip, then at
    most one PostgreSQL session: applied sales (with their items) for the ids Redis cannot
    answer alone or holds without the sale, rejected ones for the ids it does not hold."""
    external_ids = list(dict.fromkeys(external_ids))  # each once, however often asked
    records = {
        external_id: record
        for external_id, record in intake.statuses(external_ids).items()
        if device is None or record["device"] == device
    }
    missing = [external_id for external_id in external_ids if external_id not in records]
    if missing:
        with sessions() as session:
            return _with_sales(session, records, missing) | rejected_sales(session, missing)
    return with_sales(sessions, records)


def with_sales(sessions, records: dict[str, dict]) -> dict[str, dict]:
    """`records` with the sale filled in from PostgreSQL for each applied one that lacks it."""
    if not any(_lacks_sale(record) for record in records.values()):
        return records
    with sessions() as session:
        return _with_sales(session, records)


def _lacks_sale(record: dict) -> bool:
    return record["status"] == "applied" and "sale" not in record


def _with_sales(session, records: dict[str, dict], missing: Sequence[str] = ()) -> dict[str, dict]:
    """`records` with their sales filled in, plus the applied ones among `missing`, in one query."""
    wanted = [external_id for external_id, record in records.items() if _lacks_sale(record)]
    found = applied_sales(session, [*wanted, *missing])
    filled = {
        external_id: {**record, "sale": found[external_id]["sale"]}
        if _lacks_sale(record) and external_id in found
        else record
        for external_id, record in records.items()
    }
    return filled | {external_id: found[external_id] for external_id in missing if external_id in found}


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


def product_view(product: Product, stock: Mapping[str, Decimal]) -> dict:
    """A product with its stock: `stock` by store code, summed into the product's stock."""
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "is_volatile": product.is_volatile,
        "unit_price": None if product.unit_price is None else format_amount(product.unit_price),
        "stock": format_quantity(reduce(EXACT.add, stock.values(), Decimal(0))),
        "stock_by_store": {store: format_quantity(level) for store, level in sorted(stock.items())},
        "active": product.active,
        "reorder_level": format_quantity(product.reorder_level),
        "created_at": timestamp(product.created_at),
        "updated_at": timestamp(product.updated_at),
    }


def store_view(store: Store) -> dict:
    return {"code": store.code, "name": store.name, "created_at": timestamp(store.created_at)}


def alert_view(alert: StockAlert) -> dict:
    return {
        "id": alert.id,
        "product": alert.product_id,
        "store": alert.store,
        "status": alert.status,
        "stock": format_quantity(alert.stock),
        "reorder_level": format_quantity(alert.reorder_level),
        "raised_at": timestamp(alert.raised_at),
        "resolved_at": timestamp(alert.resolved_at),
    }
