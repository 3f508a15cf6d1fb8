"""The ops dashboard in a real browser (headless Chromium) against a running stack: it asks for an admin
token, then draws today's top sellers, and the chart really renders (checked on a screenshot)."""
from __future__ import annotations

import os
import struct
import time
import uuid
import zlib

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
BAR_COLOUR = (0x25, 0x63, 0xEB)  # --top in dashboard.css


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while not (result := predicate()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """(width, height, RGB pixels) of an 8-bit RGB or RGBA PNG, as Chromium writes screenshots."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunk = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    channels = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 0xFF
        rows.append(line)
        previous = line
    pixels = [tuple(row[x * channels:x * channels + 3]) for row in rows for x in range(width)]
    return width, height, pixels


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (Debian package 'chromium')")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield browser
        finally:
            browser.close()


def test_the_dashboard_asks_for_an_admin_token_then_charts_todays_top_sellers(stack, api, browser, tmp_path):
    admin, till = api["admin"], api["till-1"]
    run = uuid.uuid4().hex[:6].upper()
    # Prices high enough that these are today's top sellers whatever else this database holds.
    sold = {f"DASH-{run}-{name}": (price, quantity) for name, price, quantity in
            (("COFFEE", "9000.00", "3"), ("TEA", "7000.00", "2"), ("CAKE", "5000.00", "1"))}
    ids = {}
    for sku in sold:
        created = admin.post("/api/products/", {"sku": sku, "name": sku.split("-")[-1].title(), "stock": "100"})
        ids[sku] = created.json()["id"]
    sales = [{"external_id": str(uuid.uuid4()), "items": [{"product": ids[sku], "quantity": quantity,
                                                          "unit_price": price}]}
             for sku, (price, quantity) in sold.items()]
    assert [till.post("/api/sales/", body).status_code for body in sales] == [202, 202, 202]
    assert [till.settled(body["external_id"])["status"] for body in sales] == ["applied"] * 3
    overview = wait_for(lambda: (body := admin.get("/api/ops/overview/").json())
                        and set(sold) <= {p["sku"] for p in body["top_sellers"]["products"]} and body)
    assert overview, "the rollup never counted today's sales"

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and not message.text.startswith(
        "Failed to load resource") and errors.append(message.text))  # failed loads: checked below
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
    widths = page.eval_on_selector_all("#top-sellers rect.bar",
                                       "bars => Object.fromEntries(bars.map(b => [b.dataset.sku, b.getBBox().width]))")
    assert widths[f"DASH-{run}-COFFEE"] > widths[f"DASH-{run}-TEA"] > widths[f"DASH-{run}-CAKE"] > 0
    applied = page.eval_on_selector_all("#applied-chart rect.bar", "bars => bars.map(b => +b.dataset.count)")
    assert len(applied) == 60 and sum(applied) >= 3
    assert page.locator("#lag-chart circle.point, #lag-chart path.series").count() >= 1
    assert int(page.text_content("#kpi-applied")) >= 3

    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    width, height, pixels = decode_png(page.locator("#top-sellers").screenshot())
    near_bar = sum(1 for p in pixels if all(abs(c - b) <= 24 for c, b in zip(p, BAR_COLOUR)))
    assert len(set(pixels)) > 10, "the chart region is blank"
    assert near_bar > 0.03 * width * height, f"only {near_bar} of {width * height} pixels are bar-coloured"
    assert errors == []
    assert failed == [(403, f"{stack.url}/api/ops/overview/")]  # the device token, refused
    page.close()
