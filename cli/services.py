"""The servers a command runs against: DATABASE_URL / REDIS_URL, or embedded ones, and what every
command needs of them (sessions, the intake, tokens published to Redis)."""

from __future__ import annotations

from contextlib import ExitStack

import redis
from sqlalchemy.orm import Session, sessionmaker

from cli import embedded
from config.settings import Settings
from postgres import tokens
from postgres.engine import make_engine, make_sessions, migrate
from redis_queue.intake import Intake


def resolve(settings: Settings, stack: ExitStack, start_redis: bool, database: bool = True) -> Settings:
    """Fill in embedded servers for whatever DATABASE_URL / REDIS_URL leave unset (PostgreSQL
    only if `database`)."""
    database_url, redis_url = settings.database_url, settings.redis_url
    if not database_url and database:
        server = embedded.postgres(settings.data_dir / "postgres")
        stack.callback(server.cleanup)
        database_url = embedded.postgres_url(server, "salesync")
    if not redis_url:
        redis_url = embedded.running_redis_url(settings.data_dir / "redis")
        if redis_url is None and start_redis:
            server = embedded.start_redis(settings.data_dir / "redis")
            stack.callback(server.stop)
            redis_url = server.url
    return Settings(**{**settings.__dict__, "database_url": database_url, "redis_url": redis_url})


def publish_tokens(settings: Settings) -> None:
    if not settings.redis_url:
        return  # no Redis running: `salesync serve` publishes tokens when it starts
    engine = make_engine(settings.postgres)
    try:
        with make_sessions(engine).begin() as session:
            tokens.publish(session, redis.Redis.from_url(settings.redis), settings.redis_prefix)
    finally:
        engine.dispose()


def connect(
    settings: Settings, stack: ExitStack, with_redis: bool, upgrade: bool = False
) -> tuple[sessionmaker[Session], Intake | None]:
    """Sessions, and an Intake if `with_redis`. Only commands that write `upgrade` the schema first
    (as `token` does); the read-only ones never migrate a database."""
    settings = resolve(settings, stack, start_redis=with_redis)
    if upgrade:
        migrate(settings.postgres)
    engine = make_engine(settings.postgres)
    stack.callback(engine.dispose)
    intake = None
    if with_redis:
        client = redis.Redis.from_url(settings.redis)
        stack.callback(client.close)
        intake = Intake.from_settings(client, settings)
    return make_sessions(engine), intake
