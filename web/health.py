"""Liveness and readiness probes (no auth)."""
from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy.exc import SQLAlchemyError
import redis

from store.db import migrations_applied

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    return {"status": "ok"}


@blueprint.get("/readyz")
def readyz():
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
    ready = all(value == "ok" for value in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
