"""salesync's Redis connections (redis_queue/connection.py) refuse to lend a connection with a reply
left on it or one the server closed, in a plain process (the worker) and in a gevent-patched one
(the web workers), against a real Redis. redis-py's default client lends the first."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from redis_queue import connection

ROOT = Path(__file__).resolve().parents[2]


def with_a_reply_left(pool) -> redis.Connection:
    """A connection of `pool` whose reply to ECHO has arrived and is never read."""
    stray = pool.get_connection()
    stray.send_command("ECHO", "left over")
    deadline = time.monotonic() + 2
    while not stray.can_read() and time.monotonic() < deadline:
        time.sleep(0.01)
    return stray


def check_before_reuse(url: str) -> None:
    client = connection.client(url, socket_timeout=2)
    pool = client.connection_pool
    idle = pool.get_connection()
    assert idle.can_read() is False  # nothing waiting: lent as it is
    pool.release(idle)

    stray = with_a_reply_left(pool)
    assert stray.can_read() is True
    pool.release(stray)
    assert client.echo("mine") == b"mine"  # not the reply left over: the pool took a fresh connection

    closed = pool.get_connection()
    closed.send_command("CLIENT", "ID")
    own_id = closed.read_response()
    redis.Redis.from_url(url).client_kill_filter(_id=own_id)
    deadline = time.monotonic() + 2
    with pytest.raises(redis.ConnectionError):
        while time.monotonic() < deadline:
            closed.can_read()  # raises once the close has arrived
            time.sleep(0.01)
    pool.release(closed)
    assert client.echo("after") == b"after"


def test_a_connection_with_a_reply_left_or_closed_by_the_server_is_not_lent(redis_url):
    check_before_reuse(redis_url)


def test_redis_py_s_default_client_would_lend_it(redis_url):
    """Why salesync builds its own: should redis-py change this, the test says so."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    client.connection_pool.release(with_a_reply_left(client.connection_pool))
    assert client.echo("mine") == b"left over"


def test_the_same_under_gevent_as_in_a_web_worker(redis_url):
    script = (
        "from gevent import monkey; monkey.patch_all()\n"
        "from tests.integration.test_redis_connection import check_before_reuse\n"
        f"check_before_reuse({redis_url!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
