"""Two Celery beats at once (a deploy gone wrong): every scheduled task is sent twice.

Drains are triggers over an idempotent apply, so twice as many change nothing; rollup refreshes
take an advisory lock and recompute days rather than add to them, so two at once never count a
sale twice. Checked from the database while it runs, and at the end.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.e2e.faults import Till, applied, discard, make_stack, tally
from tests.polling import wait_until

pytestmark = pytest.mark.e2e
REFRESH_SENT = "Sending due task refresh-rollup"  # what celery beat logs as it sends one

# Per (product, day) of the given products: the rollup next to what sale_items say, in one snapshot.
ROLLUP_VERSUS_ITEMS = text("""
    WITH actual AS (
        SELECT product_id, (sold_at AT TIME ZONE 'UTC')::date AS day, sum(quantity) AS quantity,
               sum(subtotal) AS revenue, count(DISTINCT sale_id) AS sales
        FROM sale_items WHERE product_id = ANY(:ids) GROUP BY 1, 2)
    SELECT product_id, day, d.quantity, a.quantity, d.revenue, a.revenue, d.sale_count, a.sales
    FROM actual a FULL JOIN (SELECT * FROM sales_daily WHERE product_id = ANY(:ids)) d USING (product_id, day)
""")


def rollup_rows(stack, product_ids):
    with stack.sessions() as session:
        return session.execute(ROLLUP_VERSUS_ITEMS, {"ids": product_ids}).all()


def overcounted(rows) -> list:
    """Rows where the rollup says more than the items do: a sale counted twice."""
    return [
        row
        for row in rows
        if row[2] is not None and (row[3] is None or row[2] > row[3] or row[4] > row[5] or row[6] > row[7])
    ]


def test_two_beats_at_once_apply_and_count_every_sale_once(database_url, redis_url, run_prefix, tmp_path, engine):
    stack = make_stack(
        engine,
        database_url,
        redis_url,
        f"{run_prefix}two-beats-{time.time_ns()}:",
        tmp_path,
        SALESYNC_APPLY_BATCH="25",
        SALESYNC_ROLLUP_INTERVAL="0.3",
        SALESYNC_TIMEZONE="UTC",
    )
    try:
        stack.start_all()
        stack.start("beat-2", kind="beat")
        logs = [stack.settings.data_dir / f"{role}.log" for role in ("beat", "beat-2")]
        assert wait_until(lambda: all(REFRESH_SENT in log.read_text() for log in logs), timeout=60)
        sent_before = [log.read_text().count(REFRESH_SENT) for log in logs]
        till = Till(stack)
        products = [till.product(f"BEAT{n}") for n in range(3)]
        now = datetime.now(UTC)
        sent, bad = [], []
        for _wave in range(3):
            batch = [
                {
                    "external_id": str(uuid.uuid4()),
                    "client_timestamp": (now - timedelta(days=i % 4)).isoformat(),
                    "items": [{"product": products[i % 3], "quantity": "1.5", "unit_price": "2.25"}],
                }
                for i in range(100)
            ]
            till.post_batch(batch)
            sent += batch
            ids = [sale["external_id"] for sale in sent]
            # While both beats refresh the rollup over and over: never more than the items say.
            assert wait_until(
                lambda ids=ids: (
                    bad.extend(overcounted(rollup_rows(stack, products))) or applied(stack, ids) == len(ids)
                ),
                timeout=120,
                interval=0.1,
            )
        assert bad == [], f"the rollup counted sales twice: {bad[:5]}"

        # Once quiet: exactly what the items say, for every day of every product.
        assert wait_until(
            lambda: all((row[2], row[4], row[6]) == (row[3], row[5], row[7]) for row in rollup_rows(stack, products)),
            timeout=60,
            interval=0.2,
        ), rollup_rows(stack, products)
        rows = rollup_rows(stack, products)
        assert len(rows) == 3 * 4 and sum(row[7] for row in rows) == len(sent)
        # Both beats kept sending refreshes while the sales came in (bounded wait, not a timing).
        assert wait_until(
            lambda: all(log.read_text().count(REFRESH_SENT) >= before + 2 for log, before in zip(logs, sent_before)),
            timeout=30,
        )
        tally(stack, "two beats at once", sent, till.answers, products[0])
    finally:
        discard(stack)
