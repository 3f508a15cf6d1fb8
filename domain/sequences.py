"""Per-device sequence numbers: which sales a till made and the server never received.

A till numbers its sales 1, 2, 3, ... The server keeps the numbers it received; a number below
the highest received and not itself received is missing. A missing range is only reported once
it has stayed open longer than a grace period: sales of one till arrive out of order (a batch
retried, a burst after going offline), so a gap that closes within the grace is no loss.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Gap:
    """Sequences `first`..`last` (inclusive) are missing since `opened_at`: when the first sale
    numbered above them was received."""

    first: int
    last: int
    opened_at: datetime

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def gap_between(previous: int, following: int, opened_at: datetime) -> Gap | None:
    """The gap between two consecutive received sequences (`previous` is 0 below the first one:
    a till starts at 1), or None if they are adjacent."""
    if following - previous <= 1:
        return None
    return Gap(previous + 1, following - 1, opened_at)


def find_gaps(received: Iterable[tuple[int, datetime]]) -> list[Gap]:
    """The gaps among (sequence, received_at) pairs. A gap opened when the first sale above it
    arrived: the earliest received_at among the sequences above it, whatever their order."""
    pairs = sorted(received)
    gaps: list[Gap] = []
    earliest_above: datetime | None = None
    for index in range(len(pairs) - 1, -1, -1):  # from the top: the earliest arrival above each gap
        sequence, received_at = pairs[index]
        earliest_above = received_at if earliest_above is None else min(earliest_above, received_at)
        gap = gap_between(pairs[index - 1][0] if index else 0, sequence, earliest_above)
        if gap is not None:
            gaps.append(gap)
    return gaps[::-1]


def overdue(gaps: Iterable[Gap], now: datetime, grace: float) -> list[Gap]:
    """The gaps open longer than `grace` seconds: sales the till lost or has not sent."""
    return [gap for gap in gaps if now - gap.opened_at > timedelta(seconds=grace)]


def ranges(gaps: Iterable[Gap]) -> list[list[int]]:
    """Gaps as the API shows them: [[first, last], ...]."""
    return [[gap.first, gap.last] for gap in gaps]


def clock_skew(pairs: Iterable[tuple[datetime, datetime]]) -> float | None:
    """How far a till's clock is ahead of the server's (negative: behind), in seconds, from
    (client_timestamp, received_at) pairs of its recent sales; None without any.

    A sale sent while online is received moments after it was made, so client - received is the
    skew (less a little network time); a sale kept offline was made earlier than received, which
    only lowers the difference. The largest difference is therefore the best estimate."""
    skews = [(client - received).total_seconds() for client, received in pairs]
    return max(skews) if skews else None
