"""Per-token rate limit, shared by every web worker: a token bucket in Redis, one round trip a request.

Each token (each device: one active token per device) may send SALESYNC_RATE_LIMIT requests a
second on average, and bursts of up to SALESYNC_RATE_BURST at once. A request over it is answered
429 with Retry-After. A batch is one request, whatever it holds. POST /api/sales/ takes its token
in the same Redis call that records the sale (store/record_sale.lua), so a single sale still costs
one round trip.
"""
from __future__ import annotations

import math

import redis

from store.intake import TOKEN_BUCKET, Bucket
from web.problems import Problem

TAKE = TOKEN_BUCKET + "return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))"


class RateLimiter:
    def __init__(self, client: redis.Redis, prefix: str, rate: float, burst: int):
        self.prefix, self.rate, self.burst = prefix, rate, max(1, burst)
        self.take = client.register_script(TAKE)

    def bucket(self, device: str) -> Bucket | None:
        """The device's bucket; None when rate 0 turns the limit off."""
        return Bucket(f"{self.prefix}rate:{device}", self.rate, self.burst) if self.rate > 0 else None

    def check(self, device: str) -> None:
        """Count one request of `device`; raise 429 if its bucket is empty."""
        bucket = self.bucket(device)
        if bucket is not None:
            wait_ms = int(self.take(keys=[bucket.key], args=[bucket.rate, bucket.burst]))
            if wait_ms:
                raise self.refused(wait_ms)

    def refused(self, wait_ms: int) -> Problem:
        seconds = max(1, math.ceil(wait_ms / 1000))
        return Problem(429, "Too Many Requests",
                       f"This token sent more than {self.rate:g} requests a second; retry after {seconds} s.",
                       headers={"Retry-After": str(seconds)})
