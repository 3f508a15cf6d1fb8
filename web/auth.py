"""Token authentication against Redis, with a short per-process cache (revocation bound)."""

from __future__ import annotations

import logging
import time

import redis
from flask import current_app, g, request

from postgres.tokens import Caller, lookup
from redis_queue.devices import mark_seen
from web.problems import ProblemError

CACHE_LIMIT = 10_000
SEEN_EVERY = 5.0  # seconds: a device's last-seen time is written at most this often per process
_last_written: dict[tuple[str, str], float] = {}  # (key prefix, device) -> when this process last wrote it
log = logging.getLogger(__name__)


class TokenCache:
    """Known tokens for `seconds`: a revoked token stops working within that on every web worker."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.entries: dict[str, tuple[Caller, float]] = {}

    def get(self, token: str) -> Caller | None:
        hit = self.entries.get(token)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        return None

    def put(self, token: str, caller: Caller) -> None:
        if len(self.entries) >= CACHE_LIMIT:
            self.entries.clear()
        self.entries[token] = (caller, time.monotonic() + self.seconds)


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Token"})


def authenticate(admin: bool = False, limit: bool = True) -> Caller:
    """The caller of this request, counted against its rate limit (`limit=False`: the caller
    counts the request itself, as POST /api/sales/ does in the same Redis call as the sale)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Token" or not token.strip():
        raise unauthorized("Send 'Authorization: Token <token>'.")
    token = token.strip()
    res = current_app.extensions["salesync"]
    caller = res.tokens.get(token)
    if caller is None:
        caller = lookup(res.redis, res.settings.redis_prefix, token)
        if caller is None:
            raise unauthorized("The token is unknown or revoked.")
        res.tokens.put(token, caller)
    _seen(res, caller.device)
    if limit:
        res.limiter.check(caller.device)
    if admin and not caller.is_admin:
        raise ProblemError(403, "Forbidden", "This endpoint needs an admin token.")
    g.caller = caller
    return caller


def _seen(res, device: str) -> None:
    """Record that `device` is alive (the fleet view's last_seen): one HSET every SEEN_EVERY
    seconds at most; a failure costs the request nothing, not even its answer."""
    now, key = time.time(), (res.settings.redis_prefix, device)
    if now - _last_written.get(key, 0.0) < SEEN_EVERY:
        return
    if len(_last_written) >= CACHE_LIMIT:
        _last_written.clear()
    _last_written[key] = now
    try:
        mark_seen(res.redis, res.settings.redis_prefix, device, now)
    except redis.RedisError as error:
        log.warning("could not record that %s was seen: %s", device, error)
