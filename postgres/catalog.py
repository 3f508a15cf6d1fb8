"""Stores, products, stock per store, stock adjustments and alerts: the operator-facing side of
the catalogue, and the stock moves apply shares with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from sqlalchemy import func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain import stock
from domain.stock import StockKey, StockLevel
from postgres.tables import MAIN_STORE, Product, StockAdjustment, StockAlert, Store
from postgres.tables import StockLevel as StockRow


class SkuTaken(ValueError):
    pass


class StoreTaken(ValueError):
    pass


class UnknownStore(ValueError):
    pass


def list_stores(session: Session) -> list[Store]:
    return list(session.scalars(select(Store).order_by(Store.code.collate("C"))))  # the same order on any server


def create_store(session: Session, code: str, name: str) -> Store:
    created = session.scalar(
        insert(Store).values(code=code, name=name).on_conflict_do_nothing(index_elements=["code"]).returning(Store.code)
    )
    if created is None:
        raise StoreTaken(f"a store with code {code!r} already exists")
    return session.get_one(Store, created)


def check_stores(session: Session, codes: Iterable[str]) -> None:
    """UnknownStore naming the first of `codes` that is no store."""
    wanted = set(codes)
    known = set(session.scalars(select(Store.code).where(Store.code.in_(wanted)))) if wanted else set()
    for code in sorted(wanted - known):
        raise UnknownStore(f"no store {code!r}; create it first (salesync store create)")


def list_products(session: Session, sku: str | None = None) -> list[Product]:
    query = select(Product).order_by(Product.id)
    if sku is not None:
        query = query.where(Product.sku == sku)
    return list(session.scalars(query))


def get_product(session: Session, product_id: int) -> Product | None:
    return session.get(Product, product_id)


def stock_by_store(session: Session, product_ids: Iterable[int]) -> dict[int, dict[str, Decimal]]:
    """Each product's stock rows, by store code (a store that never had stock of it is absent)."""
    ids = list(product_ids)
    levels: dict[int, dict[str, Decimal]] = {product_id: {} for product_id in ids}
    if ids:
        query = select(StockRow.product_id, StockRow.store, StockRow.quantity).where(StockRow.product_id.in_(ids))
        for product_id, store, quantity in session.execute(query.order_by(StockRow.product_id, StockRow.store)):
            levels[product_id][store] = quantity
    return levels


def create_product(session: Session, stock_by_store: Mapping[str, Decimal], **fields) -> Product:
    """A product with its opening stock in each store of `stock_by_store` (known stores only)."""
    check_stores(session, stock_by_store)
    created = session.scalar(
        insert(Product).values(**fields).on_conflict_do_nothing(index_elements=["sku"]).returning(Product.id)
    )
    if created is None:
        raise SkuTaken(f"a product with sku {fields['sku']!r} already exists")
    product = session.get_one(Product, created)
    move_stock(session, {(product.id, store): level for store, level in stock_by_store.items()}, {product.id: product})
    return product


def update_product(session: Session, product_id: int, changes: Mapping) -> Product | None:
    """Change a product's name, unit_price, reorder_level or active flag (never its stock); None if
    no such product. A new reorder level raises or resolves each store's alert; a volatile
    product's price set here counts as set now, so an older offline sale does not overwrite it."""
    product = session.get(Product, product_id, with_for_update={"key_share": True})
    if product is None:
        return None
    for name, value in changes.items():
        setattr(product, name, value)
    if "unit_price" in changes and product.is_volatile:
        product.price_set_at = session.scalar(select(func.now()))
    session.flush()
    if "reorder_level" in changes:
        recheck_alerts(session, {product_id: product})
    session.refresh(product)
    return product


def recheck_alerts(session: Session, products: Mapping) -> None:
    """After a new reorder level (or volatility): raise or resolve the alert of each store holding
    one of `products` (by id: reorder_level, is_volatile). Moving each stock row by 0 leaves the
    stock alone and lets move_stock decide."""
    held = session.execute(select(StockRow.product_id, StockRow.store).where(StockRow.product_id.in_(list(products))))
    move_stock(session, {(product_id, store): Decimal(0) for product_id, store in held}, products)


def adjust_stock(
    session: Session, product_id: int, quantity: Decimal, reason: str, device: str, store: str = MAIN_STORE
) -> Product | None:
    """An operator's signed change to one store's stock, with its reason kept; None if no such
    product. The store must exist (UnknownStore)."""
    check_stores(session, [store])
    product = session.get(Product, product_id)
    if product is None:
        return None
    [level] = move_stock(session, {(product_id, store): quantity}, {product_id: product})
    session.add(
        StockAdjustment(
            product_id=product_id,
            store=store,
            quantity=quantity,
            reason=reason,
            stock_after=level.stock,
            device=device,
        )
    )
    session.flush()
    return product


_MOVE_STOCK = text("""
    INSERT INTO stock_levels AS s (product_id, store, quantity)
    SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:stores AS varchar[]), CAST(:moves AS numeric[]))
    ON CONFLICT (product_id, store) DO UPDATE SET quantity = s.quantity + excluded.quantity, updated_at = now()
    RETURNING s.product_id, s.store, s.quantity, EXISTS (
        SELECT FROM stock_alerts a WHERE a.product_id = s.product_id AND a.store = s.store AND a.status = 'open')
""")


def move_stock(session: Session, moves: Mapping[StockKey, Decimal], products: Mapping) -> list[StockLevel]:
    """Add each signed move to its (product, store) stock in one statement, creating missing rows;
    raise and resolve the low-stock alerts the new levels call for. Rows are written, so locked,
    in (product, store) order: concurrent batches queue instead of deadlocking. `products`: each
    moved product's reorder_level and is_volatile, by id."""
    if not moves:
        return []
    keys = sorted(moves)
    rows = session.execute(
        _MOVE_STOCK,
        {"ids": [k[0] for k in keys], "stores": [k[1] for k in keys], "moves": [moves[k] for k in keys]},
    )
    levels = [
        StockLevel(
            product_id,
            store,
            quantity,
            products[product_id].reorder_level,
            has_open,
            products[product_id].is_volatile,
        )
        for product_id, store, quantity, has_open in rows
    ]
    raised, resolved = stock.alert_changes(levels)
    open_alerts(session, raised)
    if resolved:
        session.execute(
            update(StockAlert)
            .where(
                StockAlert.status == "open",
                tuple_(StockAlert.product_id, StockAlert.store).in_([(r.product_id, r.store) for r in resolved]),
            )
            .values(status="resolved", resolved_at=func.now())
        )
    return levels


def list_alerts(session: Session, status: str | None, store: str | None = None) -> list[StockAlert]:
    query = select(StockAlert).order_by(StockAlert.id)
    if status is not None:
        query = query.where(StockAlert.status == status)
    if store is not None:
        query = query.where(StockAlert.store == store)
    return list(session.scalars(query))


def open_alerts(session: Session, levels: list[StockLevel]) -> None:
    """Open an alert for each level unless its product has one open in that store already (the
    partial unique index decides)."""
    if levels:
        rows = [
            {
                "product_id": level.product_id,
                "store": level.store,
                "stock": level.stock,
                "reorder_level": level.reorder_level,
                "status": "open",
            }
            for level in levels
        ]
        session.execute(
            insert(StockAlert).on_conflict_do_nothing(
                index_elements=["product_id", "store"], index_where=StockAlert.status == "open"
            ),
            rows,
        )
