"""Analytics over HTTP: a late offline sale shows up after the next scheduled refresh, untouched by hand."""

from __future__ import annotations

import uuid

import pytest

from tests.polling import wait_until

pytestmark = pytest.mark.e2e


def weekly(api, product_id):
    return api.get(
        f"/api/sales/analytics/?product_id={product_id}&start_date=2026-01-01&end_date=2026-01-31&period=weekly"
    ).json()


def test_a_sale_dated_weeks_back_changes_the_report_after_the_next_refresh(api):
    bread = (
        api["admin"]
        .post(
            "/api/products/",
            {"sku": f"BREAD-{uuid.uuid4().hex[:6]}", "name": "Bread", "is_volatile": True, "unit_price": "2.00"},
        )
        .json()
    )
    till = api["till-1"]

    def post(quantity, when):
        sale = {
            "external_id": str(uuid.uuid4()),
            "client_timestamp": when,
            "items": [{"product": bread["id"], "quantity": quantity, "unit_price": "2.00"}],
        }
        assert till.post("/api/sales/", sale).status_code == 202
        assert till.settled(sale["external_id"])["status"] == "applied"

    post("10.5", "2026-01-27T10:00:00Z")
    first = wait_until(lambda: (r := weekly(till, bread["id"]))["total_quantity_sold"] == "10.5" and r, interval=0.2)
    assert first, "the scheduled refresh never included the sale"

    post("1.5", "2026-01-02T08:00:00Z")  # an offline till reconnects with a sale from weeks ago
    second = wait_until(lambda: (r := weekly(till, bread["id"]))["total_quantity_sold"] == "12" and r, interval=0.2)

    assert second, "the late sale never reached the report"
    assert second["period_breakdown"][0] == {"date": "2026-01-01", "quantity": "1.5", "revenue": "3.00"}
    assert second["as_of"] > first["as_of"]
    assert second["total_revenue"] == "24.00"
