"""The baselines for intake: a bare Flask app with one route that parses JSON and answers 202
(`create_app`), and the same plus one Redis Lua call a request (`create_lua_app`): the ceiling of
any intake that records each sale in Redis before answering, as salesync's does."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

import redis
from flask import Flask, request


def create_app(record: Callable[[], object] = lambda: None) -> Flask:
    app = Flask(__name__)

    @app.post("/api/sales/")
    def post_sale():
        body = request.get_json()
        record()
        return {"external_id": body.get("external_id"), "status": "queued"}, 202

    @app.post("/api/sales/batch/")
    def post_batch():
        body = request.get_json()
        return {"results": [{"status": 202, "body": {"status": "queued"}} for _ in body["sales"]]}, 200

    return app


def create_lua_app() -> Flask:
    """create_app plus one Lua call to Redis (REDIS_URL) a single sale, through redis-py's default
    client: a counter under this run's key prefix."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    count = client.register_script("return redis.call('INCR', KEYS[1])")
    key = f"{os.environ.get('SALESYNC_REDIS_PREFIX', 'bench:')}bare-lua:{uuid.uuid4().hex[:8]}"
    return create_app(record=lambda: count(keys=[key]))
