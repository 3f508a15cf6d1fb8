"""PostgreSQL stopped while workers apply a burst, then started again.

The test runs its own embedded PostgreSQL (pgserver), so it can stop and start it with pg_ctl.
Workers must wait and retry, reject nothing for it, and /readyz must say not ready meanwhile.
"""

from __future__ import annotations

import contextlib
import uuid
import warnings

import pytest
import redis
import requests

from cli import embedded
from postgres.engine import make_engine, migrate
from redis_queue.intake import GROUP
from tests.e2e.faults import Till, applied, discard, make_stack, sales, tally
from tests.polling import wait_until

pytestmark = pytest.mark.e2e


class OwnPostgres:
    def __init__(self, directory):
        self.server = embedded.postgres(directory, cleanup_mode="delete")
        self.info = self.server.get_postmaster_info()  # its socket directory, to start it there again
        self.url = embedded.postgres_url(self.server, "salesync")

    def pg_ctl(self, *args: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver
        # As the server's own system user (pgserver runs PostgreSQL as "pgserver" when we are root).
        pgserver.pg_ctl(["-w", *args], pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")  # what a restart or failover does to open transactions

    def start(self) -> None:
        self.pg_ctl("-o", '-h ""', "-o", f"-k {self.info.socket_dir}", "-l", str(self.server.log), "start")

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        self.server.cleanup()  # deletes the data directory


@pytest.fixture
def own_postgres(scratch):
    server = OwnPostgres(scratch / f"fault-pg-{uuid.uuid4().hex[:8]}")  # not under tmp_path: see `scratch`
    migrate(server.url)
    yield server
    server.cleanup()


def readyz(stack) -> requests.Response:
    return requests.get(f"{stack.url}/readyz", timeout=10)


def test_postgresql_stopped_during_apply_rejects_nothing_and_loses_nothing(
    own_postgres, redis_url, run_prefix, tmp_path
):
    engine = make_engine(own_postgres.url)
    stack = make_stack(
        engine, own_postgres.url, redis_url, f"{run_prefix}pg-fault:", tmp_path, SALESYNC_APPLY_BATCH="25"
    )
    client = redis.Redis.from_url(redis_url)
    stream = f"{stack.settings.redis_prefix}sales"
    try:
        stack.start_all()
        till = Till(stack)
        product_id = till.product()
        burst = sales(product_id, 400)
        ids = [sale["external_id"] for sale in burst]
        stack.stop("worker")
        till.post_batch(burst[:300])
        stack.start("worker")
        assert wait_until(lambda: applied(stack, ids) > 0, timeout=60)

        own_postgres.stop()
        assert client.xlen(stream) > 0, "the burst was applied before the fault: nothing was tested"
        answer = readyz(stack)
        assert (answer.status_code, answer.json()["checks"]["postgresql"]) == (503, "unreachable")
        till.post_batch(burst[300:])  # intake needs Redis only: sales are still accepted meanwhile
        worker_log = stack.settings.data_dir / "worker.log"
        assert wait_until(lambda: "transient failure applying" in worker_log.read_text(), timeout=60), (
            "no worker tried to apply while PostgreSQL was down"
        )
        assert readyz(stack).status_code == 503
        own_postgres.start()

        assert wait_until(lambda: readyz(stack).status_code == 200, timeout=60)
        tally(stack, "postgresql stopped during apply", burst, till.answers, product_id, rejected=0)
        counted = [eid for eid in ids if client.hexists(f"{stack.settings.redis_prefix}sale:{eid}", "attempts")]
        assert counted == [], "a transient failure was counted against a sale"
        assert client.xpending(stream, GROUP)["pending"] == 0
    finally:
        discard(stack)
        client.close()
        engine.dispose()
