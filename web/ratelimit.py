"""Per-token rate limit, shared by every web worker: a token bucket in Redis, one round trip a request.

Each token (each device: one active token per device) may send SALESYNC_RATE_LIMIT requests a
second on average, and bursts of up to SALESYNC_RATE_BURST at once. A request over it is answered
429 with Retry-After. A batch is one request, whatever it holds.
"""
from __future__ import annotations

import math

import redis

from web.problems import Problem

# KEYS[1]: the bucket; ARGV: rate (per second), burst. Returns 0 (allowed) or milliseconds to wait.
# Redis's clock, not the web workers': every worker sees the same time.
TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
"""


class RateLimiter:
    def __init__(self, client: redis.Redis, prefix: str, rate: float, burst: int):
        self.prefix, self.rate, self.burst = prefix, rate, max(1, burst)
        self.take = client.register_script(TAKE)

    def check(self, device: str) -> None:
        """Count one request of `device`; raise 429 if its bucket is empty. rate 0 turns the limit off."""
        if self.rate <= 0:
            return
        wait_ms = self.take(keys=[f"{self.prefix}rate:{device}"], args=[self.rate, self.burst])
        if wait_ms:
            seconds = max(1, math.ceil(int(wait_ms) / 1000))
            raise Problem(429, "Too Many Requests",
                          f"This token sent more than {self.rate:g} requests a second; retry after {seconds} s.",
                          headers={"Retry-After": str(seconds)})
