"""GET /metrics against real Redis and PostgreSQL, without workers: the gauges read at scrape time,
the workers' counters as Prometheus histograms, and a scrape that survives Redis being gone."""

from __future__ import annotations

import time
import uuid

import pytest

from cli.embedded import free_port
from redis_queue.counters import WorkerMetrics
from tests.builders import auth, issue_tokens
from tests.prometheus_text import samples, value
from web.app import create_app


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return samples(response.text)


def test_queue_depth_and_sync_lag_count_sales_no_worker_has_applied(client, sessions, settings, redis_client):
    device = f"till-{uuid.uuid4().hex[:6]}"
    token = issue_tokens(sessions, redis_client, settings.redis_prefix, device)[device]
    assert value(scrape(client), "salesync_sync_lag_seconds") == 0
    for _ in range(3):
        sale = {"external_id": str(uuid.uuid4()), "items": [{"product": 1, "quantity": "1", "unit_price": "1"}]}
        assert client.post("/api/sales/", json=sale, headers=auth(token)).status_code == 202
    time.sleep(0.05)  # the lag is an age: let the oldest sale age measurably

    found = scrape(client)

    assert value(found, "salesync_queue_depth") == 3
    assert value(found, "salesync_sync_lag_seconds") >= 0.05
    assert value(found, "salesync_intake_sales_total", outcome="new") >= 3
    assert value(found, "salesync_dependency_up", dependency="redis") == 1


def test_the_workers_counts_reach_metrics_as_counters_and_cumulative_histograms(client, settings, redis_client):
    counts = WorkerMetrics(redis_client, settings.redis_prefix)
    counts.drained("kick", batch=7, seconds=0.2, applied=6, rejected=1)
    counts.drained("more", batch=100, seconds=3.0, applied=97, retried=3)
    counts.drained("beat")
    counts.drained("made-up")

    found = scrape(client)

    assert [
        value(found, "salesync_sales_applied_total"),
        value(found, "salesync_sales_rejected_total"),
        value(found, "salesync_sales_retried_total"),
    ] == [103, 1, 3]
    assert {t: value(found, "salesync_drains_total", trigger=t) for t in ("beat", "kick", "more", "other")} == {
        "beat": 1,
        "kick": 1,
        "more": 1,
        "other": 1,
    }
    size = {le: value(found, "salesync_apply_batch_size_bucket", le=le) for le in ("5.0", "10.0", "100.0", "+Inf")}
    assert size == {"5.0": 0, "10.0": 1, "100.0": 2, "+Inf": 2}
    assert value(found, "salesync_apply_batch_size_sum") == 107
    assert value(found, "salesync_apply_batch_duration_seconds_bucket", le="0.25") == 1
    assert value(found, "salesync_apply_batch_duration_seconds_bucket", le="2.5") == 1
    assert value(found, "salesync_apply_batch_duration_seconds_bucket", le="5.0") == 2
    assert value(found, "salesync_apply_batch_duration_seconds_count") == 2
    assert value(found, "salesync_worker_last_drain_timestamp_seconds") == pytest.approx(time.time(), abs=60)


def test_metrics_still_answer_when_redis_is_unreachable(settings):
    client = create_app(settings.model_copy(update=dict(redis_url=f"redis://127.0.0.1:{free_port()}/0"))).test_client()

    found = scrape(client)

    assert value(found, "salesync_dependency_up", dependency="redis") == 0
    assert value(found, "salesync_dependency_up", dependency="postgresql") == 1
    assert ("salesync_queue_depth",) not in found  # unknown, not a misleading 0
    assert ("salesync_open_alerts",) in found
