"""Exact decimal rules: what salesync accepts as a quantity, price or level, and how it prints them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.money import (
    MAX_LINE_QUANTITY,
    MAX_PRICE,
    MAX_QUANTITY,
    PrecisionError,
    check_level,
    check_price,
    check_quantity,
    decimal_places,
    format_amount,
    format_quantity,
)

pure = settings(database=None, deadline=None)  # no example database written to disk


def d(text: str) -> Decimal:
    return Decimal(text)


def rejected(check, text: str) -> str:
    with pytest.raises(PrecisionError) as error:
        check(d(text))
    return str(error.value)


# decimal_places


@pytest.mark.parametrize(
    ("text", "places"),
    [
        ("1", 0),
        ("1.5", 1),
        ("1.899", 3),
        ("1.8990", 3),  # trailing zeros are not precision
        ("50.000", 0),
        ("0.0001", 4),
        ("-2.25", 2),
        ("1E+3", 0),  # a positive exponent has no places
        ("1E-7", 7),
        ("0", 0),
        ("0.000", 0),
    ],
)
def test_decimal_places_counts_only_significant_fraction_digits(text, places):
    assert decimal_places(d(text)) == places


# check_quantity


@pytest.mark.parametrize("text", ["0.001", "0.750", "1", "12.5", "999999.999", "1E+3"])
def test_a_quantity_within_three_places_and_range_is_returned_unchanged(text):
    value = d(text)
    assert check_quantity(value) is value


def test_a_weighed_quantity_finer_than_a_gram_is_rejected_not_rounded():
    assert rejected(check_quantity, "0.7505") == "has more than 3 decimal places"


def test_trailing_zeros_beyond_three_places_do_not_count_as_precision():
    assert check_quantity(d("0.75000000")) == d("0.75")


@pytest.mark.parametrize("text", ["0", "0.000", "-0"])
def test_a_zero_quantity_is_rejected(text):
    assert rejected(check_quantity, text) == "must be > 0"


def test_a_negative_quantity_is_rejected():
    assert rejected(check_quantity, "-1") == "must be > 0"


@pytest.mark.parametrize("text", ["1000000", "1000000.000", "1E+6", "-1000000", "5E+12"])
def test_a_line_quantity_of_a_million_or_more_is_out_of_range(text):
    assert rejected(check_quantity, text) == f"must be less than {MAX_LINE_QUANTITY} in size"


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_a_quantity_that_is_not_a_finite_number_is_rejected(text):
    assert rejected(check_quantity, text) == "must be a finite number"


# check_price


@pytest.mark.parametrize("text", ["0", "0.0000", "1.8990", "1.899", "0.0001", "999999999.9999", "21"])
def test_a_price_within_four_places_and_range_is_returned_unchanged(text):
    value = d(text)
    assert check_price(value) is value


def test_a_zero_price_is_accepted_for_a_free_item():
    assert check_price(d("0")) == 0


def test_a_price_with_five_places_is_rejected():
    assert rejected(check_price, "1.89901") == "has more than 4 decimal places"


@pytest.mark.parametrize("text", ["-0.01", "-1"])
def test_a_negative_price_is_rejected(text):
    assert rejected(check_price, text) == "must be >= 0"


def test_a_price_of_a_billion_is_out_of_range():
    assert rejected(check_price, "1000000000") == f"must be less than {MAX_PRICE} in size"


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_a_price_that_is_not_a_finite_number_is_rejected(text):
    assert rejected(check_price, text) == "must be a finite number"


# check_level


@pytest.mark.parametrize("text", ["-5", "-0.250", "0", "12.125", "-999999999.999", "999999999.999"])
def test_a_level_may_be_negative_zero_or_positive(text):
    value = d(text)
    assert check_level(value) is value


def test_a_level_with_four_places_is_rejected():
    assert rejected(check_level, "-0.0005") == "has more than 3 decimal places"


@pytest.mark.parametrize("text", ["1000000000", "-1000000000"])
def test_a_level_of_a_billion_either_way_is_out_of_range(text):
    assert rejected(check_level, text) == f"must be less than {MAX_QUANTITY} in size"


@pytest.mark.parametrize("text", ["NaN", "-Infinity"])
def test_a_level_that_is_not_a_finite_number_is_rejected(text):
    assert rejected(check_level, text) == "must be a finite number"


@pytest.mark.parametrize(
    ("check", "text"),
    [
        (check_quantity, "0.1000000000000000000000000000001"),  # 31 places, normalizes to 0.1
        (check_price, "1.0000000000000000000000000000004"),  # 31 places, normalizes to 1
        (check_level, "-2.0000000000000000000000000000001"),
    ],
)
def test_a_number_with_too_many_places_is_rejected_even_beyond_28_significant_digits(check, text):
    with pytest.raises(PrecisionError):
        check(d(text))


@pure
@given(st.decimals(min_value=d("0.001"), max_value=d("999999.999"), places=3))
def test_every_positive_quantity_with_at_most_three_places_is_accepted(value):
    assert check_quantity(value) is value


@pure
@given(
    st.decimals(min_value=d("-999999999.999"), max_value=d("999999999.999"), places=3),
    st.integers(min_value=1, max_value=9),
)
def test_adding_a_fourth_place_to_any_level_gets_it_rejected(value, digit):
    finer = value + Decimal(digit).scaleb(-4)
    with pytest.raises(PrecisionError):
        check_level(finer)


# format_quantity


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("50.000", "50"),
        ("0.500", "0.5"),
        ("0.750", "0.75"),
        ("-0", "0"),
        ("-0.000", "0"),
        ("0.000", "0"),
        ("-2.500", "-2.5"),
        ("1E+3", "1000"),
        ("5E+8", "500000000"),
        ("1E-7", "0.0000001"),
        ("999999999.999", "999999999.999"),
    ],
)
def test_format_quantity_gives_the_shortest_exact_text_without_exponents(text, shown):
    assert format_quantity(d(text)) == shown


@pure
@given(st.decimals(min_value=d("-999999999.999"), max_value=d("999999999.999"), places=3))
def test_format_quantity_reads_back_as_the_same_number(value):
    text = format_quantity(value)
    assert "E" not in text.upper()
    assert text != "-0"
    assert Decimal(text) == value


# format_amount


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1.1250000", "1.125"),
        ("1.125", "1.125"),
        ("21", "21.00"),
        ("21.0000", "21.00"),
        ("0", "0.00"),
        ("-0", "0.00"),
        ("1.5", "1.50"),
        ("1.8990", "1.899"),
        ("-3.1", "-3.10"),
        ("1E+3", "1000.00"),
        ("0.0000001", "0.0000001"),
    ],
)
def test_format_amount_keeps_at_least_two_places_and_never_rounds(text, shown):
    assert format_amount(d(text)) == shown


@pure
@given(st.decimals(min_value=d("-999999999999999999.9999999"), max_value=d("999999999999999999.9999999"), places=7))
def test_format_amount_reads_back_as_the_same_amount(value):
    text = format_amount(value)
    _whole, point, fraction = text.partition(".")
    assert point == "."
    assert len(fraction) >= 2
    assert "E" not in text.upper()
    assert Decimal(text) == value
