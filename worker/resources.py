"""Per-process connections for tasks, built on first use (after the pool forks)."""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass

import redis
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from postgres.engine import make_engine, make_sessions
from redis_queue import connection
from redis_queue.intake import Intake


@dataclass(frozen=True)
class Resources:
    settings: Settings
    sessions: sessionmaker[Session]
    redis: redis.Redis
    intake: Intake
    consumer: str  # this process's name in the stream's consumer group


@functools.cache
def resources() -> Resources:
    settings = Settings.from_env().require_urls()
    client = connection.client(settings.redis, socket_timeout=10, socket_connect_timeout=5)
    return Resources(
        settings=settings,
        sessions=make_sessions(make_engine(settings.postgres)),
        redis=client,
        intake=Intake.from_settings(client, settings),
        consumer=f"{socket.gethostname()}-{os.getpid()}",
    )
