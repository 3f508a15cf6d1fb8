"""Liveness and readiness probes (no auth)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import redis
from flask import Blueprint, current_app
from sqlalchemy.exc import SQLAlchemyError

from postgres.engine import migrations_applied

blueprint = Blueprint("health", __name__)

READY_CACHE_SECONDS = 1.0  # /readyz checks Redis and PostgreSQL at most once a second per process

T = TypeVar("T")


class Recent(Generic[T]):
    """A value computed at most once every `seconds` in this process, however many requests ask for it:
    what an anonymous caller can make Redis and PostgreSQL do is bounded by the clock, not by its rate.
    One thread computes while the others wait for its answer rather than computing it too."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.lock = threading.Lock()
        self.value: T
        self.taken = float("-inf")  # time.monotonic() when value was computed: never yet

    def get(self, compute: Callable[[], T]) -> tuple[T, float]:
        """The value and its age in seconds."""
        with self.lock:
            if time.monotonic() >= self.taken + self.seconds:
                self.value = compute()
                self.taken = time.monotonic()
            return self.value, time.monotonic() - self.taken  # computed at least once by now


def recent(name: str, seconds: float) -> Recent:
    """This app's Recent called `name` (one app per web worker process)."""
    return current_app.extensions.setdefault(f"salesync.recent.{name}", Recent(seconds))


@blueprint.get("/healthz")
def healthz():
    return {"status": "ok"}


@blueprint.get("/readyz")
def readyz():
    checks, _ = recent("readyz", READY_CACHE_SECONDS).get(_check)
    ready = all(value == "ok" for value in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


def _check() -> dict[str, str]:
    res = current_app.extensions["salesync"]
    checks = {"redis": "ok", "postgresql": "ok", "migrations": "ok"}
    try:
        res.redis.ping()
    except redis.RedisError:
        checks["redis"] = "unreachable"
    try:
        if not migrations_applied(res.sessions.kw["bind"]):
            checks["migrations"] = "pending"
    except SQLAlchemyError:
        checks["postgresql"] = checks["migrations"] = "unreachable"
    return checks
