"""Exact decimal rules for quantities and money: the precision salesync accepts and how it prints."""

from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow

QUANTITY_PLACES = 3  # a till weighs to the gram or millilitre
PRICE_PLACES = 4  # unit prices such as fuel at 1.8990 a litre
MAX_QUANTITY = Decimal("1000000000")  # exclusive bound of levels and adjustments
# Exclusive bound of a sale line's quantity: with at most 500 lines a sale, one sale moves a
# product's stock by less than 5 * 10^8, so the stock column outlasts any history (postgres/tables.py).
MAX_LINE_QUANTITY = Decimal("1000000")
MAX_PRICE = Decimal("1000000000")


# Arithmetic on money never rounds: 60 digits hold any product and sum the limits allow, and
# Inexact turns a rounding that should never happen into an error instead of a wrong total.
EXACT = Context(prec=60, traps=[Inexact, InvalidOperation, Overflow])


class PrecisionError(ValueError):
    """A number that salesync would have to round, or that is out of range."""


def decimal_places(value: Decimal) -> int:
    """Places that carry a digit: Decimal('1.50') has 1. Never rounds, however long the number."""
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:  # not finite, or a whole number as written
        return 0
    places = -exponent
    for digit in reversed(digits):  # trailing zeros carry nothing
        if digit or not places:
            break
        places -= 1
    return places if any(digits) else 0


ZERO = Decimal(0)


def check(value: Decimal, *, places: int, maximum: Decimal, minimum: Decimal, inclusive_min: bool) -> Decimal:
    """Return `value` unchanged, or raise PrecisionError saying why it is not accepted."""
    if not value.is_finite():
        raise PrecisionError("must be a finite number")
    if decimal_places(value) > places:
        raise PrecisionError(f"has more than {places} decimal places")
    if abs(value) >= maximum:
        raise PrecisionError(f"must be less than {maximum} in size")
    if value < minimum or (value == minimum and not inclusive_min):
        relation = ">=" if inclusive_min else ">"
        raise PrecisionError(f"must be {relation} {minimum}")
    return value


def check_quantity(value: Decimal) -> Decimal:
    """A sale line's quantity."""
    return check(value, places=QUANTITY_PLACES, maximum=MAX_LINE_QUANTITY, minimum=ZERO, inclusive_min=False)


def check_price(value: Decimal) -> Decimal:
    return check(value, places=PRICE_PLACES, maximum=MAX_PRICE, minimum=ZERO, inclusive_min=True)


def check_level(value: Decimal) -> Decimal:
    """A stock level or adjustment: signed, quantity precision."""
    return check(value, places=QUANTITY_PLACES, maximum=MAX_QUANTITY, minimum=-MAX_QUANTITY, inclusive_min=False)


def format_quantity(value: Decimal) -> str:
    """Shortest exact text: Decimal('50.000') -> '50', Decimal('0.500') -> '0.5'."""
    text = format(value.normalize(EXACT), "f")
    return "0" if text in ("-0", "0") else text


def format_amount(value: Decimal) -> str:
    """Money as exact text with at least two places: '1.125', '21.00'."""
    text = format_quantity(value)
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"
