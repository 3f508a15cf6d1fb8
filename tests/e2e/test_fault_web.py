"""Web workers dying: between recording a sale and handing it to Celery, and at random in a burst.

SALESYNC_FAULT=exit-after-record makes a web worker exit right after the Lua script recorded a
new sale and before it kicks a drain: the till gets no answer, the sale is in Redis, and no
Celery task knows about it. The beat's periodic drain is the recovery: it reads the stream,
so it finds every recorded sale not yet applied, whoever recorded it.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests

from tests.e2e.faults import Till, applied, sales, tally
from tests.polling import wait_until

pytestmark = pytest.mark.e2e


def celery_queue(stack) -> str:
    """The Redis list holding Celery's default queue, under the stack's key prefix."""
    return f"{stack.settings.celery_transport_options['global_keyprefix']}celery"


def test_a_web_worker_dying_between_record_and_handover_loses_nothing(stack_factory, redis_client):
    stack = stack_factory("exit-after-record", SALESYNC_FAULT="exit-after-record")
    till = Till(stack)
    product_id = till.product()
    # Nothing but the web may start a drain while the sales are posted: no beat, no worker.
    stack.stop("beat")
    assert wait_until(lambda: redis_client.llen(celery_queue(stack)) == 0, timeout=60)
    stack.stop("worker")
    burst = sales(product_id, 20)

    for chunk in (burst[:10], burst[10:]):  # each chunk in one request: one worker dies per chunk
        with pytest.raises(requests.ConnectionError):
            till.http().post(f"{stack.url}/api/sales/batch/", json={"sales": chunk}, timeout=60)
        till.post_batch(chunk)  # the till retries: every sale was recorded, so each is a 200 now

    assert {a.status for a in till.answers} == {200}  # no 202 could be sent: the worker was dead
    assert redis_client.xlen(f"{stack.settings.redis_prefix}sales") == len(burst)  # recorded and queued
    assert redis_client.llen(celery_queue(stack)) == 0  # and never handed to Celery
    stack.start("worker")
    stack.start("beat")  # the recovery
    result = tally(stack, "web worker exits between record and handover", burst, till.answers, product_id)
    assert (result.answered_202, result.answered_200) == (0, len(burst))


def test_web_workers_killed_at_random_during_a_burst_lose_nothing(stack_factory):
    stack = stack_factory("web-kills")
    till = Till(stack)
    product_id = till.product()
    burst = sales(product_id, 200)
    master = psutil.Process(stack.processes["web"].pid)
    done = threading.Event()
    kills = []

    def kill_web_workers():
        """SIGKILL a random web worker every 30 answers (a worker takes seconds to boot here)."""
        chance = random.Random(5)
        while not done.wait(0.05):
            workers = master.children()
            if len(till.answers) >= 30 * (len(kills) + 1) and workers:
                victim = chance.choice(workers)
                victim.send_signal(signal.SIGKILL)
                kills.append(victim.pid)

    killer = threading.Thread(target=kill_web_workers)
    killer.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(till.deliver, burst))
    finally:
        done.set()
        killer.join()

    assert len(kills) >= 3, "too few web workers killed during the burst: nothing was tested"
    tally(stack, f"{len(kills)} web workers SIGKILLed during a burst", burst, till.answers, product_id)


def test_a_long_backlog_drains_without_flooding_the_celery_queue(stack_factory, redis_client):
    interval = 2.0  # seconds between beat's drains
    # No rollup refreshes: they share the Celery queue, and would blur what is counted here.
    stack = stack_factory("long-backlog", SALESYNC_DRAIN_INTERVAL=str(interval), SALESYNC_ROLLUP_INTERVAL="600")
    till = Till(stack)
    product_id = till.product()
    stack.stop("worker")
    burst = sales(product_id, 600)
    till.post_batch(burst)
    queue, stream = celery_queue(stack), f"{stack.settings.redis_prefix}sales"
    assert wait_until(lambda: redis_client.llen(queue) > 0, timeout=30)  # triggers wait for a worker
    waiting = redis_client.llen(queue)
    ids = [sale["external_id"] for sale in burst]
    samples = []

    def sample() -> bool:
        samples.append((redis_client.llen(queue), redis_client.xlen(stream)))
        return applied(stack, ids) == len(ids)

    started = time.monotonic()
    stack.start("worker")
    assert wait_until(sample, timeout=120, interval=0.05)
    ticks = int((time.monotonic() - started) / interval) + 1

    longest = max(length for length, _ in samples)
    print(
        f"celery queue: {waiting} triggers waiting when the worker started, at most {longest} while "
        f"{len(burst)} sales drained over {ticks} beat ticks ({len(samples)} samples)"
    )
    # Triggers, never sales: at most one per beat tick, and a full batch queues one more only as it
    # consumes one. A recovery that queued work per waiting sale would add hundreds here.
    assert longest <= waiting + ticks + 5, samples
    assert max(length for _, length in samples) <= len(burst)  # the stream holds each sale once
    tally(stack, f"backlog of {len(burst)} drained, celery queue at most {longest}", burst, till.answers, product_id)
