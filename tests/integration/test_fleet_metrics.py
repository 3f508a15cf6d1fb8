"""The fleet's gauges on GET /metrics (silent tills, open sequence gaps), the alert rules over them,
and the Grafana dashboard: every expression it draws names a metric /metrics really exposes."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import update

from postgres.apply import apply_isolating
from postgres.tables import ApiToken
from redis_queue.counters import WorkerMetrics
from redis_queue.devices import mark_seen
from tests.builders import add_product, line, sale
from tests.prometheus_text import samples, value

ROOT = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\bsalesync_[a-z_]+")


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return samples(response.text)


def test_silent_tills_and_open_gaps_are_gauges(client, sessions, settings, redis_client, auth_headers):
    assert value(scrape(client), "salesync_tills_silent") == 0  # till-1 and till-2: tokens just issued
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    with sessions.begin() as session:  # tokens issued two hours ago; till-2 never used its own
        session.execute(update(ApiToken).values(created_at=two_hours_ago))
    mark_seen(redis_client, settings.redis_prefix, "till-1", time.time() - 7200)  # till-1: seen two hours ago
    tea = add_product(sessions, "TEA", unit_price="2")
    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    raws = [sale(line(tea), sequence=n, received_at=long_ago) for n in (1, 4, 9)]  # 2..3 and 5..8 missing
    apply_isolating(sessions, raws, datetime.now(UTC))
    client.application.extensions.pop("salesync.recent.metrics.fleet", None)  # figures are cached for 5 s

    found = scrape(client)

    assert value(found, "salesync_tills_silent") == 2  # the admin is no till
    assert value(found, "salesync_sequence_gaps_open") == 2
    assert value(found, "salesync_sequences_missing") == 6


def test_the_fleet_alert_rules_watch_the_fleet_gauges():
    rules = {
        rule["alert"]: rule["expr"]
        for rule in yaml.safe_load((ROOT / "deploy" / "alerts.yml").read_text())["groups"][0]["rules"]
    }

    assert "salesync_tills_silent" in rules["SalesyncTillsSilent"]
    assert "salesync_sequence_gaps_open" in rules["SalesyncSalesMissing"]


def test_every_grafana_expression_names_a_metric_that_metrics_exposes(client, settings, auth_headers):
    # Some activity first: counters and histograms appear once something was counted.
    body = {"external_id": str(uuid.uuid4()), "items": [{"product": 1, "quantity": "1", "unit_price": "1"}]}
    assert client.post("/api/sales/", json=body, headers=auth_headers["till-1"]).status_code == 202
    WorkerMetrics(client.application.extensions["salesync"].redis, settings.redis_prefix).drained(
        "kick", batch=1, seconds=0.1, applied=1, rejected=1, retried=1
    )
    exposed = {name for name, *_ in scrape(client)}

    dashboard = json.loads((ROOT / "deploy" / "grafana" / "salesync.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    named = {name for expr in expressions for name in METRIC.findall(expr)}

    assert expressions and all(METRIC.search(expr) for expr in expressions)
    assert named <= exposed, f"not on /metrics: {sorted(named - exposed)}"
    for wanted in (
        "salesync_intake_requests_total",
        "salesync_sync_lag_seconds",
        "salesync_queue_depth",
        "salesync_sales_applied_total",
        "salesync_sales_rejected_total",
        "salesync_sequence_gaps_open",
        "salesync_tills_silent",
    ):
        assert wanted in named, f"the dashboard draws no {wanted}"
