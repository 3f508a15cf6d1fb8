"""GET /api/ops/overview/ (the dashboard's data) and the lag samples beat writes, against real servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from postgres import catalog, rollup
from postgres.apply import apply_isolating
from redis_queue import samples
from tests.builders import line, record, sale_now


def drain(intake, sessions) -> dict[str, dict]:
    entries = intake.claim("worker-a", 100, 60_000)
    statuses = apply_isolating(sessions, [entry.sale for entry in entries], datetime.now(UTC))
    intake.settle(entries, statuses)
    return statuses


def test_the_overview_needs_an_admin_token(client, auth_headers):
    assert client.get("/api/ops/overview/").status_code == 401
    refused = client.get("/api/ops/overview/", headers=auth_headers["till-1"])
    assert (refused.status_code, refused.json["title"]) == (403, "Forbidden")


def test_the_overview_shows_what_was_sold_applied_rejected_and_still_queued(
    client, auth_headers, sessions, intake, settings
):
    with sessions.begin() as session:

        def product(sku, stock, reorder, volatile=False):
            return catalog.create_product(
                session,
                {"main": Decimal(stock)},
                sku=sku,
                name=sku.title(),
                is_volatile=volatile,
                unit_price=Decimal("1.00"),
                reorder_level=Decimal(reorder),
            ).id

        juice, milk, bread = product("JUICE", 10, 5), product("MILK", 100, 5), product("BREAD", 0, 0, True)
    record(intake, sale_now(line(juice, quantity="6", unit_price="2.50")))  # stock 4, below 5: an alert opens
    record(
        intake, sale_now(line(milk, quantity="1", unit_price="0.99"), line(bread, quantity="0.5", unit_price="3.00"))
    )
    record(intake, sale_now(line(milk, quantity="2", unit_price="0.99")))
    rejected = sale_now(line(999_999))
    record(intake, rejected)
    drain(intake, sessions)
    waiting = [sale_now(line(milk)), sale_now(line(juice))]
    for raw in waiting:
        record(intake, raw)
    with sessions.begin() as session:
        rollup.refresh(session, settings.timezone)

    response = client.get("/api/ops/overview/", headers=auth_headers["admin"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["queue_depth"] == len(waiting)
    assert 0 <= body["sync_lag_seconds"] < 600
    assert body["history"][-1]["queue_depth"] == len(waiting)
    assert body["applied_last_hour"] == 3 == sum(m["count"] for m in body["applied_per_minute"])
    assert len(body["applied_per_minute"]) == 60
    assert (body["open_alert_count"], [a["sku"] for a in body["open_alerts"]]) == (1, ["JUICE"])
    assert (body["open_alerts"][0]["stock"], body["open_alerts"][0]["reorder_level"]) == ("4", "5")
    assert body["top_sellers"]["day"] == datetime.now(UTC).date().isoformat()
    assert [(p["sku"], p["quantity"], p["revenue"]) for p in body["top_sellers"]["products"]] == [
        ("JUICE", "6", "15.00"),
        ("MILK", "3", "2.97"),
        ("BREAD", "0.5", "1.50"),
    ]
    assert [(r["external_id"], r["reason"]) for r in body["recent_rejections"]] == [
        (rejected["external_id"], "product 999999 does not exist; send product_data to create it")
    ]


def test_samples_keep_the_last_hour_of_lag_and_depth(client, auth_headers, intake, sessions):
    key = samples.samples_key(intake.prefix)
    stale = samples.measure(intake)
    stale["at_ms"] -= 2 * 3600 * 1000  # from two hours ago: trimmed by the next sample
    intake.redis.zadd(key, {json.dumps(stale): stale["at_ms"]})
    first = samples.sample(intake)
    record(intake, sale_now(line(1)))
    second = samples.sample(intake)

    history = client.get("/api/ops/overview/", headers=auth_headers["admin"]).json["history"]

    assert intake.redis.zcard(key) == 2
    assert [point["queue_depth"] for point in history] == [0, 1, 1]  # two samples, then the live point
    assert (first["sync_lag_seconds"], first["queue_depth"]) == (0.0, 0)
    assert second["queue_depth"] == 1 and second["sync_lag_seconds"] >= 0
    assert 0 < intake.redis.pttl(key) <= 2 * 3600 * 1000
