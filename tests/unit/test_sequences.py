"""The rules of per-device sequence numbers: gaps, when they count as missing, and clock skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.sequences import Gap, clock_skew, find_gaps, gap_between, overdue, ranges

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_adjacent_sequences_leave_no_gap():
    assert gap_between(4, 5, T0) is None
    assert find_gaps([(1, at(0)), (2, at(1)), (3, at(2))]) == []


def test_a_gap_is_the_range_between_two_received_sequences():
    assert find_gaps([(1, at(0)), (5, at(3)), (6, at(4))]) == [Gap(2, 4, at(3))]


def test_sequences_below_the_first_received_are_missing_too():
    assert find_gaps([(3, at(0)), (4, at(1))]) == [Gap(1, 2, at(0))]


def test_a_gap_opened_when_the_first_sale_above_it_arrived_in_any_order():
    # 9 arrived first, then 5: the gap 2..4 is open since 9 arrived, 6..8 too.
    assert find_gaps([(1, at(0)), (9, at(1)), (5, at(7))]) == [Gap(2, 4, at(1)), Gap(6, 8, at(1))]


def test_only_gaps_open_longer_than_the_grace_are_overdue():
    gaps = [Gap(2, 4, at(0)), Gap(8, 8, at(9))]
    assert overdue(gaps, at(10), grace=300) == [Gap(2, 4, at(0))]
    assert overdue(gaps, at(10), grace=600) == []  # open exactly 10 min: not longer than the grace
    assert ranges(overdue(gaps, at(20), grace=300)) == [[2, 4], [8, 8]]
    assert Gap(2, 4, T0).size == 3


def test_no_sequences_no_gaps():
    assert find_gaps([]) == []


def test_clock_skew_is_the_largest_client_minus_received_difference():
    online_ahead = (at(10.5), at(10))  # made "30 s after" it arrived: the clock runs 30 s ahead
    offline = (at(1), at(10))  # made offline 9 min before: only lowers the difference
    assert clock_skew([offline, online_ahead]) == 30.0
    assert clock_skew([(at(9), at(10))]) == -60.0  # behind
    assert clock_skew([]) is None
