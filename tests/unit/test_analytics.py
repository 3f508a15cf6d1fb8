"""SalesReport bucketing: ISO weeks, months, clipping to the range, zero-filled gaps, weighted average."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.analytics import MAX_RANGE_DAYS, DayTotal, ReportError, bucket_starts, report

JAN_1 = date(2026, 1, 1)  # a Thursday


def day(n: int, quantity="1", revenue="2.00") -> DayTotal:
    return DayTotal(JAN_1 + timedelta(days=n - 1), Decimal(quantity), Decimal(revenue))


def test_weekly_buckets_start_on_mondays_and_the_first_is_clipped_to_the_range():
    assert bucket_starts(JAN_1, date(2026, 1, 31), "weekly") == [
        date(2026, 1, 1),
        date(2026, 1, 5),
        date(2026, 1, 12),
        date(2026, 1, 19),
        date(2026, 1, 26),
    ]


def test_monthly_buckets_start_on_the_first_and_daily_on_every_day():
    assert bucket_starts(date(2026, 1, 15), date(2026, 3, 2), "monthly") == [
        date(2026, 1, 15),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert len(bucket_starts(JAN_1, date(2026, 1, 31), "daily")) == 31


def test_days_without_sales_are_listed_with_zeros():
    result = report([day(2, "10.5", "21.00")], JAN_1, date(2026, 1, 3), "daily")

    assert [(b.start.day, b.quantity, b.revenue) for b in result.buckets] == [
        (1, 0, 0),
        (2, Decimal("10.5"), Decimal("21.00")),
        (3, 0, 0),
    ]


def test_days_outside_the_range_do_not_count():
    result = report([day(1), day(5, "3", "6.00"), day(9)], date(2026, 1, 2), date(2026, 1, 8), "weekly")

    assert (result.quantity, result.revenue) == (Decimal("3"), Decimal("6.00"))


def test_the_average_price_is_weighted_by_quantity_and_empty_when_nothing_sold():
    assert report(
        [day(1, "10.5", "21.00"), day(2, "0.75", "1.125")], JAN_1, JAN_1 + timedelta(days=1), "daily"
    ).average_unit_price == Decimal("1.9667")
    assert report([], JAN_1, JAN_1, "daily").average_unit_price is None


@pytest.mark.parametrize(
    "start, end, period, message",
    [
        (JAN_1, JAN_1, "hourly", "period must be one of daily, weekly, monthly"),
        (date(2026, 2, 1), JAN_1, "daily", "end_date is before start_date"),
        (JAN_1, JAN_1 + timedelta(days=MAX_RANGE_DAYS), "daily", f"the range is longer than {MAX_RANGE_DAYS} days"),
    ],
)
def test_impossible_reports_say_why(start, end, period, message):
    with pytest.raises(ReportError, match=message):
        report([], start, end, period)


@given(
    st.lists(
        st.tuples(st.integers(1, 120), st.decimals("0.001", "99", places=3), st.decimals("0", "999", places=2)),
        max_size=40,
    ),
    st.sampled_from(["daily", "weekly", "monthly"]),
    st.integers(1, 60),
    st.integers(0, 90),
)
def test_every_period_adds_up_to_the_same_exact_totals(days, period, first, length):
    totals = [day(n, str(q), str(r)) for n, q, r in days]
    start = JAN_1 + timedelta(days=first - 1)
    end = start + timedelta(days=length)
    inside = [t for t in totals if start <= t.day <= end]

    result = report(totals, start, end, period)

    assert result.quantity == sum((t.quantity for t in inside), Decimal(0))
    assert result.revenue == sum((t.revenue for t in inside), Decimal(0))
    assert sum((b.revenue for b in result.buckets), Decimal(0)) == result.revenue
    assert [b.start for b in result.buckets] == sorted({b.start for b in result.buckets})
