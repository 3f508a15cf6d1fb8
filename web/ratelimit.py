"""Per-token rate limits, shared by every web worker: token buckets in Redis, one round trip a request.

Each token (each device) has two buckets. Requests: SALESYNC_RATE_LIMIT a second on average, bursts
of SALESYNC_RATE_BURST. Sales: SALESYNC_SALES_RATE a second, bursts of SALESYNC_SALES_BURST,
however they are batched, so a batch of 1,000 sales costs 1,000, not one. Over either, the request
is answered 429 with Retry-After and nothing of it is recorded. POST /api/sales/ takes from both
in the same Redis call that records the sale (redis_queue/record_sale.lua), so a single sale still costs
one round trip; a batch takes its sales before its sales are validated, so a refused batch costs
no parsing beyond its JSON.
"""

from __future__ import annotations

import math

import redis

from redis_queue.intake import TOKEN_BUCKET, RateBucket
from web.problems import ProblemError

TAKE = TOKEN_BUCKET + "return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))"


class RateLimiter:
    def __init__(
        self, client: redis.Redis, prefix: str, rate: float, burst: int, sales_rate: float = 0, sales_burst: int = 1
    ):
        self.prefix, self.rate, self.burst = prefix, rate, max(1, burst)
        self.sales_rate, self.sales_burst = sales_rate, max(1, sales_burst)
        self.take = client.register_script(TAKE)

    def bucket(self, device: str) -> RateBucket | None:
        """The device's request bucket; None when rate 0 turns the limit off."""
        return RateBucket(f"{self.prefix}rate:{device}", self.rate, self.burst) if self.rate > 0 else None

    def sales_bucket(self, device: str) -> RateBucket | None:
        """The device's sales bucket; None when sales rate 0 turns the limit off."""
        return (
            RateBucket(f"{self.prefix}sales-rate:{device}", self.sales_rate, self.sales_burst)
            if self.sales_rate > 0
            else None
        )

    def buckets(self, device: str) -> tuple[RateBucket, ...]:
        """Both buckets of a single sale's request, for Intake.record."""
        return tuple(bucket for bucket in (self.bucket(device), self.sales_bucket(device)) if bucket is not None)

    def check(self, device: str) -> None:
        """Count one request of `device`; raise 429 if its bucket is empty."""
        self._take(self.bucket(device), 1)

    def check_sales(self, device: str, count: int) -> None:
        """Count `count` sales of `device`; raise 429, taking none, if its sales bucket lacks them."""
        self._take(self.sales_bucket(device), count)

    def _take(self, bucket: RateBucket | None, count: int) -> None:
        if bucket is not None:
            wait_ms = int(self.take(keys=[bucket.key], args=[bucket.rate, bucket.burst, count]))
            if wait_ms:
                raise self.refused(wait_ms)

    def refused(self, wait_ms: int) -> ProblemError:
        seconds = max(1, math.ceil(wait_ms / 1000))
        limits = [
            f"{rate:g} {unit} a second"
            for rate, unit in ((self.rate, "requests"), (self.sales_rate, "sales"))
            if rate > 0
        ]
        return ProblemError(
            429,
            "Too Many Requests",
            f"This token sent more than its rate limit ({' and '.join(limits)}); retry after {seconds} s.",
            headers={"Retry-After": str(seconds)},
        )
