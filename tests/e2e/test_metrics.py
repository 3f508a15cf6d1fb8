"""GET /metrics on the real stack: intake counters from every gunicorn worker, the workers'
counters, and the gauges read at scrape time, all saying what really happened."""

from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
import yaml
from sqlalchemy import func, select

from postgres.tables import StockAlert
from tests.processes import ROOT
from tests.prometheus_text import samples, value

pytestmark = pytest.mark.e2e


def scrape(stack) -> dict[tuple, float]:
    response = requests.get(f"{stack.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(response.text)


def sale(product_id: int, quantity: str = "1") -> dict:
    return {
        "external_id": str(uuid.uuid4()),
        "items": [{"product": product_id, "quantity": quantity, "unit_price": "2.00"}],
    }


def test_metrics_count_what_intake_and_the_workers_did(stack, api):
    till, admin = api["till-1"], api["admin"]
    product = admin.post(
        "/api/products/", {"sku": f"MET-{uuid.uuid4().hex[:8]}", "name": "Metered", "stock": "100"}
    ).json()
    before = scrape(stack)

    valid = [sale(product["id"]) for _ in range(3)]
    for body in valid:
        assert till.post("/api/sales/", body).status_code == 202
    assert till.post("/api/sales/", valid[0]).status_code == 200  # a till's retry
    assert (
        till.post("/api/sales/", {**valid[1], "items": [{"product": product["id"], "quantity": "9"}]}).status_code
        == 422
    )  # same external_id, different sale
    assert till.post("/api/sales/", {"items": []}).status_code == 400
    assert requests.post(f"{stack.url}/api/sales/", json=valid[2], timeout=10).status_code == 401
    unknown = sale(2_000_000_000)  # accepted, then rejected by the worker: no such product
    assert till.post("/api/sales/", unknown).status_code == 202
    batch = [sale(product["id"]), sale(product["id"])]
    assert till.post("/api/sales/batch/", {"sales": batch}).status_code == 200
    for body in valid + batch:
        assert till.settled(body["external_id"])["status"] == "applied"
    assert till.settled(unknown["external_id"])["status"] == "rejected"

    # A drain counts its sales right after settling them: wait (bounded) until it has. The figures
    # read from PostgreSQL are a few seconds old at most (web/metrics.py): wait for the rollup's too.
    deadline = time.monotonic() + 30
    while True:
        after = scrape(stack)
        counted = sum(
            value(after, f"salesync_sales_{o}_total") - value(before, f"salesync_sales_{o}_total")
            for o in ("applied", "rejected")
        )
        if (counted >= 6 and ("salesync_rollup_age_seconds",) in after) or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    # Web: one count per request whichever gunicorn worker served it.
    assert {
        status: delta("salesync_intake_requests_total", endpoint="sale", status=status)
        for status in ("202", "200", "422", "400", "401")
    } == {"202": 4, "200": 1, "422": 1, "400": 1, "401": 1}
    assert delta("salesync_intake_requests_total", endpoint="batch", status="200") == 1
    assert delta("salesync_intake_request_duration_seconds_count", endpoint="sale") == 8
    assert delta("salesync_intake_request_duration_seconds_bucket", endpoint="sale", le="+Inf") == 8
    assert {
        outcome: delta("salesync_intake_sales_total", outcome=outcome) for outcome in ("new", "repeat", "conflict")
    } == {"new": 6, "repeat": 1, "conflict": 1}
    # Workers: every sale applied or rejected once, in batches that add up.
    assert delta("salesync_sales_applied_total") == 5
    assert delta("salesync_sales_rejected_total") == 1
    assert delta("salesync_sales_retried_total") == 0
    assert delta("salesync_apply_batch_size_sum") == 6
    assert delta("salesync_apply_batch_size_count") >= 1
    assert delta("salesync_apply_batch_duration_seconds_count") == delta("salesync_apply_batch_size_count")
    assert delta("salesync_drains_total", trigger="kick") >= 1
    assert value(after, "salesync_drains_total", trigger="beat") >= 1
    assert value(after, "salesync_worker_last_drain_timestamp_seconds") > 0
    # Scrape-time gauges: nothing waits, and they agree with PostgreSQL.
    assert value(after, "salesync_queue_depth") == 0
    assert value(after, "salesync_sync_lag_seconds") == 0
    with stack.sessions() as session:
        open_alerts = session.scalar(select(func.count()).select_from(StockAlert).where(StockAlert.status == "open"))
    assert value(after, "salesync_open_alerts") == open_alerts
    assert value(after, "salesync_rollup_age_seconds") >= 0
    assert ("salesync_rollup_age_seconds",) in after  # beat refreshes the rollup every second here
    assert value(after, "salesync_dependency_up", dependency="redis") == 1
    assert value(after, "salesync_dependency_up", dependency="postgresql") == 1
    # The counters really are shared by the gunicorn workers, not per process.
    assert list((stack.settings.data_dir / "prometheus").glob("counter_*.db"))
    # Every metric the shipped alert rules use is one /metrics really exposes.
    rules = yaml.safe_load((ROOT / "deploy" / "alerts.yml").read_text())["groups"][0]["rules"]
    used = {name for rule in rules for name in re.findall(r"salesync_[a-z_]+", rule["expr"])}
    assert used and used <= {name for name, *_ in after}
