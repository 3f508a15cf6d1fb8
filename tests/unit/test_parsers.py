"""Property tests for the request parsers (web/body.py read_json + the models of web/schemas.py).

Whatever the body, the parser either returns exact values or raises a ProblemError (400/415): never a
float, never a rounded number, never another exception (which would be a 500). The rules are in
docs/api.md, "Input rules".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from web.body import parse, read_json
from web.problems import ProblemError
from web.schemas import MAX_ITEMS, ProductIn, SaleIn, StockAdjustmentIn

APP = Flask(__name__)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read(raw: bytes | str):
    with APP.test_request_context("/", method="POST", data=raw, content_type="application/json"):
        return read_json()


def outcome(model, raw: bytes | str):
    """The parsed model, or the ProblemError a client would get."""
    try:
        return parse(model, read(raw))
    except ProblemError as problem:
        assert problem.status == 400, problem.body()
        return problem


def fields(problem) -> list[str]:
    assert isinstance(problem, ProblemError), f"expected a 400, got {problem!r}"
    return [error["field"] for error in problem.errors or []]


def sale_with(quantity_text: str, price_text: str = '"1"') -> str:
    return f'{{"items": [{{"product": 1, "quantity": {quantity_text}, "unit_price": {price_text}}}]}}'


def no_floats(value) -> bool:
    if isinstance(value, dict):
        return all(no_floats(v) for v in value.values())
    if isinstance(value, list):
        return all(no_floats(v) for v in value)
    return not isinstance(value, float)


quantities = st.decimals(
    min_value=Decimal("0.001"), max_value=Decimal("999999.999"), places=3, allow_nan=False, allow_infinity=False
)


# Exact decimals ---------------------------------------------------------------------------------


@FAST
@given(quantities, st.booleans(), st.integers(0, 4))
def test_quantities_are_read_exactly_from_json_numbers_and_strings(value, as_string, zeros):
    text = format(value, "f") + ("0" * zeros if "." in format(value, "f") else "")
    parsed = outcome(SaleIn, sale_with(json.dumps(text) if as_string else text))

    assert isinstance(parsed, SaleIn), parsed.body()
    assert isinstance(parsed.items[0].quantity, Decimal)
    assert parsed.items[0].quantity == Decimal(text) == value  # trailing zeros do not count


@FAST
@given(
    st.lists(
        st.decimals(
            min_value=Decimal("-1e6"), max_value=Decimal("1e6"), places=3, allow_nan=False, allow_infinity=False
        ),
        min_size=1,
        max_size=20,
    )
)
def test_json_numbers_never_pass_through_float(values):
    body = read("[" + ", ".join(format(v, "f") for v in values) + "]")

    assert no_floats(body)
    assert sum(body, Decimal(0)) == sum(values, Decimal(0))


def test_one_tenth_plus_two_tenths_is_three_tenths():
    body = read('{"a": 0.1, "b": 0.2, "c": 1e-1}')

    assert body["a"] + body["b"] == Decimal("0.3")
    assert body["c"] == Decimal("0.1")


# NaN, Infinity, range, places -------------------------------------------------------------------


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_bare_nan_and_infinity_are_malformed_json(token):
    problem = outcome(SaleIn, sale_with(token))

    assert isinstance(problem, ProblemError) and problem.title == "Malformed JSON"


@pytest.mark.parametrize(
    "text",
    [
        '"NaN"',
        '"nan"',
        '"sNaN"',
        '"Infinity"',
        '"-inf"',
        '"Inf"',
        "1e400",
        "-1e400",
        "1e-400",
        '"1e400"',
        "1000000",
        "-0.001",
        "0",
        '"0.0000"',
        '""',
        '" "',
        '"1,5"',
        '"0x10"',
        "9" * 5000,
        "9" * 5000 + ".5",
    ],
)
def test_non_finite_out_of_range_or_unreadable_quantities_are_a_field_error(text):
    problem = outcome(SaleIn, sale_with(text))

    assert fields(problem) == ["items.0.quantity"] or problem.title == "Malformed JSON"


@FAST
@given(st.integers(min_value=10**9, max_value=10**400), st.booleans(), st.booleans())
def test_huge_numbers_are_refused_in_both_signs(value, negative, as_string):
    text = str(-value if negative else value)
    problem = outcome(
        StockAdjustmentIn, json.dumps({"quantity": text if as_string else "X", "reason": "r"}).replace('"X"', text)
    )

    assert isinstance(problem, ProblemError)  # too many digits for an int is malformed JSON, else a field error
    assert problem.title == "Malformed JSON" or fields(problem) == ["quantity"]


@FAST
@given(
    st.decimals(
        min_value=Decimal("-999999999"), max_value=Decimal("999999999"), places=3, allow_nan=False, allow_infinity=False
    )
)
def test_levels_are_signed(value):
    parsed = outcome(StockAdjustmentIn, f'{{"quantity": {format(value, "f")}, "reason": "count"}}')

    assert isinstance(parsed, StockAdjustmentIn) and parsed.quantity == value


@FAST
@given(st.integers(4, 12), st.integers(1, 10**6), st.booleans())
def test_more_places_than_allowed_is_refused_never_rounded(places, digits, as_string):
    text = f"{digits}.{'0' * (places - 1)}1"  # the last place carries a digit
    problem = outcome(SaleIn, sale_with(json.dumps(text) if as_string else text, price_text=f'"{text}"'))

    assert set(fields(problem)) == {"items.0.quantity"} | ({"items.0.unit_price"} if places > 4 else set())


# Wrong types --------------------------------------------------------------------------------------

wrong = st.one_of(
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@FAST
@given(wrong)
def test_a_quantity_of_the_wrong_type_is_a_field_error(value):
    assert fields(outcome(SaleIn, sale_with(json.dumps(value)))) == ["items.0.quantity"]


@FAST
@given(
    st.one_of(
        wrong, st.text(max_size=5), st.floats(allow_nan=False, allow_infinity=False).map(str), st.integers(max_value=0)
    )
)
def test_a_product_id_must_be_a_positive_integer(value):
    body = json.dumps({"items": [{"product": "X", "quantity": "1"}]}).replace('"X"', json.dumps(value))

    parsed = outcome(SaleIn, body)
    assert isinstance(parsed, ProblemError)  # None leaves the line without a product: an error on the line


@FAST
@given(
    st.one_of(
        st.integers(),
        st.text(max_size=5),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(st.none(), max_size=2),
    )
)
def test_a_body_that_is_not_an_object_or_a_flag_that_is_not_a_boolean_is_refused(value):
    assert isinstance(outcome(SaleIn, json.dumps(value)), ProblemError)
    product = {"sku": "S", "name": "N", "is_volatile": value}
    assert fields(outcome(ProductIn, json.dumps(product))) == ["is_volatile"]


# Text -----------------------------------------------------------------------------------------------

# Unicode's White_Space property: what is stripped (Python's str.strip() also strips \x1c-\x1f).
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)


@FAST
@given(st.text(max_size=260), st.text(max_size=80))
def test_names_and_skus_are_any_unicode_stripped_and_bounded(name, sku):
    parsed = outcome(ProductIn, json.dumps({"sku": sku, "name": name}))

    name, sku = name.strip(WHITE_SPACE), sku.strip(WHITE_SPACE)
    expect_name = 1 <= len(name) <= 200 and "\x00" not in name
    expect_sku = 1 <= len(sku) <= 64 and "\x00" not in sku
    if expect_name and expect_sku:
        assert isinstance(parsed, ProductIn), parsed.body()
        assert (parsed.name, parsed.sku) == (name, sku)
    else:
        assert set(fields(parsed)) == {f for f, ok in (("name", expect_name), ("sku", expect_sku)) if not ok}


@pytest.mark.parametrize(
    "model, body, field",
    [
        (ProductIn, {"sku": "A\x00", "name": "N"}, "sku"),
        (ProductIn, {"sku": "A", "name": "N\x00"}, "name"),
        (StockAdjustmentIn, {"quantity": "1", "reason": "\x00"}, "reason"),
        (SaleIn, {"source_device": "till\x00", "items": [{"product": 1, "quantity": 1}]}, "source_device"),
    ],
)
def test_the_nul_character_is_refused_since_postgresql_text_cannot_hold_it(model, body, field):
    assert fields(outcome(model, json.dumps(body))) == [field]


def test_lone_surrogates_are_refused_not_stored():
    assert fields(outcome(ProductIn, '{"sku": "A\\ud800", "name": "N"}')) == ["sku"]


# Nesting and size -------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 200_000), st.sampled_from(["[", '{"a": ']), st.sampled_from(["quantity", "ignored", "body"]))
def test_deep_nesting_is_a_400_or_ignored_never_a_crash(depth, opener, where):
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    body = {
        "quantity": sale_with(nested),
        "ignored": f'{{"x": {nested}, "items": [{{"product": 1, "quantity": 1}}]}}',
        "body": nested,
    }[where]

    parsed = outcome(SaleIn, body)  # the assertions live in outcome(): a SaleIn or a 400

    if where == "quantity":
        assert isinstance(parsed, ProblemError)


def test_more_lines_than_allowed_is_refused():
    lines = [{"product": 1, "quantity": 1}] * (MAX_ITEMS + 1)

    assert fields(outcome(SaleIn, json.dumps({"items": lines}))) == ["items"]
    assert isinstance(outcome(SaleIn, json.dumps({"items": lines[:MAX_ITEMS]})), SaleIn)


def test_a_body_that_is_not_json_is_415():
    with (
        APP.test_request_context("/", method="POST", data="items=1", content_type="text/plain"),
        pytest.raises(ProblemError) as raised,
    ):
        read_json()
    assert raised.value.status == 415


# Timestamps -------------------------------------------------------------------------------------------

offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@FAST
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
def test_a_timestamp_without_a_time_zone_is_refused(moment):
    problem = outcome(
        SaleIn, json.dumps({"client_timestamp": moment.isoformat(), "items": [{"product": 1, "quantity": 1}]})
    )

    assert fields(problem) == ["client_timestamp"]


@FAST
@given(st.floats(min_value=-50 * 365 * 24, max_value=50 * 365 * 24), offsets)
def test_any_valid_time_past_or_ahead_is_accepted_and_kept_in_utc(hours_ahead, zone):
    """A till's clock may be wrong either way; the money was taken all the same."""
    moment = (datetime.now(UTC) + timedelta(hours=hours_ahead)).astimezone(zone)
    parsed = outcome(
        SaleIn, json.dumps({"client_timestamp": moment.isoformat(), "items": [{"product": 1, "quantity": 1}]})
    )

    assert isinstance(parsed, SaleIn), parsed.body()
    assert parsed.client_timestamp == moment and parsed.client_timestamp.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2026-02-30T00:00:00Z",
        "yesterday",
        "",
        "2026-01-31T25:00:00Z",
    ],
)
def test_impossible_or_unrepresentable_timestamps_are_a_field_error(text):
    problem = outcome(SaleIn, json.dumps({"client_timestamp": text, "items": [{"product": 1, "quantity": 1}]}))

    assert fields(problem) == ["client_timestamp"]
