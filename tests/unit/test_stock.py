"""Applying sales to products: exact totals, stock, the newest volatile price, low-stock alerts."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.sale import Line, NewProduct, Sale
from domain.stock import (
    PricedLine,
    ProductState,
    SaleRejected,
    StockFellBelowReorder,
    adjust_stock,
    apply_sales,
    price_sale,
)

pure = settings(database=None, deadline=None)

NOON = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)

BREAD_WEIGHED = 3  # tracked, sold by the kilo
JUICE_1L = 8  # tracked, reorder at 12
FISH_SEABASS = 21  # volatile: priced at the counter each morning


def d(text: str) -> Decimal:
    return Decimal(text)


def hours(n: float) -> datetime:
    return NOON + timedelta(hours=n)


def tracked(
    product_id: int, *, price: str | None = "1.50", stock: str = "100", reorder: str = "0", open_alert: bool = False
) -> ProductState:
    return ProductState(
        product_id, False, None if price is None else d(price), d(stock), d(reorder), has_open_alert=open_alert
    )


def volatile(
    product_id: int,
    *,
    price: str | None = "18.90",
    set_at: datetime | None = NOON,
    stock: str = "0",
    reorder: str = "0",
) -> ProductState:
    return ProductState(
        product_id, True, None if price is None else d(price), d(stock), d(reorder), price_set_at=set_at
    )


def catalog(*products: ProductState) -> dict[int, ProductState]:
    return {p.id: p for p in products}


def line(product_id: int, quantity: str, price: str | None = None) -> Line:
    return Line(d(quantity), None if price is None else d(price), product_id)


def sale(*lines: Line, at: datetime = NOON, external_id: str = "till-7:0001") -> Sale:
    return Sale(external_id, "till-7", "till-7", at, NOON + timedelta(days=1), tuple(lines))


def apply(products: dict[int, ProductState], *sales: Sale):
    return apply_sales([price_sale(s, products, {}) for s in sales], products)


# price_sale


def test_three_quarters_of_a_kilo_at_one_fifty_costs_exactly_one_point_one_two_five():
    products = catalog(tracked(BREAD_WEIGHED, price="1.50"))
    priced = price_sale(sale(line(BREAD_WEIGHED, "0.75", "1.50")), products, {})
    assert priced.lines == (PricedLine(BREAD_WEIGHED, d("0.75"), d("1.50"), d("1.125")),)
    assert str(priced.lines[0].subtotal) == "1.1250"  # not rounded to cents
    assert priced.total == d("1.125")


def test_the_total_is_the_exact_sum_of_the_subtotals():
    products = catalog(tracked(BREAD_WEIGHED), tracked(JUICE_1L, price="2.49"))
    priced = price_sale(
        sale(line(BREAD_WEIGHED, "0.75", "1.50"), line(JUICE_1L, "3", "2.49"), line(BREAD_WEIGHED, "0.333", "1.8990")),
        products,
        {},
    )
    assert [p.subtotal for p in priced.lines] == [d("1.125"), d("7.47"), d("0.6323670")]
    assert priced.total == d("9.2273670")
    assert priced.sale.external_id == "till-7:0001"


def test_a_line_without_a_unit_price_sells_at_the_products_default_price():
    products = catalog(tracked(JUICE_1L, price="2.49"))
    priced = price_sale(sale(line(JUICE_1L, "2")), products, {})
    assert priced.lines[0].unit_price == d("2.49")
    assert priced.total == d("4.98")


def test_a_line_unit_price_wins_over_the_default_price():
    products = catalog(tracked(JUICE_1L, price="2.49"))
    priced = price_sale(sale(line(JUICE_1L, "2", "1.99")), products, {})
    assert priced.lines[0].unit_price == d("1.99")
    assert priced.total == d("3.98")


def test_a_zero_price_line_is_free_not_a_fallback_to_the_default():
    products = catalog(tracked(JUICE_1L, price="2.49"))
    priced = price_sale(sale(line(JUICE_1L, "1", "0")), products, {})
    assert priced.lines[0].unit_price == 0
    assert priced.total == 0


def test_a_sale_of_an_unknown_product_id_is_rejected():
    with pytest.raises(SaleRejected, match="product 404 does not exist; send product_data to create it"):
        price_sale(sale(line(JUICE_1L, "1", "2.49"), line(404, "1", "1.00")), catalog(tracked(JUICE_1L)), {})


def test_a_product_without_a_default_price_needs_a_unit_price_on_the_line():
    products = catalog(volatile(FISH_SEABASS, price=None, set_at=None))
    with pytest.raises(SaleRejected, match=f"product {FISH_SEABASS} has no default price; send unit_price"):
        price_sale(sale(line(FISH_SEABASS, "1.240")), products, {})


def test_a_product_data_line_resolves_its_product_by_sku():
    new_juice = Line(d("6"), None, new_product=NewProduct("JUICE-1L", "Orange juice 1 L", False, d("2.49")))
    new_fish = Line(d("1.240"), d("18.90"), new_product=NewProduct("FISH-SEABASS", "Sea bass", True))
    products = catalog(tracked(JUICE_1L, price="2.49", stock="0"), volatile(FISH_SEABASS, price=None, set_at=None))
    priced = price_sale(sale(new_juice, new_fish), products, {"JUICE-1L": JUICE_1L, "FISH-SEABASS": FISH_SEABASS})
    assert priced.lines == (
        PricedLine(JUICE_1L, d("6"), d("2.49"), d("14.94")),
        PricedLine(FISH_SEABASS, d("1.240"), d("18.90"), d("23.436")),
    )
    assert priced.total == d("38.376")


def test_a_product_data_line_whose_product_was_not_loaded_is_rejected():
    new_juice = Line(d("6"), d("2.49"), new_product=NewProduct("JUICE-1L", "Orange juice 1 L", False))
    with pytest.raises(SaleRejected, match="product 8 does not exist"):
        price_sale(sale(new_juice), {}, {"JUICE-1L": JUICE_1L})


quantities = st.decimals(min_value=d("0.001"), max_value=d("999999999.999"), places=3)
prices = st.decimals(min_value=d("0"), max_value=d("999999999.9999"), places=4)


@pure
@given(st.lists(st.tuples(quantities, prices), min_size=1, max_size=50))
def test_the_total_is_exactly_the_sum_of_quantity_times_price_with_no_float(pairs):
    products = catalog(tracked(JUICE_1L))
    priced = price_sale(sale(*(Line(q, p, JUICE_1L) for q, p in pairs)), products, {})
    exact = sum((Fraction(q) * Fraction(p) for q, p in pairs), Fraction(0))  # independent exact arithmetic
    assert isinstance(priced.total, Decimal)
    assert Fraction(priced.total) == exact
    assert [Fraction(line.subtotal) for line in priced.lines] == [Fraction(q) * Fraction(p) for q, p in pairs]


# apply_sales: stock


def test_a_tracked_product_loses_the_quantity_sold():
    effects = apply(catalog(tracked(BREAD_WEIGHED, stock="10")), sale(line(BREAD_WEIGHED, "0.750")))
    assert effects.products[BREAD_WEIGHED].stock == d("9.250")


def test_stock_goes_down_by_every_line_of_every_sale_in_the_batch():
    products = catalog(tracked(BREAD_WEIGHED, stock="10"), tracked(JUICE_1L, stock="24"))
    effects = apply(
        products,
        sale(line(BREAD_WEIGHED, "0.750"), line(JUICE_1L, "2"), line(BREAD_WEIGHED, "1.125")),
        sale(line(JUICE_1L, "6"), external_id="till-7:0002"),
        sale(line(BREAD_WEIGHED, "0.5"), at=hours(-30), external_id="till-2:0009"),
    )
    assert effects.products[BREAD_WEIGHED].stock == d("7.625")
    assert effects.products[JUICE_1L].stock == d("16")


def test_a_tracked_product_may_sell_into_negative_stock():
    effects = apply(catalog(tracked(JUICE_1L, stock="1")), sale(line(JUICE_1L, "3")))
    assert effects.products[JUICE_1L].stock == d("-2")


def test_selling_a_tracked_product_leaves_its_price_alone():
    effects = apply(catalog(tracked(JUICE_1L, price="2.49")), sale(line(JUICE_1L, "1", "1.99"), at=hours(5)))
    assert effects.products[JUICE_1L].unit_price == d("2.49")
    assert effects.products[JUICE_1L].price_set_at is None


def test_a_volatile_products_stock_is_untouched_by_sales():
    effects = apply(catalog(volatile(FISH_SEABASS, stock="4")), sale(line(FISH_SEABASS, "1.240", "19.50"), at=hours(1)))
    assert effects.products[FISH_SEABASS].stock == d("4")


def test_a_product_no_sale_touches_is_not_in_the_effects():
    products = catalog(tracked(BREAD_WEIGHED), tracked(JUICE_1L))
    effects = apply(products, sale(line(JUICE_1L, "1")))
    assert set(effects.products) == {JUICE_1L}


def test_applying_sales_does_not_mutate_the_products_it_was_given():
    products = catalog(tracked(JUICE_1L, stock="12", reorder="12"), volatile(FISH_SEABASS, set_at=NOON))
    before = deepcopy(products)
    effects = apply(products, sale(line(JUICE_1L, "5"), line(FISH_SEABASS, "1", "21.00"), at=hours(2)))
    assert products == before
    assert effects.products[JUICE_1L] != products[JUICE_1L]


# apply_sales: the newest volatile price


def test_a_newer_sale_sets_a_volatile_products_price_and_when():
    effects = apply(
        catalog(volatile(FISH_SEABASS, price="18.90", set_at=NOON)),
        sale(line(FISH_SEABASS, "1.240", "19.50"), at=hours(1)),
    )
    assert effects.products[FISH_SEABASS].unit_price == d("19.50")
    assert effects.products[FISH_SEABASS].price_set_at == hours(1)


def test_an_old_offline_sale_arriving_late_does_not_overwrite_a_newer_price():
    effects = apply(
        catalog(volatile(FISH_SEABASS, price="18.90", set_at=NOON)),
        sale(line(FISH_SEABASS, "1.240", "15.00"), at=hours(-26)),
    )
    assert FISH_SEABASS not in effects.products  # nothing to write back


def test_a_till_clock_running_ahead_cannot_pin_a_volatile_price_against_later_real_sales():
    received = NOON + timedelta(days=1)  # when sale() says the server received it
    ahead = apply(
        catalog(volatile(FISH_SEABASS, price="18.90", set_at=NOON)),
        sale(line(FISH_SEABASS, "1", "99.00"), at=received + timedelta(hours=23)),
    )
    assert ahead.products[FISH_SEABASS].price_set_at == received  # its time counts as when it was received
    real = Sale(
        "till-8:0001",
        "till-8",
        "till-8",
        received + timedelta(minutes=5),
        received + timedelta(minutes=5),
        (line(FISH_SEABASS, "1", "19.00"),),
    )  # a till with a right clock, five minutes later
    later = apply(ahead.products, real)
    assert later.products[FISH_SEABASS].unit_price == d("19.00")


def test_a_sale_at_the_same_moment_as_the_price_does_not_overwrite_it():
    effects = apply(
        catalog(volatile(FISH_SEABASS, price="18.90", set_at=NOON)), sale(line(FISH_SEABASS, "1", "17.00"), at=NOON)
    )
    assert FISH_SEABASS not in effects.products


def test_a_volatile_product_never_priced_by_a_sale_takes_the_price_of_any_sale():
    effects = apply(
        catalog(volatile(FISH_SEABASS, price="18.90", set_at=None)),
        sale(line(FISH_SEABASS, "1", "12.00"), at=datetime(2001, 1, 1, tzinfo=UTC)),
    )
    assert effects.products[FISH_SEABASS].unit_price == d("12.00")
    assert effects.products[FISH_SEABASS].price_set_at == datetime(2001, 1, 1, tzinfo=UTC)


def test_within_one_batch_the_newest_sale_price_wins_whatever_the_order():
    products = catalog(volatile(FISH_SEABASS, price="18.90", set_at=NOON))
    effects = apply(
        products,
        sale(line(FISH_SEABASS, "1", "20.00"), at=hours(3), external_id="till-1:0001"),
        sale(line(FISH_SEABASS, "1", "19.00"), at=hours(1), external_id="till-2:0001"),
        sale(line(FISH_SEABASS, "1", "17.00"), at=hours(-1), external_id="till-3:0001"),
    )
    assert effects.products[FISH_SEABASS].unit_price == d("20.00")
    assert effects.products[FISH_SEABASS].price_set_at == hours(3)


# apply_sales: low-stock alerts


def test_selling_below_the_reorder_level_raises_one_alert():
    effects = apply(catalog(tracked(JUICE_1L, stock="14", reorder="12")), sale(line(JUICE_1L, "3")))
    assert effects.alerts == [StockFellBelowReorder(JUICE_1L, d("11"), d("12"))]


def test_several_sales_crossing_the_reorder_level_raise_a_single_alert_with_the_final_stock():
    effects = apply(
        catalog(tracked(JUICE_1L, stock="14", reorder="12")),
        sale(line(JUICE_1L, "3"), line(JUICE_1L, "1")),
        sale(line(JUICE_1L, "4"), external_id="till-7:0002"),
    )
    assert effects.alerts == [StockFellBelowReorder(JUICE_1L, d("6"), d("12"))]


def test_no_alert_while_one_is_already_open():
    effects = apply(catalog(tracked(JUICE_1L, stock="11", reorder="12", open_alert=True)), sale(line(JUICE_1L, "5")))
    assert effects.products[JUICE_1L].stock == d("6")
    assert effects.alerts == []


def test_stock_landing_exactly_on_the_reorder_level_raises_no_alert():
    effects = apply(catalog(tracked(JUICE_1L, stock="15", reorder="12")), sale(line(JUICE_1L, "3")))
    assert effects.products[JUICE_1L].stock == d("12")
    assert effects.alerts == []


def test_a_volatile_product_never_raises_a_low_stock_alert():
    effects = apply(
        catalog(volatile(FISH_SEABASS, stock="-5", reorder="10", set_at=None)), sale(line(FISH_SEABASS, "1", "18.90"))
    )
    assert FISH_SEABASS in effects.products
    assert effects.alerts == []


def test_only_the_product_that_fell_below_its_level_is_alerted():
    products = catalog(tracked(BREAD_WEIGHED, stock="50", reorder="5"), tracked(JUICE_1L, stock="13", reorder="12"))
    effects = apply(products, sale(line(BREAD_WEIGHED, "2.5"), line(JUICE_1L, "2")))
    assert effects.alerts == [StockFellBelowReorder(JUICE_1L, d("11"), d("12"))]


# adjust_stock


def test_restocking_to_the_reorder_level_resolves_the_open_alert():
    product, alert, resolves = adjust_stock(tracked(JUICE_1L, stock="4", reorder="12", open_alert=True), d("8"))
    assert product.stock == d("12")
    assert alert is None
    assert resolves is True


def test_restocking_above_the_reorder_level_resolves_the_open_alert():
    _, alert, resolves = adjust_stock(tracked(JUICE_1L, stock="4", reorder="12", open_alert=True), d("24"))
    assert (alert, resolves) == (None, True)


def test_restocking_that_stays_below_the_level_keeps_the_alert_open_and_raises_no_other():
    product, alert, resolves = adjust_stock(tracked(JUICE_1L, stock="4", reorder="12", open_alert=True), d("7.999"))
    assert product.stock == d("11.999")
    assert (alert, resolves) == (None, False)


def test_writing_stock_off_below_the_level_opens_an_alert_when_none_is_open():
    product, alert, resolves = adjust_stock(tracked(BREAD_WEIGHED, stock="6", reorder="5"), d("-1.250"))
    assert product.stock == d("4.750")
    assert alert == StockFellBelowReorder(BREAD_WEIGHED, d("4.750"), d("5"))
    assert resolves is False


def test_writing_stock_off_to_exactly_the_level_opens_no_alert():
    _, alert, resolves = adjust_stock(tracked(BREAD_WEIGHED, stock="6", reorder="5"), d("-1"))
    assert (alert, resolves) == (None, False)


def test_writing_stock_off_with_an_alert_already_open_opens_no_second_one():
    _, alert, resolves = adjust_stock(tracked(BREAD_WEIGHED, stock="4", reorder="5", open_alert=True), d("-2"))
    assert (alert, resolves) == (None, False)


def test_adjusting_a_volatile_product_never_alerts():
    product, alert, resolves = adjust_stock(volatile(FISH_SEABASS, stock="3", reorder="5"), d("-10"))
    assert product.stock == d("-7")
    assert (alert, resolves) == (None, False)


def test_adjusting_stock_returns_a_new_product_and_leaves_the_original_alone():
    original = tracked(JUICE_1L, stock="4", reorder="12", open_alert=True)
    product, _, _ = adjust_stock(original, d("10"))
    assert original.stock == d("4")
    assert product.stock == d("14")
    assert (product.id, product.unit_price, product.reorder_level) == (JUICE_1L, d("1.50"), d("12"))
