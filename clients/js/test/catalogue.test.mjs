// The catalogue pull (GET /api/sync/products/) and sale numbering of salesync-client.js, against
// the fake server, a fake clock and an in-memory store.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MemoryStore } from "../salesync-client.js";
import { FakeServer, START, ringUp, setup } from "./fake.mjs";

/** A server holding `count` products, SKU-1 ... SKU-n. */
function serverWith(count, options) {
  const server = new FakeServer(options);
  for (let i = 0; i < count; i += 1) server.putProduct({});
  return server;
}

const asked = (server) => server.pulls().map((r) => [r.query.get("cursor"), r.headers["If-None-Match"] ?? null]);

test("the catalogue is pulled page by page until has_more is false, each page asked from the cursor before it", async () => {
  const server = serverWith(5);
  const { client, store } = setup({ server, pullPageSize: 2 });
  const changes = [];
  client.on("catalogue", (change) => changes.push(change));

  await client.start();

  assert.deepEqual(server.pulls().map((r) => [r.query.get("cursor"), r.query.get("limit")]),
    [[null, "2"], [server.cursor(2), "2"], [server.cursor(4), "2"]]);
  assert.deepEqual((await client.products()).map((p) => p.sku), ["SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5"]);
  assert.equal((await store.getMeta("catalogue")).cursor, server.cursor(5), "the last answer's cursor is kept");
  assert.deepEqual(changes, [{ changed: 5, at: START }]);
  assert.equal((await client.status()).lastPullAt, START);
  client.stop();
});

test("a later pull brings only what changed, upserted by id; an inactive product is kept and marked", async () => {
  const server = serverWith(3);
  const { client } = setup({ server });
  await client.start();

  server.putProduct({ id: 2, unit_price: "2.40" });
  server.putProduct({ id: 3, active: false });
  await client.pull();

  const last = server.pulls().at(-1);
  assert.equal(last.query.get("cursor"), server.cursor(3));
  const products = await client.products();
  assert.deepEqual(products.map((p) => [p.id, p.unit_price, p.active]), [[1, "1.00", true], [2, "2.40", true], [3, "1.00", false]]);
  client.stop();
});

test("the cursor survives a reload: a new client on the same store asks only for what changed since", async () => {
  const server = serverWith(4);
  const store = new MemoryStore();
  const before = setup({ server, store }).client;
  await before.start();
  before.stop();
  server.putProduct({ id: 4, unit_price: "9.99" });

  const after = setup({ server, store }).client;
  await after.start();

  assert.deepEqual(server.pulls().map((r) => r.query.get("cursor")), [null, server.cursor(4)]);
  assert.equal((await after.products()).length, 4);
  assert.equal((await after.products())[3].unit_price, "9.99");
  assert.equal((await store.getMeta("catalogue")).cursor, server.cursor(5));
  after.stop();
});

test("the ETag of an answer goes back as If-None-Match for the same cursor; 304 keeps the cursor and the products", async () => {
  const server = serverWith(2);
  const { client, store, clock } = setup({ server, pullInterval: 60000 });
  const changes = [];
  client.on("catalogue", (change) => changes.push(change));
  await client.start();             // everything, from no cursor
  await clock.advance(60000);       // the new cursor, asked once: nothing after it
  const [, second] = server.pulls();
  const stored = await store.getMeta("catalogue");
  assert.deepEqual(stored.etag, { cursor: server.cursor(2), value: `"2-500-2"` }, "the ETag of the answer for that cursor");

  await clock.advance(60000);       // the same cursor again: If-None-Match, 304

  assert.deepEqual(asked(server), [[null, null], [server.cursor(2), null], [server.cursor(2), `"2-500-2"`]]);
  assert.deepEqual(await store.getMeta("catalogue"), stored, "cursor and ETag kept");
  assert.equal((await client.products()).length, 2);
  assert.equal((await client.status()).lastPullAt, START + 120000, "a 304 is a pull that succeeded");
  assert.equal((await client.status()).lastError, null);
  assert.deepEqual(changes, [{ changed: 2, at: START }], "no catalogue event: nothing changed");
  assert.equal(second.query.get("limit"), "500");

  server.putProduct({ id: 1, name: "Renamed" });
  await clock.advance(60000);       // If-None-Match no longer matches: 200 with the change

  assert.equal(server.pulls().at(-1).headers["If-None-Match"], `"2-500-2"`);
  assert.equal((await client.products())[0].name, "Renamed");
  assert.equal((await store.getMeta("catalogue")).cursor, server.cursor(3));
  client.stop();
});

