"""Applying sales and returns to products: exact totals, stock by store, the newest volatile price,
low-stock alerts, what may come back."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.sale import RETURN, Line, NewProduct, Sale
from domain.stock import (
    PricedLine,
    ProductState,
    Returnable,
    SaleRejected,
    StockLevel,
    alert_changes,
    apply_sales,
    price_sale,
    take_return,
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


def tracked(product_id: int, *, price: str | None = "1.50", reorder: str = "0") -> ProductState:
    return ProductState(product_id, False, None if price is None else d(price), d(reorder))


def volatile(
    product_id: int, *, price: str | None = "18.90", set_at: datetime | None = NOON, reorder: str = "0"
) -> ProductState:
    return ProductState(product_id, True, None if price is None else d(price), d(reorder), price_set_at=set_at)


def catalog(*products: ProductState) -> dict[int, ProductState]:
    return {p.id: p for p in products}


def line(product_id: int, quantity: str, price: str | None = None) -> Line:
    return Line(d(quantity), None if price is None else d(price), product_id)


def sale(*lines: Line, at: datetime = NOON, external_id: str = "till-7:0001", **more) -> Sale:
    return Sale(external_id, "till-7", "till-7", at, NOON + timedelta(days=1), tuple(lines), **more)


def returned(*lines: Line, external_id: str = "till-7:r001", **more) -> Sale:
    return sale(*lines, external_id=external_id, kind=RETURN, **more)


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
    products = catalog(tracked(JUICE_1L, price="2.49"), volatile(FISH_SEABASS, price=None, set_at=None))
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


# apply_sales: stock by store


def test_a_tracked_product_loses_the_quantity_sold_in_the_sales_store():
    effects = apply(catalog(tracked(BREAD_WEIGHED)), sale(line(BREAD_WEIGHED, "0.750")))
    assert effects.stock == {(BREAD_WEIGHED, "main"): d("-0.750")}


def test_stock_moves_by_every_line_of_every_sale_in_the_batch_each_in_its_store():
    products = catalog(tracked(BREAD_WEIGHED), tracked(JUICE_1L))
    effects = apply(
        products,
        sale(line(BREAD_WEIGHED, "0.750"), line(JUICE_1L, "2"), line(BREAD_WEIGHED, "1.125")),
        sale(line(JUICE_1L, "6"), external_id="till-7:0002", store="S1"),
        sale(line(BREAD_WEIGHED, "0.5"), at=hours(-30), external_id="till-2:0009"),
    )
    assert effects.stock == {
        (BREAD_WEIGHED, "main"): d("-2.375"),
        (JUICE_1L, "main"): d("-2"),
        (JUICE_1L, "S1"): d("-6"),
    }


def test_a_return_puts_stock_back_in_the_returning_store():
    products = catalog(tracked(JUICE_1L))
    effects = apply(products, sale(line(JUICE_1L, "3"), store="S1"), returned(line(JUICE_1L, "2"), store="S2"))
    assert effects.stock == {(JUICE_1L, "S1"): d("-3"), (JUICE_1L, "S2"): d("2")}


def test_a_returns_total_is_the_refund_and_positive():
    priced = price_sale(
        returned(line(JUICE_1L, "2", "2.49"), line(BREAD_WEIGHED, "1")),
        catalog(tracked(JUICE_1L), tracked(BREAD_WEIGHED)),
        {},
    )
    assert priced.total == d("6.48")


def test_selling_a_tracked_product_leaves_its_price_alone():
    effects = apply(catalog(tracked(JUICE_1L, price="2.49")), sale(line(JUICE_1L, "1", "1.99"), at=hours(5)))
    assert effects.products == {}


def test_a_volatile_products_stock_is_untouched_by_sales_and_returns():
    products = catalog(volatile(FISH_SEABASS))
    effects = apply(
        products, sale(line(FISH_SEABASS, "1.240", "19.50"), at=hours(1)), returned(line(FISH_SEABASS, "1"))
    )
    assert effects.stock == {}


def test_a_return_never_sets_a_volatile_price_however_new():
    products = catalog(volatile(FISH_SEABASS, price="18.90", set_at=NOON))
    effects = apply(products, returned(line(FISH_SEABASS, "1", "25.00"), at=hours(5)))
    assert effects.products == {}


def test_a_product_no_sale_touches_is_not_in_the_effects():
    products = catalog(tracked(BREAD_WEIGHED), tracked(JUICE_1L))
    effects = apply(products, sale(line(JUICE_1L, "1")))
    assert set(effects.stock) == {(JUICE_1L, "main")}


def test_applying_sales_does_not_mutate_the_products_it_was_given():
    products = catalog(tracked(JUICE_1L, reorder="12"), volatile(FISH_SEABASS, set_at=NOON))
    before = deepcopy(products)
    effects = apply(products, sale(line(JUICE_1L, "5"), line(FISH_SEABASS, "1", "21.00"), at=hours(2)))
    assert products == before
    assert effects.products[FISH_SEABASS] != products[FISH_SEABASS]


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


# alert_changes: low-stock alerts per (product, store)


def level(stock: str, reorder: str = "12", open_alert: bool = False, store: str = "main", **more) -> StockLevel:
    return StockLevel(JUICE_1L, store, d(stock), d(reorder), open_alert, **more)


def test_stock_below_the_reorder_level_raises_an_alert():
    assert alert_changes([level("11")]) == ([level("11")], [])


def test_no_second_alert_while_one_is_open():
    assert alert_changes([level("6", open_alert=True)]) == ([], [])


def test_stock_exactly_on_the_reorder_level_raises_no_alert():
    assert alert_changes([level("12")]) == ([], [])


def test_stock_back_at_the_reorder_level_resolves_the_open_alert():
    assert alert_changes([level("12", open_alert=True)]) == ([], [level("12", open_alert=True)])


def test_each_store_is_judged_on_its_own_stock():
    levels = [level("50", store="main"), level("3", store="S1"), level("20", store="S2", open_alert=True)]
    assert alert_changes(levels) == ([levels[1]], [levels[2]])


def test_a_volatile_product_never_raises_or_resolves_an_alert():
    assert alert_changes([level("-5", is_volatile=True), level("50", open_alert=True, is_volatile=True)]) == ([], [])


# take_return: what may come back of one original sale


def priced_return(*lines: Line):
    return price_sale(returned(*lines), catalog(tracked(JUICE_1L), tracked(BREAD_WEIGHED)), {})


def test_a_return_up_to_what_the_original_sold_is_taken_and_counted():
    returnable = Returnable({JUICE_1L: d("3")})
    take_return("orig", returnable, priced_return(line(JUICE_1L, "2")))
    take_return("orig", returnable, priced_return(line(JUICE_1L, "1")))
    assert returnable.returned == {JUICE_1L: d("3")}


def test_bringing_back_more_than_was_sold_is_rejected_naming_the_product_and_quantities():
    returnable = Returnable({JUICE_1L: d("3")}, {JUICE_1L: d("2")})
    with pytest.raises(
        SaleRejected, match=f"return of 2 x product {JUICE_1L} exceeds sale orig: it sold 3 and 2 came back before"
    ):
        take_return("orig", returnable, priced_return(line(JUICE_1L, "2")))
    assert returnable.returned == {JUICE_1L: d("2")}  # a refused return counts nothing


def test_lines_of_one_product_count_together():
    with pytest.raises(SaleRejected, match="return of 4 x"):
        take_return("orig", Returnable({JUICE_1L: d("3")}), priced_return(line(JUICE_1L, "2"), line(JUICE_1L, "2")))


def test_a_product_the_original_never_sold_cannot_come_back_against_it():
    with pytest.raises(SaleRejected, match=f"product {BREAD_WEIGHED} exceeds sale orig: it sold 0"):
        take_return("orig", Returnable({JUICE_1L: d("3")}), priced_return(line(BREAD_WEIGHED, "0.5")))


@pure
@given(st.lists(st.integers(min_value=1, max_value=5), max_size=20), st.integers(min_value=0, max_value=30))
def test_however_returns_come_the_taken_ones_never_exceed_what_was_sold(quantities, sold):
    returnable = Returnable({JUICE_1L: d(sold)})
    taken = 0
    for quantity in quantities:
        try:
            take_return("orig", returnable, priced_return(line(JUICE_1L, str(quantity))))
            taken += quantity
        except SaleRejected:
            pass
    assert taken <= sold
    assert returnable.returned.get(JUICE_1L, 0) == taken
