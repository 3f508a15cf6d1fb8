"""Real PostgreSQL and Redis for the tests: the ones DATABASE_URL / REDIS_URL name, else embedded ones.

Each run gets its own database and its own Redis key prefix, so a shared server's other data is
never touched and never assumed absent.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path

import redis
from sqlalchemy import create_engine, make_url, text

from cli import embedded
from config.settings import psycopg2_url
from domain.batching import batched


@contextmanager
def postgres_database(url: str | None, scratch: Path, prefix: str = "salesync_test", keep: bool = False):
    """Yield the URL of a new, empty database; drop it afterwards (unless `keep`)."""
    server = None
    if url is None:
        server = embedded.postgres(scratch / "postgres", cleanup_mode=None if keep else "delete")
        url = psycopg2_url(server.get_uri("postgres"))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(psycopg2_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(psycopg2_url(url)).set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if server is not None and not keep:
            server.cleanup()


@contextmanager
def redis_server(url: str | None, scratch: Path):
    if url is not None:
        yield url
        return
    server = embedded.start_redis(scratch / "redis", durable=False)
    try:
        yield server.url
    finally:
        server.stop()


def delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    for keys in batched(client.scan_iter(match=f"{prefix}*", count=1000), 500):
        client.delete(*keys)
