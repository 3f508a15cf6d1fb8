"""What applying sales does to products: prices, totals, stock, price suggestions, low-stock alerts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from domain.money import EXACT
from domain.sale import Sale


@dataclass(frozen=True)
class ProductState:
    """A product's state as the apply step locked it."""

    id: int
    is_volatile: bool
    unit_price: Decimal | None
    stock: Decimal
    reorder_level: Decimal
    price_set_at: datetime | None = None  # Sale.price_time of the sale that set a volatile price
    has_open_alert: bool = False


class SaleRejected(Exception):
    """A sale that can never apply as sent; the message is for a person to act on."""


@dataclass(frozen=True)
class PricedLine:
    product_id: int
    quantity: Decimal
    unit_price: Decimal
    subtotal: Decimal


@dataclass(frozen=True)
class PricedSale:
    sale: Sale
    lines: tuple[PricedLine, ...]
    total: Decimal


@dataclass(frozen=True)
class StockFellBelowReorder:
    product_id: int
    stock: Decimal
    reorder_level: Decimal


@dataclass
class Effects:
    """What a batch of sales changes: only products that changed appear."""

    products: dict[int, ProductState] = field(default_factory=dict)
    alerts: list[StockFellBelowReorder] = field(default_factory=list)


def price_sale(sale: Sale, products: Mapping[int, ProductState], ids_by_sku: Mapping[str, int]) -> PricedSale:
    """Server-side totals: subtotal = quantity x unit price exactly, total = sum of subtotals."""
    lines = tuple(_price_line(line, products, ids_by_sku) for line in sale.lines)
    total = Decimal(0)
    for line in lines:
        total = EXACT.add(total, line.subtotal)
    return PricedSale(sale, lines, total)


def _price_line(line, products, ids_by_sku) -> PricedLine:
    product_id = line.product_id if line.new_product is None else ids_by_sku[line.new_product.sku]
    product = products.get(product_id)
    if product is None:
        raise SaleRejected(f"product {product_id} does not exist; send product_data to create it")
    unit_price = line.unit_price if line.unit_price is not None else product.unit_price
    if unit_price is None:
        raise SaleRejected(f"product {product_id} has no default price; send unit_price on the line")
    return PricedLine(product_id, line.quantity, unit_price, EXACT.multiply(line.quantity, unit_price))


def apply_sales(sales: Iterable[PricedSale], products: Mapping[int, ProductState]) -> Effects:
    """Stock down for tracked products (negative allowed), newest price kept for volatile ones."""
    changed: dict[int, ProductState] = {}
    for priced in sales:
        for line in priced.lines:
            product = changed.get(line.product_id) or products[line.product_id]
            sold = _sell(product, line, priced.sale.price_time)
            if sold is not product:
                changed[line.product_id] = sold
    return Effects(changed, [alert for p in changed.values() if (alert := _low_stock(p))])


def _sell(product: ProductState, line: PricedLine, sold_at: datetime) -> ProductState:
    if not product.is_volatile:
        return replace(product, stock=EXACT.subtract(product.stock, line.quantity))
    if product.price_set_at is None or sold_at > product.price_set_at:
        # An old offline sale arriving late must not overwrite a newer price.
        return replace(product, unit_price=line.unit_price, price_set_at=sold_at)
    return product


def _low_stock(product: ProductState) -> StockFellBelowReorder | None:
    if product.is_volatile or product.has_open_alert or product.stock >= product.reorder_level:
        return None
    return StockFellBelowReorder(product.id, product.stock, product.reorder_level)


def adjust_stock(product: ProductState, quantity: Decimal) -> tuple[ProductState, StockFellBelowReorder | None, bool]:
    """An operator's signed stock adjustment: the new state, an alert to open, whether to resolve one."""
    adjusted = replace(product, stock=EXACT.add(product.stock, quantity))
    resolves = product.has_open_alert and adjusted.stock >= adjusted.reorder_level
    return adjusted, _low_stock(adjusted), resolves
