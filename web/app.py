"""The application factory: the one place that wires settings, connections and routes."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from celery import Celery
from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from postgres.engine import make_engine, make_sessions
from redis_queue import connection
from redis_queue.intake import Intake
from web import analytics, apidocs, catalog, cors, devices, health, metrics, openapi, ops, problems, sales, sync, till
from web.auth import TokenCache
from web.ratelimit import RateLimiter


@dataclass
class Resources:
    settings: Settings
    redis: redis.Redis
    intake: Intake
    sessions: sessionmaker[Session]
    celery: Celery
    tokens: TokenCache
    limiter: RateLimiter


def create_app(settings: Settings | None = None) -> Flask:
    settings = (settings or Settings.from_env()).require_urls()
    app = Flask(__name__)

    @app.before_request
    def limit_body() -> None:
        batch = request.endpoint in ("sales.post_batch", "sales.post_statuses")
        request.max_content_length = settings.max_batch_bytes if batch else settings.max_body_bytes

    assert isinstance(app.json, DefaultJSONProvider)
    app.json.sort_keys = False  # answers keep the order their views build
    client = connection.client(settings.redis, socket_timeout=2, socket_connect_timeout=1, retry_on_timeout=False)
    celery = Celery("salesync", set_as_current=False)
    celery.config_from_object("celeryconfig")
    celery.conf.broker_url = settings.redis
    celery.conf.broker_transport_options = settings.celery_transport_options
    app.extensions["salesync"] = Resources(
        settings=settings,
        redis=client,
        intake=Intake.from_settings(client, settings),
        sessions=make_sessions(make_engine(settings.postgres, pool_size=5)),
        celery=celery,
        tokens=TokenCache(settings.token_cache_seconds),
        limiter=RateLimiter(
            client,
            settings.redis_prefix,
            settings.rate_limit,
            settings.rate_burst,
            settings.sales_rate,
            settings.sales_burst,
        ),
    )
    problems.register(app, settings.retry_after)
    metrics.install(app)  # GET /metrics, intake counters
    cors.install(app, settings.cors_origins)  # web tills served from another origin
    for blueprint in (
        analytics.blueprint,
        sales.blueprint,
        catalog.blueprint,
        sync.blueprint,
        health.blueprint,
        openapi.blueprint,
    ):
        app.register_blueprint(blueprint)
    app.register_blueprint(ops.blueprint)  # the ops dashboard and its JSON
    app.register_blueprint(devices.blueprint)  # the fleet view: GET /api/devices/
    app.register_blueprint(till.blueprint)  # the demo till page and the JS client
    app.register_blueprint(apidocs.blueprint)  # /api/docs/: the OpenAPI document rendered for people
    return app
