"""The demo till in headless Chromium against the real stack: offline, reloads, a dying server."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from postgres.tables import Sale, SaleItem
from tests.builders import stock
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


class Till:
    """The till page as a cashier uses it."""

    def __init__(self, page, stack, device: str = "till-1"):
        self.page, self.stack, self.device = page, stack, device

    def open(self, query: str = "") -> Till:
        self.page.goto(f"{self.stack.url}/till/{query}#token={self.stack.tokens[self.device]}")
        return self.wait_ready()

    def wait_ready(self) -> Till:
        self.page.wait_for_selector("html[data-ready='yes']", state="attached")
        return self

    def sell(self, sku: str, quantity: int = 1) -> None:
        before = self.page.locator("#sales li").count()
        for _ in range(quantity):
            self.page.click(f"#products button[data-sku='{sku}']")
        self.page.click("#sell")
        # The sale is listed once it is stored.
        self.page.wait_for_function("n => document.querySelectorAll('#sales li').length === n", arg=before + 1)

    def waiting(self) -> int:
        return int(self.page.text_content("#queue-count"))

    def sales(self) -> dict[str, str]:
        return dict(
            self.page.eval_on_selector_all("#sales li", "els => els.map(e => [e.dataset.externalId, e.dataset.state])")
        )

    def wait_all_applied(self, count: int, timeout: float = 60) -> dict[str, str]:
        self.page.wait_for_function(
            """n => { const rows = [...document.querySelectorAll('#sales li')];
                      return rows.length === n && rows.every(row => row.dataset.state === 'applied'); }""",
            arg=count,
            timeout=timeout * 1000,
        )
        return self.sales()


def new_product(stack, stock: str = "100") -> dict:
    admin = Api(stack.url, stack.tokens["admin"])
    sku = f"TILL-{uuid.uuid4().hex[:8]}"
    answer = admin.post("/api/products/", {"sku": sku, "name": f"Tea {sku[-4:]}", "unit_price": "2.50", "stock": stock})
    assert answer.status_code == 201, answer.text
    return answer.json()


def stored(stack, product_id: int, external_ids) -> tuple[dict[str, int], Decimal, Decimal]:
    """How many times each sale is in PostgreSQL, the quantity its lines sold, the product's stock."""
    with stack.sessions() as session:
        counts = dict(
            session.execute(
                select(Sale.external_id, func.count())
                .where(Sale.external_id.in_(list(external_ids)))
                .group_by(Sale.external_id)
            ).all()
        )
        sold = session.scalar(
            select(func.coalesce(func.sum(SaleItem.quantity), 0)).where(SaleItem.product_id == product_id)
        )
        level = stock(session, product_id)
    return counts, sold, level


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


def test_the_page_and_the_client_module_are_served(stack):
    page = requests.get(f"{stack.url}/till", timeout=10)
    module = requests.get(f"{stack.url}/till/salesync-client.js", timeout=10)

    assert page.status_code == 200 and page.url == f"{stack.url}/till/"
    assert '<script type="module" src="till.js">' in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert module.headers["Content-Type"].startswith("text/javascript")
    assert module.content == (ROOT / "clients" / "js" / "salesync-client.js").read_bytes()


def test_sales_rung_up_offline_survive_a_reload_and_are_applied_exactly_once(browser, context, stack):
    product = new_product(stack)
    page = context.new_page()
    till = Till(page, stack).open()
    page.wait_for_selector("html[data-offline='ready']", state="attached")  # the page itself loads offline

    context.set_offline(True)
    till.sell(product["sku"], quantity=2)
    till.sell(product["sku"])
    till.sell(product["sku"], quantity=3)
    assert till.waiting() == 3
    assert set(till.sales().values()) == {"pending"}

    page.reload()
    till.wait_ready()
    assert till.waiting() == 3, "the queue survives a reload"
    till.sell(product["sku"])
    assert till.waiting() == 4
    assert page.text_content("#connection") == "offline"

    context.set_offline(False)
    sales = till.wait_all_applied(4)

    assert till.waiting() == 0
    counts, sold, stock = stored(stack, product["id"], sales)
    assert counts == dict.fromkeys(sales, 1)
    assert sold == Decimal(7)
    assert stock == Decimal(100 - 7)


def test_the_queue_drains_after_the_server_dies_mid_sync_and_the_retried_batch_is_not_doubled(browser, stack):
    product = new_product(stack)
    # Requests are intercepted below; a service worker would hide them from the interception.
    context = browser.new_context(service_workers="block")
    batches: list[tuple[list[str], list[int] | None]] = []

    def server_dies_after_answering_the_second_batch(route):
        ids = [sale["external_id"] for sale in route.request.post_data_json["sales"]]
        try:
            response = route.fetch()
        except Exception:  # the server is down: the till sees a refused connection
            batches.append((ids, None))
            route.abort("connectionrefused")
            return
        results = response.json()["results"] if response.status == 200 else [{"status": response.status}]
        batches.append((ids, [result["status"] for result in results]))
        if len(batches) == 2:
            stack.kill("web")  # the batch is recorded, the answer never reaches the till
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    try:
        page = context.new_page()
        till = Till(page, stack).open("?batch=4")
        context.set_offline(True)
        for _ in range(10):
            till.sell(product["sku"])
        context.route("**/api/sales/batch/", server_dies_after_answering_the_second_batch)

        context.set_offline(False)
        page.wait_for_selector("#error:not([hidden])")  # the till saw the sync fail
        stack.start("web")
        stack.wait_ready()
        sales = till.wait_all_applied(10)
    finally:
        context.close()
        if "web" not in stack.processes:
            stack.start("web")
            stack.wait_ready()

    first, lost = batches[0], batches[1]
    assert first[1] == [202] * 4
    assert lost[1] == [202] * 4, "the server recorded the batch whose answer was lost"
    retried = [statuses for ids, statuses in batches[2:] if ids == lost[0] and statuses]
    assert retried == [[200] * 4], "re-sent unchanged, and recognised as already received"
    counts, sold, stock = stored(stack, product["id"], sales)
    assert counts == dict.fromkeys(sales, 1)
    assert sold == Decimal(10)
    assert stock == Decimal(100 - 10)


def test_a_price_changed_while_the_till_is_offline_shows_after_its_next_pull(context, stack):
    product = new_product(stack)
    page = context.new_page()
    till = Till(page, stack).open()
    page.wait_for_selector("html[data-offline='ready']", state="attached")
    button = f"#products button[data-sku='{product['sku']}']"
    assert page.get_attribute(button, "data-price") == "2.50", "pulled from the server"

    context.set_offline(True)
    admin = Api(stack.url, stack.tokens["admin"])
    changed = admin.send("PATCH", f"/api/products/{product['id']}/", json={"unit_price": "3.10"})
    assert changed.status_code == 200, changed.text
    page.reload()  # offline: the page, and the catalogue from IndexedDB
    till.wait_ready()
    assert page.get_attribute(button, "data-price") == "2.50", "offline, the till knows the price it last pulled"
    till.sell(product["sku"])
    till.sell(product["sku"], quantity=2)

    context.set_offline(False)
    page.wait_for_selector(f"{button}[data-price='3.10']", state="attached")
    sales = till.wait_all_applied(2)

    numbers = page.eval_on_selector_all("#sales li", "els => els.map(e => e.dataset.sequence)")
    assert sorted(numbers) == ["1", "2"], "each sale numbered by the till"
    counts, sold, _ = stored(stack, product["id"], sales)
    assert counts == dict.fromkeys(sales, 1) and sold == Decimal(3)
