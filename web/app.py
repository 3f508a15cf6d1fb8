"""The application factory: the one place that wires settings, connections and routes."""
from __future__ import annotations

from dataclasses import dataclass

import redis
from celery import Celery
from flask import Flask, request
from sqlalchemy.orm import Session, sessionmaker

from store.db import make_engine, make_sessions
from store.intake import Intake
from store.settings import Settings
from web import analytics, catalog, health, problems, sales
from web.auth import TokenCache


@dataclass
class Resources:
    settings: Settings
    redis: redis.Redis
    intake: Intake
    sessions: sessionmaker[Session]
    celery: Celery
    tokens: TokenCache


def create_app(settings: Settings | None = None) -> Flask:
    settings = (settings or Settings.from_env()).require_urls()
    app = Flask(__name__)

    @app.before_request
    def limit_body() -> None:
        batch = request.endpoint == "sales.post_batch"
        request.max_content_length = settings.max_batch_bytes if batch else settings.max_body_bytes

    app.json.sort_keys = False
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=1,
                                  retry_on_timeout=False)
    celery = Celery("salesync", set_as_current=False)
    celery.config_from_object("celeryconfig")
    celery.conf.broker_url = settings.redis_url
    celery.conf.broker_transport_options = settings.celery_transport_options
    app.extensions["salesync"] = Resources(
        settings=settings,
        redis=client,
        intake=Intake(client, settings.redis_prefix, settings.record_ttl),
        sessions=make_sessions(make_engine(settings.database_url, pool_size=5)),
        celery=celery,
        tokens=TokenCache(settings.token_cache_seconds),
    )
    problems.register(app, settings.retry_after)
    for blueprint in (analytics.blueprint, sales.blueprint, catalog.blueprint, health.blueprint):
        app.register_blueprint(blueprint)
    return app
