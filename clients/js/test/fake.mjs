// A fake clock and a fake salesync server for the client's tests (no tests in this file).
import { MemoryStore, SaleSync } from "../salesync-client.js";

export const START = Date.parse("2026-02-01T09:00:00Z");
export const ITEMS = [{ product: 1, quantity: "2", unit_price: "1.50" }];

/** Timers that run only when the test moves the clock. */
export class Clock {
  constructor() {
    this.time = START;
    this.timers = new Map();
    this.ids = 0;
  }

  now = () => this.time;

  setTimeout = (fn, ms) => {
    this.ids += 1;
    this.timers.set(this.ids, { at: this.time + ms, fn });
    return this.ids;
  };

  clearTimeout = (id) => {
    this.timers.delete(id);
  };

  /** Move time forward by `ms`, firing due timers in order and letting their work finish. */
  async advance(ms) {
    const target = this.time + ms;
    for (;;) {
      await settle();
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= target).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
    }
    this.time = target;
    await settle();
  }
}

export async function settle() {
  for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

export function json(status, body, headers = {}) {
  return new Response(body === undefined ? "" : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/** The server side of the protocol, as docs/api.md describes it. */
export class FakeServer {
  constructor({ batch = true, bulkStatus = true, pull = true } = {}) {
    this.batch = batch;
    this.bulkStatus = bulkStatus;
    this.pull = pull;
    this.sales = new Map();   // external_id -> {payload, status, error}
    this.catalogue = new Map(); // id -> {product, change}: the change number of its last change
    this.changes = 0;
    this.requests = [];       // {method, path, query, body, headers, at}
    this.faults = [];         // functions run before a request is handled; may answer or throw
    this.down = false;
    this.token = "till-token";
  }

  fetch = async (url, init = {}) => {
    const { pathname: path, searchParams: query } = new URL(url, "http://till.example");
    const body = init.body === undefined ? undefined : JSON.parse(init.body);
    this.requests.push({ method: init.method, path, query, body, raw: init.body, headers: init.headers, at: this.clock?.now() });
    if (this.down) throw new TypeError("fetch failed");
    const fault = this.faults.shift();
    if (fault) {
      const answer = await fault(() => this.handle(init.method, path, body, init.headers, query));
      if (answer) return answer;
    }
    return this.handle(init.method, path, body, init.headers, query);
  };

  handle(method, path, body, headers, query) {
    if (headers.Authorization !== `Token ${this.token}`) return json(401, { title: "Unauthorized", status: 401 });
    if (method === "GET" && path === "/api/sync/products/" && this.pull) return this.pullAnswer(query, headers);
    if (method === "POST" && path === "/api/sales/batch/") {
      if (!this.batch) return json(405, { title: "Method Not Allowed", status: 405 });
      return json(200, { results: body.sales.map((sale) => this.accept(sale)) });
    }
    if (method === "POST" && path === "/api/sales/status/") {
      if (!this.bulkStatus) return json(405, { title: "Method Not Allowed", status: 405 });
      return json(200, { results: body.external_ids.map((id) => (this.sales.has(id)
        ? { status: 200, body: this.statusBody(id) }
        : { status: 404, body: { title: "Not Found", status: 404 } })) });
    }
    if (method === "POST" && path === "/api/sales/") {
      const { status, body: answer } = this.accept(body);
      return json(status, answer);
    }
    const match = path.match(/^\/api\/sales\/([^/]+)\/$/);
    if (method === "GET" && match && this.sales.has(match[1])) return json(200, this.statusBody(match[1]));
    return json(404, { title: "Not Found", status: 404 });
  }

  accept(sale) {
    if (!Array.isArray(sale.items) || sale.items.length === 0 || sale.items.some((i) => Number(i.quantity) <= 0)) {
      return { status: 400, body: { title: "Invalid request", status: 400, errors: [{ field: "items.0.quantity", message: "must be > 0" }] } };
    }
    const known = this.sales.get(sale.external_id);
    if (known && JSON.stringify(known.payload) !== JSON.stringify(sale)) {
      return { status: 422, body: { title: "External ID already used", status: 422, detail: "different payload" } };
    }
    if (known) return { status: 200, body: this.statusBody(sale.external_id) };
    this.sales.set(sale.external_id, { payload: sale, status: "queued" });
    return { status: 202, body: { external_id: sale.external_id, status: "queued" } };
  }

  statusBody(id) {
    const { status, error } = this.sales.get(id);
    const body = { external_id: id, status, received_at: "2026-02-01T09:00:00+00:00" };
    if (status === "applied") body.sale = { external_id: id, total: "3.00" };
    if (status === "rejected") body.error = error;
    return body;
  }

  /** Create or change a product (by id); it comes again in the next pull. */
  putProduct({ id = this.catalogue.size + 1, ...fields }) {
    const known = this.catalogue.get(id)?.product;
    const product = known ? { ...known, ...fields } : {
      id, sku: `SKU-${id}`, name: `Product ${id}`, is_volatile: false, unit_price: "1.00", stock: "0",
      stock_by_store: {}, reorder_level: null, created_at: "2026-02-01T08:00:00+00:00",
      updated_at: "2026-02-01T08:00:00+00:00", active: true, ...fields,
    };
    this.changes += 1;
    this.catalogue.set(id, { product, change: this.changes });
    return product;
  }

  /** A cursor: opaque to the client (here, the last change number it has seen, in base64). */
  cursor(change) {
    return Buffer.from(`after:${change}`).toString("base64url");
  }

  /** GET /api/sync/products/: what changed after the cursor, oldest change first. */
  pullAnswer(query, headers) {
    const limit = Number(query.get("limit") ?? 500);
    let after = 0;
    if (query.has("cursor")) {
      const match = Buffer.from(query.get("cursor"), "base64url").toString().match(/^after:(\d+)$/);
      if (!match) return json(400, { title: "Invalid request", status: 400, errors: [{ field: "cursor", message: "unknown cursor" }] });
      after = Number(match[1]);
    }
    const etag = `"${after}-${limit}-${this.changes}"`;
    if (headers["If-None-Match"] === etag) return new Response(null, { status: 304, headers: { ETag: etag } });
    const changed = [...this.catalogue.values()].filter((p) => p.change > after).sort((a, b) => a.change - b.change);
    const page = changed.slice(0, limit);
    const cursor = this.cursor(page.at(-1)?.change ?? after);
    return json(200, { products: page.map((p) => p.product), cursor, has_more: changed.length > limit }, { ETag: etag });
  }

  applyAll() {
    for (const sale of this.sales.values()) sale.status = "applied";
  }

  /** The requests that sent sales. */
  posts() {
    return this.requests.filter((r) => r.method === "POST" && r.path !== "/api/sales/status/");
  }

  /** The status polls: bulk or one sale each. */
  polls() {
    return this.requests.filter((r) => r.path.startsWith("/api/sales/") && (r.method === "GET" || r.path === "/api/sales/status/"));
  }

  /** The catalogue pulls. */
  pulls() {
    return this.requests.filter((r) => r.path === "/api/sync/products/");
  }
}

export function setup({ server = new FakeServer(), store = new MemoryStore(), clock = new Clock(), ...options } = {}) {
  let n = 0;
  server.clock = clock;
  const client = new SaleSync({
    token: server.token,
    store,
    fetch: server.fetch,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    now: clock.now,
    random: () => 0.5,
    uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`,
    isOnline: () => true,
    window: null,
    ...options,
  });
  return { client, server, store, clock };
}

export async function ringUp(client, count, items = ITEMS) {
  const records = [];
  for (let i = 0; i < count; i += 1) records.push(await client.sell({ items }));
  await client.running;
  return records;
}

export async function states(client) {
  return (await client.sales()).map((r) => r.state);
}
