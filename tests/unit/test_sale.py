"""A sale travels from intake to apply as Sale.to_dict(): it must come back exactly as it left."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.sale import Line, NewProduct, Sale

pure = settings(database=None, deadline=None)

OPENED = datetime(2026, 1, 31, 14, 30, 0, 125000, tzinfo=UTC)


def a_sale(*lines: Line, external_id: str = "till-7:0001") -> Sale:
    return Sale(
        external_id=external_id,
        device="till-7",
        source_device="TILL-7 (bakery counter)",
        client_timestamp=OPENED,
        received_at=OPENED + timedelta(minutes=3),
        lines=tuple(lines),
    )


def through_the_queue(sale: Sale) -> Sale:
    """What the worker gets back: the dict, as JSON text, read again."""
    return Sale.from_dict(json.loads(json.dumps(sale.to_dict())))


def numbers_as_text(sale: Sale) -> list:
    """Each decimal's exact text: Decimal equality alone would accept '1.5' for '1.500'."""
    out = []
    for line in sale.lines:
        out += [str(line.quantity), str(line.unit_price)]
        if line.new_product is not None:
            out += [str(line.new_product.unit_price), str(line.new_product.reorder_level)]
    return out


BREAD = Line(quantity=Decimal("0.750"), unit_price=Decimal("1.50"), product_id=3)
JUICE_AT_CURRENT_PRICE = Line(quantity=Decimal("2"), unit_price=None, product_id=8)
NEW_SEA_BASS = Line(
    quantity=Decimal("1.240"),
    unit_price=Decimal("18.9000"),
    new_product=NewProduct(
        sku="FISH-SEABASS", name="Sea bass, whole", is_volatile=True, unit_price=None, reorder_level=Decimal("0")
    ),
)
NEW_JUICE = Line(
    quantity=Decimal("6"),
    unit_price=None,
    new_product=NewProduct(
        sku="JUICE-1L",
        name="Orange juice 1 L",
        is_volatile=False,
        unit_price=Decimal("2.4900"),
        reorder_level=Decimal("-12.500"),
    ),
)


def test_to_dict_writes_numbers_as_exact_strings_and_times_as_iso_text():
    assert a_sale(BREAD, JUICE_AT_CURRENT_PRICE).to_dict() == {
        "external_id": "till-7:0001",
        "device": "till-7",
        "source_device": "TILL-7 (bakery counter)",
        "client_timestamp": "2026-01-31T14:30:00.125000+00:00",
        "received_at": "2026-01-31T14:33:00.125000+00:00",
        "lines": [
            {"quantity": "0.750", "unit_price": "1.50", "product": 3, "product_data": None},
            {"quantity": "2", "unit_price": None, "product": 8, "product_data": None},
        ],
        "store": "main",
        "kind": "sale",
        "original_external_id": None,
        "sequence": None,
    }


def test_a_sale_queued_before_stores_and_returns_reads_back_as_a_sale_of_main():
    old = a_sale(BREAD).to_dict()
    for name in ("store", "kind", "original_external_id", "sequence"):
        del old[name]
    back = Sale.from_dict(old)
    assert (back.store, back.kind, back.original_external_id, back.is_return) == ("main", "sale", None, False)
    assert back.sequence is None  # queued before sequences existed: not tracked


def test_a_return_comes_back_equal_from_its_dict():
    sale = replace(
        a_sale(BREAD),
        store="S2",
        kind="return",
        original_external_id="0b7e3c52-2f8d-4ac1-9a43-6f1f2b0c9d11",
        sequence=41,
    )
    assert Sale.from_dict(sale.to_dict()) == sale
    assert sale.is_return


def test_to_dict_writes_product_data_for_a_product_the_server_may_not_know():
    line = a_sale(NEW_JUICE).to_dict()["lines"][0]
    assert line == {
        "quantity": "6",
        "unit_price": None,
        "product": None,
        "product_data": {
            "sku": "JUICE-1L",
            "name": "Orange juice 1 L",
            "is_volatile": False,
            "unit_price": "2.4900",
            "reorder_level": "-12.500",
        },
    }


def test_a_sale_with_known_and_new_products_comes_back_equal_from_its_dict():
    sale = a_sale(BREAD, JUICE_AT_CURRENT_PRICE, NEW_SEA_BASS, NEW_JUICE)
    back = Sale.from_dict(sale.to_dict())
    assert back == sale
    assert numbers_as_text(back) == numbers_as_text(sale)
    assert isinstance(back.lines, tuple)


def test_a_line_sold_at_the_current_price_keeps_a_none_unit_price():
    back = through_the_queue(a_sale(JUICE_AT_CURRENT_PRICE))
    assert back.lines[0].unit_price is None


def test_a_new_product_without_a_default_price_keeps_a_none_unit_price():
    back = through_the_queue(a_sale(NEW_SEA_BASS))
    assert back.lines[0].new_product == NEW_SEA_BASS.new_product
    assert back.lines[0].new_product.unit_price is None
    assert back.lines[0].product_id is None


def test_a_sale_survives_json_and_keeps_its_time_zone_offset():
    lisbon_summer = timezone(timedelta(hours=1))
    sale = Sale("till-2:0042", "till-2", "till-2", datetime(2026, 7, 1, 9, 0, tzinfo=lisbon_summer), OPENED, (BREAD,))
    back = through_the_queue(sale)
    assert back == sale
    assert back.client_timestamp.utcoffset() == timedelta(hours=1)


def test_the_dict_of_a_round_tripped_sale_is_the_same_dict():
    data = a_sale(BREAD, NEW_SEA_BASS, NEW_JUICE).to_dict()
    assert Sale.from_dict(data).to_dict() == data


quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("999999999.999"), places=3)
prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("999999999.9999"), places=4)
levels = st.decimals(min_value=Decimal("-999999999.999"), max_value=Decimal("999999999.999"), places=3)
new_products = st.builds(
    NewProduct,
    sku=st.sampled_from(["BREAD-WEIGHED", "JUICE-1L", "FISH-SEABASS", "FUEL-DIESEL"]),
    name=st.text(min_size=1, max_size=20),
    is_volatile=st.booleans(),
    unit_price=st.none() | prices,
    reorder_level=levels,
)
lines = st.one_of(
    st.builds(
        Line,
        quantity=quantities,
        unit_price=st.none() | prices,
        product_id=st.integers(min_value=1, max_value=2**31 - 1),
        new_product=st.none(),
    ),
    st.builds(Line, quantity=quantities, unit_price=st.none() | prices, product_id=st.none(), new_product=new_products),
)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@pure
@given(st.lists(lines, min_size=1, max_size=5), moments, moments)
def test_any_sale_round_trips_through_json_with_every_decimal_exact(sale_lines, sold_at, received_at):
    sale = Sale("till-9:0001", "till-9", "till-9", sold_at, received_at, tuple(sale_lines))
    back = through_the_queue(sale)
    assert back == sale
    assert numbers_as_text(back) == numbers_as_text(sale)