test("a cursor the server refuses (400) starts the pull again from the whole catalogue", async () => {
  const server = serverWith(3);
  const store = new MemoryStore();
  await store.putCatalogue([], { cursor: "stale", etag: { cursor: "stale", value: '"old"' } });
  const { client } = setup({ server, store });

  await client.start();

  assert.deepEqual(asked(server), [["stale", '"old"'], [null, null]]);
  assert.equal((await client.products()).length, 3);
  assert.equal((await store.getMeta("catalogue")).cursor, server.cursor(3));
  assert.equal((await client.status()).lastError, null);
  client.stop();
});

test("a pull cut short keeps the pages it stored and goes on from there after the backoff", async () => {
  const server = serverWith(5);
  const { client, store, clock } = setup({ server, pullPageSize: 2 });
  server.faults.push(() => null, () => { throw new TypeError("connection reset"); });

  await client.start();

  assert.equal((await client.products()).length, 2);
  assert.equal((await store.getMeta("catalogue")).cursor, server.cursor(2));
  assert.equal((await client.status()).lastError.kind, "network");
  await clock.advance(1000);

  assert.deepEqual(server.pulls().map((r) => r.query.get("cursor")),
    [null, server.cursor(2), server.cursor(2), server.cursor(4)]);
  assert.equal((await client.products()).length, 5);
  assert.equal((await client.status()).lastError, null);
  client.stop();
});

test("pulls come on start, every pullInterval, and at once when the browser is back online", async () => {
  const window = new EventTarget();
  let online = true;
  const server = serverWith(1);
  const { client, clock } = setup({ server, window, isOnline: () => online, pullInterval: 60000 });
  await client.start();
  await clock.advance(59999);
  assert.equal(server.pulls().length, 1);
  await clock.advance(1);
  assert.equal(server.pulls().length, 2);

  online = false;
  window.dispatchEvent(new Event("offline"));
  await clock.advance(120000);
  assert.equal(server.pulls().length, 2, "nothing is tried offline");
  server.putProduct({ id: 1, unit_price: "3.10" });
  online = true;
  window.dispatchEvent(new Event("online"));
  await clock.advance(0);
  await client.running;

  assert.equal(server.pulls().length, 3);
  assert.equal((await client.products())[0].unit_price, "3.10");
  client.stop();
});

test("a server without the pull endpoint (404) is not asked again, and that is no error", async () => {
  const { client, server } = setup({ server: serverWith(1, { pull: false }) });
  await client.start();
  await client.sync({ force: true });

  assert.equal(server.pulls().length, 1);
  assert.equal((await client.status()).lastError, null);
  assert.deepEqual(await client.products(), []);
  client.stop();
});

test("every sale is numbered: 1, 2, 3 ... kept in the store across a restart, and a re-sent sale keeps its number", async () => {
  const store = new MemoryStore();
  const server = new FakeServer();
  const before = setup({ server, store, isOnline: () => false }).client;
  const first = await ringUp(before, 2);
  before.stop();
  let n = 0;
  const after = setup({ server, store, uuid: () => `00000000-0000-4000-8000-1000000000${++n}0` }).client;
  server.faults.push(async (handle) => {
    await handle();  // the server records the batch...
    throw new TypeError("connection reset");  // ...and the answer is lost
  });
  const [third] = await ringUp(after, 1);
  await after.sync({ force: true });

  assert.deepEqual([...first, third].map((r) => r.sale.sequence), [1, 2, 3]);
  assert.deepEqual((await after.sales()).map((r) => r.sale.sequence), [1, 2, 3]);
  const [lost, retried] = server.posts();
  assert.deepEqual(lost.body.sales.map((s) => s.sequence), [1, 2, 3]);
  assert.equal(retried.raw, lost.raw, "re-sent with the same numbers");
  assert.deepEqual([...server.sales.values()].map((s) => s.payload.sequence), [1, 2, 3]);
  assert.equal(await store.getMeta("sequence"), 3);
  after.stop();
});
