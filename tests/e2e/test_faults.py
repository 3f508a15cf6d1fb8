"""Real faults against real processes: every 202 ends applied exactly once, whatever dies."""
from __future__ import annotations

import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal

import pytest
import redis
import requests
from sqlalchemy import func, select

from store import tokens
from store.db import make_sessions
from store.settings import Settings
from store.schema import Product, Sale
from tests.processes import Stack, environment

pytestmark = pytest.mark.e2e
SALES = 2000


@pytest.fixture
def own_stack(database_url, redis_url, run_prefix, tmp_path, engine):
    """A stack of its own, since these tests kill parts of it."""
    settings = replace(Settings(), database_url=database_url, redis_url=redis_url, data_dir=tmp_path,
                       redis_prefix=f"{run_prefix}fault-{time.time_ns()}:")
    stack = Stack(settings, environment(settings, SALESYNC_APPLY_BATCH="50"))
    stack.sessions = make_sessions(engine)
    with stack.sessions.begin() as session:
        device = f"till-{uuid.uuid4().hex[:8]}"
        stack.token = tokens.create(session, device, True)
        tokens.publish(session, redis.Redis.from_url(redis_url), settings.redis_prefix)
    try:
        yield stack.start_all()
    finally:
        stack.stop_all()


def post_burst(stack, count: int) -> tuple[int, list[str]]:
    http = requests.Session()
    http.headers["Authorization"] = f"Token {stack.token}"
    sku = f"HOT-{uuid.uuid4().hex[:8]}"
    product = http.post(f"{stack.url}/api/products/", json={"sku": sku, "name": "Hot", "stock": "100000"}).json()
    sales = [{"external_id": str(uuid.uuid4()), "items": [{"product": product["id"], "quantity": "1.5",
                                                           "unit_price": "2.00"}]} for _ in range(count)]
    for start in range(0, count, 500):
        results = http.post(f"{stack.url}/api/sales/batch/", json={"sales": sales[start:start + 500]}).json()
        assert {r["status"] for r in results["results"]} == {202}
    return product["id"], [sale["external_id"] for sale in sales]


def applied(stack, external_ids) -> int:
    with stack.sessions() as session:
        return session.scalar(select(func.count()).select_from(Sale).where(Sale.external_id.in_(external_ids)))


def wait_until(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def assert_all_applied_once(stack, product_id, external_ids):
    assert wait_until(lambda: applied(stack, external_ids) == len(external_ids), timeout=120), \
        f"lost: {len(external_ids) - applied(stack, external_ids)} of {len(external_ids)}"
    with stack.sessions() as session:
        stock = session.get(Product, product_id).stock
    assert stock == Decimal(100000) - Decimal("1.5") * len(external_ids)  # applied twice would show here


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_worker_dying_in_the_middle_of_a_burst_loses_and_doubles_nothing(own_stack, how):
    own_stack.stop("worker")
    product_id, external_ids = post_burst(own_stack, SALES)
    own_stack.start("worker")
    assert wait_until(lambda: applied(own_stack, external_ids) > 0, timeout=60)

    if how == "SIGKILL":
        own_stack.kill("worker")
    else:
        own_stack.stop("worker", signal.SIGTERM)
    mid = applied(own_stack, external_ids)
    own_stack.start("worker")

    assert mid < SALES, "the burst was over before the fault: nothing was tested"
    assert_all_applied_once(own_stack, product_id, external_ids)


def test_fifty_identical_posts_at_once_give_one_202_and_one_sale(own_stack):
    http = requests.Session()
    http.headers["Authorization"] = f"Token {own_stack.token}"
    sale = {"external_id": str(uuid.uuid4()), "items": [{"product_data": {
        "sku": f"STORM-{uuid.uuid4().hex[:6]}", "name": "Storm", "is_volatile": False}, "quantity": "1", "unit_price": "1"}]}

    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(lambda _: http.post(f"{own_stack.url}/api/sales/", json=sale).status_code, range(50)))

    assert sorted(codes) == [200] * 49 + [202]
    assert wait_until(lambda: applied(own_stack, [sale["external_id"]]) == 1, timeout=30)
