"""Real faults against real processes: every 202 ends applied exactly once, whatever dies.

Every test ends with `tally` (tests/e2e/faults.py): sent, answered 202/200, applied, rejected,
lost (0), applied twice (0), stock = start - sold, counted from the database.
"""

from __future__ import annotations

import re
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.faults import Till, applied, sales, tally
from tests.polling import wait_until

pytestmark = pytest.mark.e2e
SALES = 400


@pytest.fixture
def own_stack(stack_factory):
    return stack_factory()


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_worker_dying_in_the_middle_of_a_burst_loses_and_doubles_nothing(own_stack, how):
    till = Till(own_stack)
    product_id = till.product()
    burst = sales(product_id, SALES)
    own_stack.stop("worker")
    till.post_batch(burst)
    own_stack.start("worker")
    ids = [sale["external_id"] for sale in burst]
    assert wait_until(lambda: applied(own_stack, ids) > 0, timeout=60)

    if how == "SIGKILL":
        own_stack.kill("worker")
    else:
        own_stack.stop("worker", signal.SIGTERM)
    mid = applied(own_stack, ids)
    own_stack.start("worker")

    assert mid < SALES, "the burst was over before the fault: nothing was tested"
    tally(own_stack, f"worker {how} mid-burst", burst, till.answers, product_id)


def test_fifty_identical_posts_at_once_give_one_202_and_one_sale(own_stack):
    till = Till(own_stack)
    product_id = till.product()
    sale = sales(product_id, 1)[0]

    with ThreadPoolExecutor(50) as pool:
        codes = [answer.status for answer in pool.map(lambda _: till.post(sale), range(50))]

    assert sorted(codes) == [200] * 49 + [202]
    result = tally(own_stack, "50 identical posts at once", [sale], till.answers, product_id)
    assert result.applied == 1


def test_the_same_sales_delivered_to_two_workers_at_once_apply_once_each(stack_factory):
    # Reclaiming after 1 ms: each drain takes over whatever the other worker process is applying,
    # so the same entries are applied by both at once, all the time.
    stack = stack_factory(SALESYNC_RECLAIM_AFTER="0.001")
    till = Till(stack)
    product_id = till.product()
    burst = sales(product_id, 400)
    till.post_batch(burst)

    tally(stack, "same sales on two workers at once", burst, till.answers, product_id)
    log = (stack.settings.data_dir / "worker.log").read_text()
    delivered = sum(
        int(n) for n in re.findall(r"salesync\.drain\[[^\]]+\] succeeded in [^:]+: \{[^}]*'batch': (\d+)", log)
    )
    print(f"same sales on two workers at once: {delivered} deliveries of {len(burst)} sales")
    assert delivered > len(burst), "no sale was delivered twice: nothing was tested"


def test_the_tally_counts_a_sale_answered_202_and_never_applied_as_lost(own_stack):
    """The check every fault test ends with can fail: with no worker, a 202 is never applied."""
    till = Till(own_stack)
    product_id = till.product()
    own_stack.stop("worker")
    sale = sales(product_id, 1)[0]
    assert till.deliver(sale) == 202

    with pytest.raises(AssertionError, match="lost=1"):
        tally(own_stack, "tally self-check", [sale], till.answers, product_id, timeout=2)
