"""The ops dashboard in a real browser (headless Chromium) against a running stack: it asks for an admin
token, then draws today's top sellers, and the chart really renders (checked on a screenshot)."""

from __future__ import annotations

import io
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from PIL import Image
from sqlalchemy import update

from postgres.tables import DeviceSequence
from redis_queue.devices import last_seen_key
from tests.e2e.openapi_check import answers_match_the_openapi_document  # noqa: F401 (autouse: every answer)
from tests.polling import wait_until

pytestmark = pytest.mark.e2e

BAR_COLOUR = (0x25, 0x63, 0xEB)  # --top in dashboard.css


def test_the_dashboard_asks_for_an_admin_token_then_charts_todays_top_sellers(stack, api, browser, tmp_path):
    admin, till = api["admin"], api["till-1"]
    run = uuid.uuid4().hex[:6].upper()
    # Prices high enough that these are today's top sellers whatever else this database holds.
    sold = {
        f"DASH-{run}-{name}": (price, quantity)
        for name, price, quantity in (("COFFEE", "9000.00", "3"), ("TEA", "7000.00", "2"), ("CAKE", "5000.00", "1"))
    }
    ids = {}
    for sku in sold:
        created = admin.post("/api/products/", {"sku": sku, "name": sku.split("-")[-1].title(), "stock": "100"})
        ids[sku] = created.json()["id"]
    sales = [
        {"external_id": str(uuid.uuid4()), "items": [{"product": ids[sku], "quantity": quantity, "unit_price": price}]}
        for sku, (price, quantity) in sold.items()
    ]
    assert [till.post("/api/sales/", body).status_code for body in sales] == [202, 202, 202]
    assert [till.settled(body["external_id"])["status"] for body in sales] == ["applied"] * 3
    overview = wait_until(
        lambda: (
            (body := admin.get("/api/ops/overview/").json())
            and set(sold) <= {p["sku"] for p in body["top_sellers"]["products"]}
            and body
        ),
        interval=0.2,
    )
    assert overview, "the rollup never counted today's sales"

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and not message.text.startswith("Failed to load resource")
            and errors.append(message.text)
        ),
    )  # failed loads: checked below
    failed = []
    page.on("response", lambda response: response.status >= 400 and failed.append((response.status, response.url)))
    page.goto(f"{stack.url}/dashboard")

    page.wait_for_selector("#login:not([hidden])")
    assert page.is_hidden("#board")  # nothing is shown, or fetched, without a token
    page.fill("#token", stack.tokens["till-1"])
    page.click("#login-form button")
    # Not wait_for_function: the page's Content-Security-Policy (kept on) forbids evaluating strings.
    page.locator("#login-error", has_text="needs an admin token").wait_for()
    assert page.is_hidden("#board")

    page.fill("#token", stack.tokens["admin"])
    page.click("#login-form button")
    page.wait_for_selector("body[data-loaded='true']")
    bars = page.eval_on_selector_all("#top-sellers rect.bar", "bars => bars.map(b => b.dataset.sku)")
    ours = [sku for sku in bars if sku in sold]
    assert ours == [f"DASH-{run}-COFFEE", f"DASH-{run}-TEA", f"DASH-{run}-CAKE"]  # by revenue
    widths = page.eval_on_selector_all(
        "#top-sellers rect.bar", "bars => Object.fromEntries(bars.map(b => [b.dataset.sku, b.getBBox().width]))"
    )
    assert widths[f"DASH-{run}-COFFEE"] > widths[f"DASH-{run}-TEA"] > widths[f"DASH-{run}-CAKE"] > 0
    applied = page.eval_on_selector_all("#applied-chart rect.bar", "bars => bars.map(b => +b.dataset.count)")
    assert len(applied) == 60 and sum(applied) >= 3
    assert page.locator("#lag-chart circle.point, #lag-chart path.series").count() >= 1
    assert int(page.text_content("#kpi-applied")) >= 3

    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    chart = Image.open(io.BytesIO(page.locator("#top-sellers").screenshot())).convert("RGB")
    (width, height), pixels = chart.size, chart.get_flattened_data()
    near_bar = sum(1 for p in pixels if all(abs(c - b) <= 24 for c, b in zip(p, BAR_COLOUR)))
    assert len(set(pixels)) > 10, "the chart region is blank"
    assert near_bar > 0.03 * width * height, f"only {near_bar} of {width * height} pixels are bar-coloured"
    assert errors == []
    assert failed == [(403, f"{stack.url}/api/ops/overview/")]  # the device token, refused
    page.close()


def test_the_tills_panel_shows_silent_tills_missing_sales_and_a_clock_far_ahead(stack, api, browser):
    admin, till = api["admin"], api["till-1"]
    product = admin.post("/api/products/", {"sku": f"TILLS-{uuid.uuid4().hex[:6]}", "name": "Tea", "unit_price": "2"})
    ahead = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()  # till-1's clock runs 10 min ahead
    sales = [
        {
            "external_id": str(uuid.uuid4()),
            "sequence": n,
            "client_timestamp": ahead,
            "items": [{"product": product.json()["id"], "quantity": "1"}],
        }
        for n in (1, 4)
    ]
    assert [till.post("/api/sales/", body).status_code for body in sales] == [202, 202]
    assert [till.settled(body["external_id"])["status"] for body in sales] == ["applied"] * 2
    device = till.get(f"/api/sales/{sales[0]['external_id']}/").json()["sale"]["device"]
    silent = api["till-2"].get("/api/sales/00000000-0000-4000-8000-000000000000/")  # seen now ...
    assert silent.status_code == 404
    with stack.sessions.begin() as session:  # ... then pretend it is two hours later for 2..3 and till-2
        session.execute(
            update(DeviceSequence)
            .where(DeviceSequence.device == device)
            .values(received_at=DeviceSequence.received_at - timedelta(hours=2))
        )
    other = [d["device"] for d in admin.get("/api/devices/").json() if d["device"].startswith("till-2-")][-1]
    client = redis.Redis.from_url(stack.settings.redis_url)
    client.hset(last_seen_key(stack.settings.redis_prefix), other, time.time() - 7200)
    client.close()
    mine = till.get(f"/api/devices/{device}/").json()
    assert mine["missing_sequences"] == [[2, 3]] and mine["clock_skew_seconds"] > 500

    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{stack.url}/dashboard")
    page.fill("#token", stack.tokens["admin"])
    page.click("#login-form button")
    page.wait_for_selector("body[data-tills='true']")

    rows = page.eval_on_selector_all(
        "#tills tbody tr",
        "rows => rows.map(r => [r.dataset.device, r.className, r.dataset.silent, r.dataset.missing,"
        " Array.from(r.cells).map(c => c.textContent)])",
    )
    by_device = {row[0]: row for row in rows}
    assert not any(name.startswith("admin-") for name in by_device)  # an admin is no till
    _, cls, was_silent, missing, cells = by_device[device]
    assert (cls, was_silent, missing) == ("problem", "false", "2–3")
    assert cells[9].startswith("+") and "ahead" in cells[9] and int(cells[5]) >= 2  # applied
    assert by_device[other][1:3] == ["problem", "true"]
    problems = [row[1] == "problem" for row in rows]
    assert problems == sorted(problems, reverse=True)  # the tills needing a look come first
    assert "silent" in page.text_content("#tills-caption")
    assert errors == []
    page.close()
