"""Sales reports from daily totals: buckets by period, zero-filled, clipped to the asked range."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import reduce

from domain.money import EXACT, PRICE_PLACES

PERIODS = ("daily", "weekly", "monthly")
MAX_RANGE_DAYS = 1096  # three years of daily buckets


class ReportError(ValueError):
    """A range or period a report cannot be made for; the message says which."""


@dataclass(frozen=True)
class DayTotal:
    day: date
    quantity: Decimal
    revenue: Decimal


@dataclass(frozen=True)
class PeriodTotal:
    start: date  # the Monday (weekly) or the 1st (monthly), or start_date when clipped
    quantity: Decimal
    revenue: Decimal


@dataclass(frozen=True)
class SalesReport:
    quantity: Decimal
    revenue: Decimal
    average_unit_price: Decimal | None  # revenue / quantity, weighted; None when nothing sold
    buckets: tuple[PeriodTotal, ...]


def check_range(start: date, end: date, period: str) -> None:
    if period not in PERIODS:
        raise ReportError(f"period must be one of {', '.join(PERIODS)}")
    if end < start:
        raise ReportError("end_date is before start_date")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ReportError(f"the range is longer than {MAX_RANGE_DAYS} days")


def bucket_start(day: date, period: str, start: date) -> date:
    if period == "weekly":
        first = day - timedelta(days=day.weekday())
    elif period == "monthly":
        first = day.replace(day=1)
    else:
        first = day
    return max(first, start)  # a bucket that starts before the range is clipped, not widened


def bucket_starts(start: date, end: date, period: str) -> list[date]:
    starts: list[date] = []
    day = start
    while day <= end:
        first = bucket_start(day, period, start)
        if not starts or starts[-1] != first:
            starts.append(first)
        day += timedelta(days=1)
    return starts


def report(days: Iterable[DayTotal], start: date, end: date, period: str) -> SalesReport:
    check_range(start, end, period)
    sums = {first: [Decimal(0), Decimal(0)] for first in bucket_starts(start, end, period)}
    for total in days:
        if start <= total.day <= end:
            bucket = sums[bucket_start(total.day, period, start)]
            bucket[0] = EXACT.add(bucket[0], total.quantity)
            bucket[1] = EXACT.add(bucket[1], total.revenue)
    buckets = tuple(PeriodTotal(first, quantity, revenue) for first, (quantity, revenue) in sums.items())
    quantity = reduce(EXACT.add, (b.quantity for b in buckets), Decimal(0))
    revenue = reduce(EXACT.add, (b.revenue for b in buckets), Decimal(0))
    return SalesReport(quantity, revenue, average_price(quantity, revenue), buckets)


def average_price(quantity: Decimal, revenue: Decimal) -> Decimal | None:
    """Weighted average, to unit-price precision (the one figure here that is not exact)."""
    if quantity == 0:
        return None
    wide = Context(prec=60, rounding=ROUND_HALF_EVEN)
    return wide.divide(revenue, quantity).quantize(Decimal(1).scaleb(-PRICE_PLACES), context=wide)
