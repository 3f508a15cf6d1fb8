"""Redis filling up while PostgreSQL is away: intake pushes back before Redis is full, and the
drain frees it again once PostgreSQL is back, with no operator.

Redis runs with a small maxmemory and noeviction (as deploy/redis.conf ships, only smaller), and
PostgreSQL is stopped, so every sale accepted stays queued in Redis. Intake must answer 503 with
Retry-After before Redis refuses writes: the drain (stream reads, acknowledgements, status writes,
Celery's triggers) needs the room left above the high-water mark to free anything.
"""

from __future__ import annotations

import time

import pytest
import redis

from postgres.engine import make_engine
from tests.e2e.faults import Answer, Till, discard, make_stack, sales, tally
from tests.e2e.test_fault_postgres import OwnPostgres, own_postgres  # noqa: F401 (fixture)
from tests.e2e.test_fault_redis import OwnRedis, production_durability
from tests.polling import wait_until

pytestmark = pytest.mark.e2e
MAXMEMORY = 8 * 1024 * 1024


def memory(client: redis.Redis) -> tuple[int, int]:
    info = client.info("memory")
    return info["used_memory"], info["maxmemory"]


def post_batch(till: Till, batch: list[dict]) -> list[int]:
    """One batch, every answer kept; the status of each sale, in order."""
    sent = time.monotonic()
    response = till.http().post(f"{till.url}/api/sales/batch/", json={"sales": batch}, timeout=60)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    for sale, result in zip(batch, results):
        till.answers.append(Answer(sale["external_id"], result["status"], sent, time.monotonic(), None))
    return [result["status"] for result in results]


def test_a_full_redis_pushes_intake_back_and_drains_without_an_operator(
    own_postgres,  # noqa: F811 (the fixture imported above)
    tmp_path,
    engine,
    run_prefix,
):
    durable = {**production_durability(), "maxmemory": str(MAXMEMORY), "maxmemory-policy": "noeviction"}
    own_redis = OwnRedis(tmp_path / "redis", durable)
    pg_engine = make_engine(own_postgres.url)
    stack = make_stack(
        pg_engine, own_postgres.url, own_redis.url, f"{run_prefix}full-redis:", tmp_path, SALESYNC_APPLY_BATCH="200"
    )
    client = redis.Redis.from_url(own_redis.url)
    try:
        stack.start_all()
        till = Till(stack)
        product_id = till.product()
        own_postgres.stop()

        sent, refused, peak, statuses = [], [], 0, [202]
        # Until a whole batch is refused (bounded: 8 MB holds far fewer queued sales). Near the mark
        # some sales of a batch still fit, as Redis frees a little memory now and then.
        while set(statuses) != {503} and len(sent) < 40_000:
            batch = sales(product_id, 250)
            sent += batch
            statuses = post_batch(till, batch)
            assert set(statuses) <= {202, 503}, statuses
            refused += [sale for sale, status in zip(batch, statuses) if status == 503]
            peak = max(peak, memory(client)[0])
        assert set(statuses) == {503}, f"intake never pushed back after {len(sent)} sales"
        queued = client.xlen(f"{stack.settings.redis_prefix}sales")
        used, limit = memory(client)
        assert limit == MAXMEMORY and peak < limit, (peak, limit)
        # POST /api/sales/ pushes back the same way (a batch's own request buffers count in Redis's
        # memory too, so a few single sales may still fit).
        for single in sales(product_id, 200):
            sent.append(single)
            answer = till.post(single)
            assert answer.status in (202, 503), answer
            if answer.status == 503:
                assert answer.retry_after, answer
                refused.append(single)
                break
        assert answer.status == 503, "POST /api/sales/ never pushed back"
        print(f"full-redis: {queued} sales queued when intake pushed back at {used} of {limit} bytes")

        own_postgres.start()
        # Nothing but the service itself: the queue drains, memory is freed, intake accepts again.
        deadline = time.monotonic() + 180
        while refused:
            assert time.monotonic() < deadline, f"{len(refused)} sales never accepted again"
            statuses = post_batch(till, refused[:250])
            refused = [sale for sale, status in zip(refused[:250], statuses) if status == 503] + refused[250:]
            time.sleep(0.5 if refused else 0)
        tally(stack, "redis full while postgresql away", sent, till.answers, product_id, rejected=0, timeout=180)
        assert wait_until(lambda: client.xlen(f"{stack.settings.redis_prefix}sales") == 0, timeout=60)
        assert set(post_batch(till, sales(product_id, 100))) == {202}
        oom = [
            role
            for role in ("worker", "beat", "web")
            if "maxmemory" in (stack.settings.data_dir / f"{role}.log").read_text()
        ]
        assert oom == [], f"Redis refused a write of {oom}"
    finally:
        discard(stack)
        client.close()
        pg_engine.dispose()
        own_redis.stop()
