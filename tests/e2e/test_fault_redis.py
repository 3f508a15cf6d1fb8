"""Redis killed with SIGKILL in the middle of a burst, restarted from its append-only file.

The test runs its own redis-server with the durability settings of deploy/redis.conf (the ones
docker-compose ships), so a weaker setting there fails this test rather than going unnoticed.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cli import embedded
from tests.e2e.faults import Till, discard, make_stack, restarted_on_exit, sales, tally
from tests.polling import wait_until

pytestmark = pytest.mark.e2e
PRODUCTION_CONF = Path(__file__).resolve().parents[2] / "deploy" / "redis.conf"
DURABILITY = ("appendonly", "appendfsync", "no-appendfsync-on-rewrite", "aof-load-truncated", "aof-use-rdb-preamble")


def production_durability() -> dict[str, str]:
    found = {}
    for line in PRODUCTION_CONF.read_text().splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in DURABILITY:
            found[words[0]] = words[1]
    return found


class OwnRedis:
    """A redis-server of this test's own, on a fixed port, that can be killed and started again."""

    def __init__(self, directory: Path, settings: dict[str, str]):
        self.directory = directory
        self.extra = tuple(arg for name, value in settings.items() for arg in (f"--{name}", value))
        self.port = embedded.free_port()
        self.server = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server = embedded.start_redis(self.directory, port=self.port, durable=True, extra=self.extra)

    def kill(self) -> None:
        self.server.process.kill()
        self.server.process.wait()

    def stop(self) -> None:
        if self.server.process.poll() is None:
            self.server.stop()


@pytest.fixture
def own_redis(tmp_path):
    durability = production_durability()
    # What docker-compose ships: every acknowledged write is in the fsynced AOF before Redis replies.
    assert durability["appendonly"] == "yes" and durability["appendfsync"] == "always", durability
    server = OwnRedis(tmp_path / "redis", durability)
    yield server
    server.stop()


def test_redis_killed_mid_burst_and_restarted_from_its_aof_loses_no_202(
    own_redis, database_url, engine, run_prefix, tmp_path
):
    stack = make_stack(
        engine, database_url, own_redis.url, f"{run_prefix}redis-fault:", tmp_path, SALESYNC_APPLY_BATCH="50"
    )
    try:
        stack.start_all()
        till = Till(stack)
        product_id = till.product()
        burst = sales(product_id, 400)
        # A Celery worker can exit when its broker connection drops at an unlucky moment (kombu fails
        # to restore its unacknowledged triggers); production restarts it, and so does this test.
        with restarted_on_exit(stack) as restarts, ThreadPoolExecutor(4) as pool:
            delivered = [pool.submit(till.deliver, sale) for sale in burst]
            assert wait_until(lambda: sum(a.status == 202 for a in till.answers) >= 100, timeout=60)
            own_redis.kill()
            killed = time.monotonic()
            # Keep Redis down until the tills have been answered a few times meanwhile.
            assert wait_until(lambda: sum(a.sent > killed for a in till.answers) >= 8, timeout=60)
            restarting = time.monotonic()
            own_redis.start()
            for future in delivered:
                future.result()

            while_down = [a for a in till.answers if a.sent > killed and a.received < restarting]
            assert len(while_down) >= 8
            assert {(a.status, a.retry_after is not None) for a in while_down} == {(503, True)}, (
                "while Redis is down, intake must answer 503 with Retry-After, never 202"
            )
            assert any(a.sent > restarting and a.status == 202 for a in till.answers), (
                "the burst was over before the fault: nothing was tested"
            )
            tally(stack, "redis SIGKILL mid-burst, restart from AOF", burst, till.answers, product_id)
        print(f"worker restarts after exiting: {restarts}")
    finally:
        discard(stack)
