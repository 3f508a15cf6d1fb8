"""A web till served from another origin than the API, in headless Chromium: with its origin in
SALESYNC_CORS_ORIGINS it sells, polls and pulls the catalogue through the JavaScript client and
reads the headers it needs; from an origin not listed the browser blocks every call."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.conftest import Api
from tests.e2e.faults import discard, issue_stack_tokens, make_stack

pytestmark = pytest.mark.e2e
CLIENT = Path(__file__).resolve().parents[2] / "clients" / "js" / "salesync-client.js"
PAGE = '<!doctype html><html lang="en"><meta charset="utf-8"><title>A till on its own origin</title></html>'


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the page's requests stay out of the test output
        pass


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Two static sites on their own ports (two origins), each serving a page and the client module."""
    root = tmp_path_factory.mktemp("till-site")
    (root / "index.html").write_text(PAGE)
    shutil.copy(CLIENT, root / "salesync-client.js")
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root))) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield [f"http://127.0.0.1:{server.server_address[1]}" for server in servers]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def allowed(sites):
    return sites[0]


@pytest.fixture(scope="module")
def other(sites):
    return sites[1]


@pytest.fixture(scope="module")
def cors_stack(engine, database_url, redis_url, run_prefix, tmp_path_factory, allowed):
    """salesync allowing the first site's origin only, with a till's token in `till`."""
    stack = make_stack(
        engine,
        database_url,
        redis_url,
        f"{run_prefix}cors-{time.time_ns()}:",
        tmp_path_factory.mktemp("cors-stack"),
        SALESYNC_CORS_ORIGINS=f"https://till.example.com,{allowed}",
    )
    device = f"till-cors-{uuid.uuid4().hex[:8]}"
    stack.till = issue_stack_tokens(stack, device)[device]
    try:
        yield stack.start_all()
    finally:
        discard(stack)


@pytest.fixture(scope="module")
def product(cors_stack):
    answer = Api(cors_stack.url, cors_stack.token).post(
        "/api/products/", {"sku": f"CORS-{uuid.uuid4().hex[:8]}", "name": "Tea", "unit_price": "2.50", "stock": "10"}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.fixture
def page(browser):
    # No service worker or cache between the page and the API: what the browser allows is what is seen.
    context = browser.new_context(service_workers="block")
    yield context.new_page()
    context.close()


# Sells one sale with the client module (baseUrl: the API's origin), waits until the client saw it
# applied, then reads the headers a till needs straight from fetch.
TILL_ON_ITS_OWN_ORIGIN = """async ({ api, token, product }) => {
  const { MemoryStore, SaleSync } = await import("/salesync-client.js");
  const client = new SaleSync({ token, store: new MemoryStore(), baseUrl: api, pollInterval: 200, window: null });
  const sale = await client.sell({ items: [{ product, quantity: "1", unit_price: "2.50" }] });
  const deadline = Date.now() + 30000;
  let record = sale;
  while (record.state !== "applied" && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    [record] = await client.sales();
  }
  await client.pull();
  const products = await client.products();
  client.stop();

  const auth = { Authorization: `Token ${token}` };
  const again = await fetch(`${api}/api/sales/`, {
    method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify(sale.sale),
  });
  const pulled = await fetch(`${api}/api/sync/products/?limit=1000`, { headers: auth, cache: "no-store" });
  const etag = pulled.headers.get("ETag");
  const unchanged = await fetch(`${api}/api/sync/products/?limit=1000`, {
    headers: { ...auth, "If-None-Match": etag }, cache: "no-store",
  });
  return {
    externalId: sale.external_id,
    state: record.state,
    total: record.result?.total,
    prices: products.map((p) => [p.id, p.unit_price]),
    again: again.status,
    againBody: await again.json(),
    location: (await fetch(`${api}/api/sales/`, {
      method: "POST", headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ ...sale.sale, external_id: crypto.randomUUID(), sequence: 2 }),
    })).headers.get("Location"),
    etag,
    unchanged: unchanged.status,
  };
}"""


def test_a_till_on_a_listed_origin_sells_polls_and_pulls_across_origins(page, cors_stack, product, allowed):
    page.goto(f"{allowed}/index.html")

    seen = page.evaluate(
        TILL_ON_ITS_OWN_ORIGIN, {"api": cors_stack.url, "token": cors_stack.till, "product": product["id"]}
    )

    assert seen["state"] == "applied" and seen["total"] == "2.50", seen
    assert [product["id"], "2.50"] in seen["prices"], "the catalogue pulled across origins"
    assert seen["again"] == 200 and seen["againBody"]["status"] == "applied", "a re-sent sale, answered and read"
    assert seen["location"].startswith("/api/sales/"), "Location is exposed"
    assert seen["etag"], "ETag is exposed"
    assert seen["unchanged"] == 304, "If-None-Match is allowed"
    status = Api(cors_stack.url, cors_stack.till).settled(seen["externalId"])
    assert status["status"] == "applied"


# The same calls from an origin not listed: fetch rejects, the client keeps its sale and reports a
# network error (a blocked answer looks like no answer to a page).
TILL_ON_ANOTHER_ORIGIN = """async ({ api, token, product }) => {
  const { MemoryStore, SaleSync } = await import("/salesync-client.js");
  const client = new SaleSync({ token, store: new MemoryStore(), baseUrl: api, window: null });
  const sale = await client.sell({ items: [{ product, quantity: "1", unit_price: "2.50" }] });
  await client.running;
  const [record] = await client.sales();
  const status = await client.status();
  client.stop();
  const blocked = async (url, init) => fetch(url, init).then((r) => `answered ${r.status}`, (e) => e.name);
  const auth = { Authorization: `Token ${token}` };
  return {
    externalId: sale.external_id,
    state: record.state,
    error: status.lastError?.kind,
    post: await blocked(`${api}/api/sales/`, {
      method: "POST", headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ ...sale.sale, external_id: crypto.randomUUID() }),
    }),
    pull: await blocked(`${api}/api/sync/products/`, { headers: auth }),
  };
}"""


def test_a_till_on_an_origin_not_listed_is_blocked_by_the_browser(page, cors_stack, product, other):
    page.goto(f"{other}/index.html")

    seen = page.evaluate(
        TILL_ON_ANOTHER_ORIGIN, {"api": cors_stack.url, "token": cors_stack.till, "product": product["id"]}
    )

    assert seen["post"] == "TypeError" and seen["pull"] == "TypeError", seen
    assert seen["state"] == "pending" and seen["error"] == "network", "the sale stays on the till"
    # The preflight was refused, so the sale itself was never sent.
    assert Api(cors_stack.url, cors_stack.till).get(f"/api/sales/{seen['externalId']}/").status_code == 404
