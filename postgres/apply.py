"""Applies a batch of queued sales in one PostgreSQL transaction, set-based and idempotent.

Each sale is all or nothing: a sale that cannot apply is recorded as rejected and the rest of
its batch still applies. The unique external_id is the last word on "already applied".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from domain.sale import RETURN, Failures, NewProduct, Sale
from domain.stock import (
    Effects,
    PricedSale,
    ProductState,
    Returnable,
    SaleRejected,
    apply_sales,
    by_product,
    price_sale,
    take_return,
)
from postgres import statuses as records
from postgres import tables
from postgres.catalog import move_stock
from postgres.devices import record_sequences

log = logging.getLogger(__name__)


def apply_batch(
    session: Session,
    raw_sales: list[dict],
    now: datetime,
    waited: Callable[[str], float] = lambda external_id: 0.0,
    grace: float = 3600.0,
) -> dict[str, dict]:
    """Apply what is new among `raw_sales` (Sale.to_dict() values); return every sale's status.
    A return whose original sale is not applied yet gets the status WAITING (it stays queued)
    until `waited(external_id)` (seconds since it first waited) reaches `grace`; then it is
    rejected."""
    sales: dict[str, Sale] = {}
    fingerprints: dict[str, str | None] = {}
    for raw in raw_sales:
        sales.setdefault(raw["external_id"], Sale.from_dict(raw))
        fingerprints.setdefault(raw["external_id"], raw.get("fingerprint"))
    statuses = records.applied_sales(session, list(sales)) | records.rejected_sales(session, list(sales), lock=True)
    todo = [sale for external_id, sale in sorted(sales.items()) if external_id not in statuses]
    # Prices come from a plain read: the stock rows are locked only at the end, for the stock
    # update, so a hot product is held for a few statements instead of the whole batch.
    products = _read_products(
        session,
        {
            line.product_id
            for sale in todo
            for line in sale.lines
            if line.product_id is not None and line.new_product is None
        },
    )
    rejected = _unknown_products(todo, products)
    todo = [sale for sale in todo if sale.external_id not in rejected]
    ids_by_sku = _create_products(session, todo)
    products |= _read_products(session, set(ids_by_sku.values()) - products.keys())
    priced = []
    for sale in todo:
        try:
            priced.append(price_sale(sale, products, ids_by_sku))
        except SaleRejected as reason:
            rejected[sale.external_id] = str(reason)
    priced, waiting = _check_returns(session, priced, rejected, waited, grace)
    inserted = _insert_sales(session, priced, fingerprints, now)
    fresh = [p for p in priced if p.sale.external_id in inserted]
    _insert_items(session, fresh, inserted)
    reject(
        session,
        [({**sales[eid].to_dict(), "fingerprint": fingerprints[eid]}, reason) for eid, reason in rejected.items()],
    )
    volatile = {line.product_id for p in fresh for line in p.lines if products[line.product_id].is_volatile}
    _write_effects(session, apply_sales(fresh, products | _read_products(session, volatile, lock=True)), products)
    session.flush()
    late = [p.sale.external_id for p in priced if p.sale.external_id not in inserted]  # applied by a racing worker
    statuses |= {p.sale.external_id: records.sold_view(p, now, fingerprints[p.sale.external_id]) for p in fresh}
    statuses |= records.applied_sales(session, late)
    for eid, why in rejected.items():
        statuses[eid] = records.rejected_status(sales[eid].device, sales[eid].received_at, why, fingerprints[eid])
    refused = {eid: _refuse_if_another(status, sales[eid], fingerprints[eid]) for eid, status in statuses.items()}
    record_sequences(session, [sales[eid] for eid in refused])  # settled: applied or rejected, not waiting
    return refused | {eid: records.waiting_status(sales[eid], original) for eid, original in waiting.items()}


def _check_returns(
    session: Session,
    priced: list[PricedSale],
    rejected: dict[str, str],
    waited: Callable[[str], float],
    grace: float,
) -> tuple[list[PricedSale], dict[str, str]]:
    """Hold each return that names its original to what that sale sold, this batch's and earlier
    applied returns included. The originals' rows are locked first (sorted), so two batches
    returning against one original take turns. Returns what may apply, and the returns left
    waiting for their original (external_id -> the original's). `rejected` gains the rest."""
    originals = sorted({p.sale.original_external_id for p in priced if p.sale.original_external_id})
    if not originals:
        return priced, {}
    in_batch = {p.sale.external_id: p for p in priced if not p.sale.is_return}
    found = _returnable(session, [eid for eid in originals if eid not in in_batch])
    for eid in originals:
        if eid in in_batch:
            found[eid] = ("sale", Returnable(by_product(in_batch[eid])))
    gone = set(records.rejected_sales(session, [eid for eid in originals if eid not in found]))
    kept, waiting = [], {}
    for p in priced:  # a sale of this batch comes before the returns of it: stock order is not at stake
        original = p.sale.original_external_id
        if original is None:
            kept.append(p)
        elif original in found:
            kind, returnable = found[original]
            try:
                if kind != "sale":
                    raise SaleRejected(f"original sale {original} is a return, not a sale")
                take_return(original, returnable, p)
                kept.append(p)
            except SaleRejected as reason:
                rejected[p.sale.external_id] = str(reason)
        elif original in gone:
            rejected[p.sale.external_id] = f"original sale {original} was rejected; nothing of it can come back"
        elif waited(p.sale.external_id) >= grace:
            rejected[p.sale.external_id] = (
                f"original sale {original} not found: it was not applied within {grace:g} s of this return"
            )
        else:
            waiting[p.sale.external_id] = original
    return kept, waiting


def _returnable(session: Session, originals: list[str]) -> dict[str, tuple[str, Returnable]]:
    """Applied originals, locked, by external_id: their kind and what they sold and got back."""
    if not originals:
        return {}
    s = tables.Sale
    # NO KEY UPDATE: conflicts with itself (returns take turns), not with anything a sale does.
    locked = session.execute(
        select(s.external_id, s.kind)
        .where(s.external_id.in_(originals))
        .order_by(s.external_id)
        .with_for_update(key_share=True)
    ).all()
    found = {row.external_id: (row.kind, Returnable({})) for row in locked}
    if not found:
        return {}
    i = tables.SaleItem
    sold = session.execute(
        select(s.external_id, i.product_id, func.sum(i.quantity))
        .join(i, i.sale_id == s.id)
        .where(s.external_id.in_(found))
        .group_by(s.external_id, i.product_id)
    )
    for external_id, product_id, quantity in sold:
        found[external_id][1].sold[product_id] = quantity
    # Read after the lock: every return of these originals committed before it is counted.
    returned = session.execute(
        select(s.original_external_id, i.product_id, func.sum(i.quantity))
        .join(i, i.sale_id == s.id)
        .where(s.original_external_id.in_(found), s.kind == RETURN)
        .group_by(s.original_external_id, i.product_id)
    )
    for original, product_id, quantity in returned:
        found[original][1].returned[product_id] = quantity
    return found


def _refuse_if_another(stored: dict, sale: Sale, fingerprint: str | None) -> dict:
    """A post whose external_id PostgreSQL already holds for a different sale (its intake record
    expired, so intake could not answer 422) is refused: the stored sale stays as it was."""
    if records.is_another_sale(stored, sale.device, fingerprint):
        log.warning(
            "sale %s refused: its external_id is another sale's",
            sale.external_id,
            extra={"external_id": sale.external_id, "device": sale.device},
        )
        return records.conflict_status(stored, sale.device, sale.received_at, fingerprint)
    return stored


def reject(session: Session, rejections: list[tuple[dict, str]]) -> None:
    """Record rejected sales (as queued, raw) with their reasons, for people and for replay."""
    if rejections:
        rows = [
            {
                "external_id": raw["external_id"],
                "device": raw.get("device", "unknown"),
                "reason": reason,
                "sale": raw,
                "received_at": _received_at(raw),
                "fingerprint": raw.get("fingerprint"),
            }
            for raw, reason in rejections
        ]
        session.execute(insert(tables.RejectedSale).on_conflict_do_nothing(), rows)


def _unknown_products(sales: list[Sale], known: dict[int, ProductState]) -> dict[str, str]:
    rejected = {}
    for sale in sales:
        missing = sorted(
            {line.product_id for line in sale.lines if line.product_id is not None and line.new_product is None}
            - known.keys()
        )
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
    rows = [
        {
            "sku": sku,
            "name": p.name,
            "is_volatile": p.is_volatile,
            "unit_price": p.unit_price if p.unit_price is not None else sold_at,
            "reorder_level": p.reorder_level,
        }
        for sku, (p, sold_at) in sorted(new.items())
    ]
    # Sorted inserts, before any product row lock: concurrent creators queue instead of deadlocking.
    session.execute(insert(tables.Product).on_conflict_do_nothing(index_elements=["sku"]), rows)
    found = session.execute(select(tables.Product.sku, tables.Product.id).where(tables.Product.sku.in_(new)))
    return {row.sku: row.id for row in found}


def _read_products(session: Session, ids: set[int], lock: bool = False) -> dict[int, ProductState]:
    if not ids:
        return {}
    p = tables.Product
    query = select(p.id, p.is_volatile, p.unit_price, p.reorder_level, p.price_set_at)
    query = query.where(p.id.in_(ids)).order_by(p.id)
    if lock:
        # Fixed lock order (by id) so workers applying overlapping batches never deadlock. NO KEY
        # UPDATE leaves the key-share locks of other workers' sale_items inserts unblocked.
        query = query.with_for_update(of=p, key_share=True)
    return {row[0]: ProductState(*row) for row in session.execute(query)}


def _insert_sales(
    session: Session, priced: list[PricedSale], fingerprints: dict[str, str | None], now: datetime
) -> dict[str, int]:
    if not priced:
        return {}
    rows = [
        {
            "external_id": p.sale.external_id,
            "device": p.sale.device,
            "source_device": p.sale.source_device,
            "client_timestamp": p.sale.client_timestamp,
            "received_at": p.sale.received_at,
            "synced_at": now,
            "updated_at": now,
            "total": p.total,
            "fingerprint": fingerprints[p.sale.external_id],
            "store": p.sale.store,
            "kind": p.sale.kind,
            "original_external_id": p.sale.original_external_id,
        }
        for p in priced
    ]
    table = core(tables.Sale)
    statement = (
        insert(table).on_conflict_do_nothing(index_elements=["external_id"]).returning(table.c.external_id, table.c.id)
    )
    return {row.external_id: row.id for row in session.execute(statement, rows)}


def core(model: type[tables.Base]) -> Table:
    """A model's Core table: bulk inserts of plain rows skip the ORM's per-object work."""
    return cast(Table, model.__table__)


def _insert_items(session: Session, priced: list[PricedSale], sale_ids: dict[str, int]) -> None:
    rows = [
        {
            "sale_id": sale_ids[p.sale.external_id],
            "product_id": line.product_id,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "subtotal": line.subtotal,
            "sold_at": p.sale.happened_at,
            "store": p.sale.store,
            "is_return": p.sale.is_return,
        }
        for p in priced
        for line in p.lines
    ]
    if rows:
        session.execute(insert(core(tables.SaleItem)), rows)
        session.execute(insert(core(tables.RollupPending)), [{"sale_id": sale_ids[p.sale.external_id]} for p in priced])


_UPDATE_PRICES = text("""
    UPDATE products AS p
    SET unit_price = v.unit_price, price_set_at = v.price_set_at, updated_at = now()
    FROM unnest(CAST(:ids AS bigint[]), CAST(:prices AS numeric[]), CAST(:set_at AS timestamptz[]))
        AS v (id, unit_price, price_set_at)
    WHERE p.id = v.id
""")


def _write_effects(session: Session, effects: Effects, products: dict[int, ProductState]) -> None:
    """Every new price in one statement, every stock move in another, whatever the batch touched."""
    if effects.products:
        changed = sorted(effects.products.values(), key=lambda product: product.id)
        session.execute(
            _UPDATE_PRICES,
            {
                "ids": [product.id for product in changed],
                "prices": [product.unit_price for product in changed],
                "set_at": [product.price_set_at for product in changed],
            },
        )
    move_stock(session, effects.stock, products)


TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "08000", "08003", "08006"}
SET_ASIDE = "set aside after "  # how the reason of a sale that kept failing begins (recovery/replay.py lists them)
MAX_ATTEMPTS = 5  # an unexplained failure of one sale, alone, this often: set it aside as rejected


