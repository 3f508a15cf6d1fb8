"""What applying sales and returns does to products: prices, totals, stock per store, price
suggestions, low-stock alerts, and how much of a sale may come back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from domain.money import EXACT, format_quantity
from domain.sale import Sale

StockKey = tuple[int, str]  # (product id, store code): where stock is kept


@dataclass(frozen=True)
class ProductState:
    """A product's prices as the apply step read them (stock is kept per store: StockLevel)."""

    id: int
    is_volatile: bool
    unit_price: Decimal | None
    reorder_level: Decimal
    price_set_at: datetime | None = None  # Sale.happened_at of the sale that set a volatile price


@dataclass(frozen=True)
class StockLevel:
    """A product's stock in one store, as it stands after a change."""

    product_id: int
    store: str
    stock: Decimal
    reorder_level: Decimal
    has_open_alert: bool = False
    is_volatile: bool = False  # a volatile product's stock is not tracked: it never alerts


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
    total: Decimal  # a return's is the refund: positive too


@dataclass
class Effects:
    """What a batch of sales and returns changes: only what changed appears."""

    products: dict[int, ProductState] = field(default_factory=dict)  # new volatile price suggestions
    stock: dict[StockKey, Decimal] = field(default_factory=dict)  # net stock moves of tracked products


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
    """Tracked stock down by a sale and up by a return, in the sale's store (negative allowed);
    the newest sold price kept for volatile products (a return never sets one)."""
    effects = Effects()
    for priced in sales:
        sale = priced.sale
        for line in priced.lines:
            product = effects.products.get(line.product_id) or products[line.product_id]
            if not product.is_volatile:
                key = (line.product_id, sale.store)
                moved = line.quantity if sale.is_return else -line.quantity
                effects.stock[key] = EXACT.add(effects.stock.get(key, Decimal(0)), moved)
            elif not sale.is_return and (product.price_set_at is None or sale.happened_at > product.price_set_at):
                # An old offline sale arriving late must not overwrite a newer price.
                effects.products[line.product_id] = replace(
                    product, unit_price=line.unit_price, price_set_at=sale.happened_at
                )
    return effects


def alert_changes(levels: Iterable[StockLevel]) -> tuple[list[StockLevel], list[StockLevel]]:
    """Which stock levels raise a low-stock alert (below the reorder level, none open for that
    product and store) and which resolve theirs (back at or above it)."""
    raised, resolved = [], []
    for level in levels:
        if level.is_volatile:
            continue
        low = level.stock < level.reorder_level
        if low and not level.has_open_alert:
            raised.append(level)
        elif not low and level.has_open_alert:
            resolved.append(level)
    return raised, resolved


@dataclass
class Returnable:
    """What one original sale sold and what applied returns already brought back, by product."""

    sold: dict[int, Decimal]
    returned: dict[int, Decimal] = field(default_factory=dict)


def by_product(priced: PricedSale) -> dict[int, Decimal]:
    """A sale's quantities summed by product (several lines may sell one product)."""
    quantities: dict[int, Decimal] = {}
    for line in priced.lines:
        quantities[line.product_id] = EXACT.add(quantities.get(line.product_id, Decimal(0)), line.quantity)
    return quantities


def take_return(original_id: str, returnable: Returnable, priced: PricedSale) -> None:
    """Count a return against its original (in `returnable`, updated); SaleRejected if it would
    bring back more of a product than the original sold, with this and earlier returns together."""
    wanted = by_product(priced)
    for product_id, quantity in sorted(wanted.items()):
        sold = returnable.sold.get(product_id, Decimal(0))
        before = returnable.returned.get(product_id, Decimal(0))
        if EXACT.add(before, quantity) > sold:
            raise SaleRejected(
                f"return of {format_quantity(quantity)} x product {product_id} exceeds sale {original_id}: "
                f"it sold {format_quantity(sold)} and {format_quantity(before)} came back before"
            )
    for product_id, quantity in wanted.items():
        returnable.returned[product_id] = EXACT.add(returnable.returned.get(product_id, Decimal(0)), quantity)