class SystemFailure(Exception):
    """Every sale of a batch failed alone: the fault is ours (code, schema), not the sales'."""


def is_transient(error: BaseException) -> bool:
    """Errors that say nothing about the sales: retry them, never reject for them."""
    if isinstance(error, (SystemFailure, OperationalError, InterfaceError)):
        return True
    return isinstance(error, DBAPIError) and getattr(error.orig, "pgcode", None) in TRANSIENT_SQLSTATES


def is_about_the_sale(error: BaseException) -> bool:
    """The database refused this sale's own values (data exception or constraint: SQLSTATE 22, 23)."""
    code = getattr(getattr(error, "orig", None), "pgcode", None) or ""
    return isinstance(error, DBAPIError) and code[:2] in ("22", "23")


def is_ours(error: BaseException) -> bool:
    """Transient, or a database error not about the sale's values (a schema behind the code, ...)."""
    return is_transient(error) or (isinstance(error, DBAPIError) and not is_about_the_sale(error))


def apply_isolating(
    sessions: sessionmaker[Session],
    raw_sales: list[dict],
    now: datetime,
    failed: Callable[[str], Failures] = lambda external_id: Failures(MAX_ATTEMPTS, 0.0),
    grace: float = 3600.0,
    waited: Callable[[str], float] = lambda external_id: 0.0,
) -> dict[str, dict]:
    """One transaction for the batch; if it fails, each sale alone, so one poison sale cannot hold
    up the others. A sale the database refuses is rejected with the reason. One that fails for no
    known reason is left queued (no status), its failure counted by `failed(external_id)`, until
    it has failed MAX_ATTEMPTS times; then it is set aside as rejected. Any other database error
    is ours, not the sale's: raised.

    If every sale of the batch failed alone, that looks like our fault (a bug, a bad deploy), not
    the sales': they stay queued (SystemFailure, retried) until they have also kept failing for
    `grace` seconds, so a bad deploy sets nothing aside while a batch made only of poison sales is
    still set aside in the end. A return waits for its original for `grace` seconds by `waited`
    (apply_batch)."""
    try:
        with sessions.begin() as session:
            return apply_batch(session, raw_sales, now, waited, grace)
    except Exception as error:
        if is_ours(error):
            raise
        log.exception("batch of %d sales failed; applying them one by one", len(raw_sales))
    statuses: dict[str, dict] = {}
    unexplained: list[tuple[dict, Exception]] = []
    for raw in raw_sales:
        try:
            with sessions.begin() as session:
                statuses |= apply_batch(session, [raw], now, waited, grace)
        except Exception as refused:
            if is_ours(refused):
                raise
            if is_about_the_sale(refused):
                statuses |= _reject_alone(sessions, raw, f"could not be applied: {_describe(refused)}")
            else:
                unexplained.append((raw, refused))
    # A lone sale failing for no known reason is "every sale of its batch": a quiet shop's sales,
    # sent one at a time, get the grace time through a bad deploy as a busy shop's do.
    all_failed = len(unexplained) == len(raw_sales)
    for raw, failure in unexplained:
        failures = failed(raw["external_id"])
        if failures.attempts >= MAX_ATTEMPTS and (not all_failed or failures.seconds >= grace):
            reason = f"{SET_ASIDE}{failures.attempts} failed attempts: {_describe(failure)}"
            statuses |= _reject_alone(sessions, raw, reason)
    if all_failed and not statuses:
        raise SystemFailure(f"all {len(raw_sales)} sales failed alone: {_describe(unexplained[0][1])}")
    return statuses


def _reject_alone(sessions: sessionmaker[Session], raw: dict, reason: str) -> dict[str, dict]:
    """Reject one sale from its raw entry: it may be the very thing that cannot be parsed (then
    its sequence, if any, cannot be read either: it shows as missing)."""
    with sessions.begin() as session:
        reject(session, [(raw, reason)])
        record_sequences(session, [sale] if (sale := _parsed(raw)) else [])
    return {
        raw["external_id"]: records.rejected_status(
            raw.get("device", "unknown"), _received_at(raw), reason, raw.get("fingerprint")
        )
    }


def _parsed(raw: dict) -> Sale | None:
    try:
        return Sale.from_dict(raw)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None


def _received_at(raw: dict) -> datetime:
    try:
        return datetime.fromisoformat(raw["received_at"])
    except (KeyError, TypeError, ValueError):
        return datetime.now().astimezone()


def _describe(error: Exception) -> str:
    """The first line of the database's own message, never the SQL statement or a traceback."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = str(cause).strip().splitlines() or [""]
    return f"{type(cause).__name__}: {lines[0]}"[:300]
