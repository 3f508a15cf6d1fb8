// The queue logic of salesync-client.js against a fake server, a fake clock and an in-memory store.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MemoryStore, State, retryAfter, uuid4 } from "../salesync-client.js";
import { FakeServer, ITEMS, START, json, ringUp, settle, setup, states } from "./fake.mjs";

test("a sale is stored with a new external_id before it is sent, then sent and cleared on 202", async () => {
  const { client, server, store } = setup({ uuid: undefined });
  const log = [];
  const [putMany, addSale] = [store.putMany.bind(store), store.addSale.bind(store)];
  store.putMany = async (records) => {
    log.push(["store", ...records.map((r) => r.state)]);
    return putMany(records);
  };
  store.addSale = async (build) => {
    const record = await addSale(build);
    log.push(["store", record.state]);
    return record;
  };
  const fetch = client.fetch;
  client.fetch = (...args) => {
    log.push(["send"]);
    return fetch(...args);
  };

  const record = await client.sell({ items: ITEMS });
  await client.running;

  assert.match(record.external_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(record.sale, {
    external_id: record.external_id, sequence: 1, source_device: "web", client_timestamp: "2026-02-01T09:00:00.000Z", items: ITEMS,
  });
  assert.deepEqual(log.slice(0, 3), [["store", State.PENDING], ["send"], ["store", State.QUEUED]]);
  assert.deepEqual(server.posts().map((r) => r.path), ["/api/sales/batch/"]);
  assert.deepEqual(server.posts()[0].body, { sales: [record.sale] });
  assert.deepEqual(await states(client), [State.QUEUED]);
  assert.equal((await client.status()).pending, 0);
});

test("sales go out in batches of batchSize, in the order they were rung up", async () => {
  const { client, server } = setup({ isOnline: () => false, batchSize: 2 });
  const records = await ringUp(client, 5);
  assert.equal(server.requests.length, 0, "offline: nothing is tried");

  await client.sync({ force: true });
  // The client decides it is online again.
  client.isOnline = () => true;
  await client.sync({ force: true });

  const sent = server.posts().map((r) => r.body.sales.map((s) => s.external_id));
  assert.deepEqual(sent, [records.slice(0, 2), records.slice(2, 4), records.slice(4)].map((b) => b.map((r) => r.external_id)));
  assert.deepEqual(await states(client), Array(5).fill(State.QUEUED));
});

test("200 clears a sale like 202; 400 and 422 are held aside with their error and never sent again", async () => {
  const { client, server } = setup({ isOnline: () => false });
  const [repeat, conflict, , ] = await ringUp(client, 2);
  const invalid = await client.sell({ items: [{ product: 1, quantity: "0" }] });
  const fresh = await client.sell({ items: ITEMS });
  server.sales.set(repeat.external_id, { payload: repeat.sale, status: "applied" });
  server.sales.set(conflict.external_id, { payload: { ...conflict.sale, items: [] }, status: "queued" });

  client.isOnline = () => true;
  await client.sync();
  await client.sync({ force: true });

  const byId = Object.fromEntries((await client.sales()).map((r) => [r.external_id, r]));
  assert.equal(byId[repeat.external_id].state, State.APPLIED);
  assert.deepEqual(byId[repeat.external_id].result, { external_id: repeat.external_id, total: "3.00" });
  assert.equal(byId[conflict.external_id].state, State.HELD);
  assert.equal(byId[conflict.external_id].error.status, 422);
  assert.equal(byId[conflict.external_id].error.title, "External ID already used");
  assert.equal(byId[invalid.external_id].state, State.HELD);
  assert.deepEqual(byId[invalid.external_id].error.errors, [{ field: "items.0.quantity", message: "must be > 0" }]);
  assert.equal(byId[fresh.external_id].state, State.QUEUED);
  assert.equal(server.posts().length, 1, "held sales are not sent again");
  const status = await client.status();
  assert.equal(status.held, 2);
  assert.equal(status.pending, 0);
});

test("503 keeps every sale queued and the next try waits for Retry-After", async () => {
  const { client, server, clock } = setup();
  server.faults.push(() => json(503, { title: "Service Unavailable", status: 503 }, { "Retry-After": "7" }));
  const errors = [];
  client.on("error", (e) => errors.push(e));

  const [record] = await ringUp(client, 1);

  assert.deepEqual(await states(client), [State.PENDING]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].status, 503);
  assert.equal(errors[0].kind, "server");
  assert.ok(errors[0].retryAt >= START + 7000);
  await client.sell({ items: ITEMS });  // a sale rung up during the backoff waits too
  await clock.advance(6999);
  assert.equal(server.posts().length, 1, "nothing is sent before Retry-After");

  await clock.advance(2000);

  assert.equal(server.posts().length, 2);
  assert.deepEqual(await states(client), [State.QUEUED, State.QUEUED]);
  assert.equal(server.sales.get(record.external_id).status, "queued");
  assert.equal((await client.status()).lastError, null);
});

test("lost connections are retried with exponential backoff and jitter, capped at retryMax", async () => {
  const draws = [0, 1, 0.5, 0, 1, 1];
  const { client, server, clock } = setup({ retryBase: 1000, retryMax: 8000, random: () => draws.shift() ?? 0 });
  server.down = true;

  await ringUp(client, 1);
  while (server.requests.length < 7) await clock.advance(500);

  // The ceiling doubles 1, 2, 4, 8, 8, 8 s; each wait is ceiling/2 plus ceiling/2 x random.
  const times = server.requests.map((r) => r.at);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  assert.deepEqual(gaps, [500, 2000, 3000, 4000, 8000, 8000]);
  assert.deepEqual(await states(client), [State.PENDING]);
  assert.equal((await client.status()).lastError.kind, "network");
});

test("a 429 with an HTTP-date Retry-After is honoured", async () => {
  const { client, server, clock } = setup({ random: () => 0 });
  const until = new Date(START + 20000).toUTCString();
  server.faults.push(() => json(429, { title: "Too Many Requests", status: 429 }, { "Retry-After": until }));

  await ringUp(client, 1);
  await clock.advance(19999);
  assert.equal(server.posts().length, 1);
  await clock.advance(1);

  assert.equal(server.posts().length, 2);
  assert.deepEqual(await states(client), [State.QUEUED]);
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  assert.equal(retryAfter("5", 0), 5000);
  assert.equal(retryAfter(" 12 ", 0), 12000);
  assert.equal(retryAfter("Sun, 01 Feb 2026 09:00:30 GMT", START), 30000);
  assert.equal(retryAfter("Sun, 01 Feb 2026 08:00:00 GMT", START), 0);
  assert.equal(retryAfter(null), 0);
  assert.equal(retryAfter("soon"), 0);
});

test("external_ids are version 4 UUIDs, from crypto.randomUUID() or else crypto.getRandomValues()", () => {
  assert.equal(uuid4({ randomUUID: () => "from-randomUUID" }), "from-randomUUID");
  assert.equal(uuid4({ getRandomValues: (bytes) => bytes.fill(0xff) }), "ffffffff-ffff-4fff-bfff-ffffffffffff");
  assert.equal(uuid4({ getRandomValues: (bytes) => bytes.fill(0) }), "00000000-0000-4000-8000-000000000000");
  assert.match(uuid4(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test("a batch whose answer was lost is sent again unchanged, answered 200, and the server holds each sale once", async () => {
  const { client, server, clock } = setup({ isOnline: () => false });
  server.faults.push(async (handle) => {
    await handle();  // the server records the batch...
    throw new TypeError("connection reset");  // ...and the answer never reaches the till
  });
  const records = await ringUp(client, 3);

  client.isOnline = () => true;
  await client.sync();

  assert.deepEqual(await states(client), Array(3).fill(State.PENDING));
  assert.equal(server.sales.size, 3);
  await clock.advance(1000);

  const [first, second] = server.posts();
  assert.equal(second.raw, first.raw, "the retry carries exactly the stored payload");
  assert.equal(server.sales.size, 3);
  assert.deepEqual(await states(client), Array(3).fill(State.QUEUED));
  assert.deepEqual([...server.sales.keys()], records.map((r) => r.external_id));
});

test("the online event sends at once, even during a backoff", async () => {
  const window = new EventTarget();
  let online = true;
  const { client, server } = setup({ window, isOnline: () => online });
  server.down = true;
  client.start();
  await ringUp(client, 2);
  assert.ok((await client.status()).retryAt > START);
  online = false;
  server.down = false;
  window.dispatchEvent(new Event("offline"));
  await client.sync({ force: true });
  const tries = server.posts().length;
  assert.equal((await client.status()).online, false);

  online = true;
  window.dispatchEvent(new Event("online"));
  await settle();
  await client.running;

  assert.equal(server.posts().length, tries + 1);
  assert.deepEqual(await states(client), [State.QUEUED, State.QUEUED]);
  client.stop();
});

test("a timer polls queued sales until applied or rejected, then stops", async () => {
  const { client, server, clock } = setup({ pollInterval: 2000, pullInterval: 0 });  // no timed catalogue pulls
  const changes = [];
  client.on("sale", (r) => changes.push([r.external_id, r.state]));
  const [a, b] = await ringUp(client, 2);
  server.applyAll();
  server.sales.get(b.external_id).status = "rejected";
  server.sales.get(b.external_id).error = "product 1 does not exist";

  await clock.advance(2000);

  const byId = Object.fromEntries((await client.sales()).map((r) => [r.external_id, r]));
  assert.equal(byId[a.external_id].state, State.APPLIED);
  assert.equal(byId[b.external_id].state, State.REJECTED);
  assert.equal(byId[b.external_id].error, "product 1 does not exist");
  assert.deepEqual(changes.slice(-2), [[a.external_id, State.APPLIED], [b.external_id, State.REJECTED]]);
  const polls = server.polls();
  assert.deepEqual(polls.at(-1).body, { external_ids: [a.external_id, b.external_id] }, "both in one request");
  assert.ok(polls.every((r) => r.method === "POST"), "no GET while the bulk endpoint answers");
  await clock.advance(60000);
  assert.equal(server.polls().length, polls.length, "settled sales are not polled");
  assert.equal(clock.timers.size, 0, "nothing to do: no timer");
});

test("a server without the bulk status endpoint is polled one sale at a time, from then on", async () => {
  const { client, server, clock } = setup({ server: new FakeServer({ bulkStatus: false }), pollInterval: 2000 });
  const [a, b] = await ringUp(client, 2);
  server.applyAll();

  await clock.advance(2000);

  const polls = server.polls().map((r) => `${r.method} ${r.path}`);
  assert.equal(polls[0], "POST /api/sales/status/");
  assert.deepEqual(polls.slice(-2), [`GET /api/sales/${a.external_id}/`, `GET /api/sales/${b.external_id}/`]);
  assert.equal(polls.filter((p) => p.startsWith("POST")).length, 1, "asked once, then never again");
  assert.deepEqual(await states(client), [State.APPLIED, State.APPLIED]);
  client.stop();
});

test("a bulk status poll refused with 429 waits and keeps the sales queued", async () => {
  const { client, server, clock } = setup({ pollInterval: 2000 });
  await ringUp(client, 2);
  server.applyAll();
  server.faults.push(() => json(429, { title: "Too Many Requests", status: 429 }, { "Retry-After": "5" }));

  await clock.advance(2000);

  assert.deepEqual(await states(client), [State.QUEUED, State.QUEUED]);
  assert.equal((await client.status()).lastError.kind, "busy");
  await clock.advance(10000);
  assert.deepEqual(await states(client), [State.APPLIED, State.APPLIED]);
  client.stop();
});

test("while offline the timer keeps the queue and sends it once online", async () => {
  let online = false;
  const { client, server, clock } = setup({ isOnline: () => online, syncInterval: 15000 });
  await ringUp(client, 1);
  await clock.advance(30000);
  assert.equal(server.requests.length, 0);

  online = true;
  await clock.advance(15000);

  assert.deepEqual(await states(client), [State.QUEUED]);
});

test("the queue survives a restart: a new client on the same store sends it", async () => {
  const store = new MemoryStore();
  const server = new FakeServer();
  const before = setup({ server, store, isOnline: () => false }).client;
  const records = await ringUp(before, 3);
  before.stop();

  const after = setup({ server, store }).client;
  await after.start();

  assert.deepEqual([...server.sales.keys()], records.map((r) => r.external_id));
  assert.deepEqual(await states(after), Array(3).fill(State.QUEUED));
});

test("a server without the batch endpoint gets the sales one by one", async () => {
  const { client, server } = setup({ server: new FakeServer({ batch: false }), isOnline: () => false });
  await ringUp(client, 2);
  await client.sell({ items: [{ product: 1, quantity: "-1" }] });
  client.isOnline = () => true;

  await client.sync();
  await client.sell({ items: ITEMS });
  await client.running;

  assert.deepEqual(server.posts().map((r) => r.path),
    ["/api/sales/batch/", "/api/sales/", "/api/sales/", "/api/sales/", "/api/sales/"]);
  assert.deepEqual(await states(client), [State.QUEUED, State.QUEUED, State.HELD, State.QUEUED]);
});

test("413 halves the batch until it fits; a single sale too large is held aside", async () => {
  const { client, server } = setup({ isOnline: () => false, batchSize: 4 });
  const tooLarge = () => json(413, { title: "Content Too Large", status: 413 });
  await ringUp(client, 4);
  server.faults.push(tooLarge, tooLarge, () => null, tooLarge);
  client.isOnline = () => true;

  await client.sync();

  assert.deepEqual(server.posts().map((r) => r.body.sales.length), [4, 2, 1, 1, 1, 1]);
  assert.deepEqual(await states(client), [State.QUEUED, State.HELD, State.QUEUED, State.QUEUED]);
});

test("401 keeps the sales and reports an auth error; a new token sends them", async () => {
  const { client, server } = setup();
  client.token = "revoked";
  const errors = [];
  client.on("error", (e) => errors.push(e));

  await ringUp(client, 2);
  assert.deepEqual(await states(client), [State.PENDING, State.PENDING]);
  assert.equal(errors[0].kind, "auth");

  await client.setToken(server.token);

  assert.deepEqual(await states(client), [State.QUEUED, State.QUEUED]);
});

test("one sync at a time: a sale rung up during a sync goes out right after, in the same sync", async () => {
  const { client, server } = setup();
  let release;
  server.faults.push(async (handle) => {
    await new Promise((resolve) => { release = resolve; });
    return handle();
  });

  const first = client.sell({ items: ITEMS });
  await first;
  await settle();
  const running = client.running;
  const second = await client.sell({ items: ITEMS });
  assert.equal(client.sync(), running, "a sync during a sync joins it");
  release();
  await running;

  assert.equal(server.posts().length, 2);
  assert.deepEqual(server.posts()[1].body.sales.map((s) => s.external_id), [second.external_id]);
  assert.deepEqual(await states(client), [State.QUEUED, State.QUEUED]);
});

test("status and sync events tell a UI the queue count, the last sync and errors", async () => {
  const { client, server, clock } = setup({ isOnline: () => false });
  const statuses = [];
  const syncs = [];
  client.on("status", (s) => statuses.push(s));
  const off = client.on("sync", (s) => syncs.push(s));
  await ringUp(client, 2);
  assert.equal(statuses.at(-1).pending, 2);
  assert.equal(statuses.at(-1).online, false);
  assert.equal(statuses.at(-1).lastSyncAt, null);

  client.isOnline = () => true;
  server.faults.push(() => json(500, { title: "Internal Server Error", status: 500, detail: "boom" }));
  await client.sync();
  assert.equal(statuses.at(-1).lastError.message, "boom");
  assert.equal(statuses.at(-1).pending, 2);
  await clock.advance(1000);

  // The retry came after 750 ms: half the first 1 s step, plus half of it times random (0.5).
  assert.deepEqual(syncs, [{ sent: 2, accepted: 2, held: 0, at: START + 750 }]);
  assert.deepEqual(statuses.at(-1), {
    pending: 0, held: 0, queued: 2, applied: 0, rejected: 0,
    syncing: false, online: true, lastSyncAt: START + 750, lastPullAt: START + 750, lastError: null, retryAt: null,
  });
  off();
});

test("discard forgets a held sale only; applied history is capped at historyLimit", async () => {
  const { client, server, clock } = setup({ historyLimit: 2 });
  const [bad] = await ringUp(client, 1, [{ product: 1, quantity: "0" }]);
  const good = await ringUp(client, 3);
  server.applyAll();
  await clock.advance(2000);

  assert.equal(await client.discard(good[2].external_id), false);
  assert.equal(await client.discard(bad.external_id), true);

  assert.deepEqual((await client.sales()).map((r) => [r.external_id, r.state]),
    [[good[1].external_id, State.APPLIED], [good[2].external_id, State.APPLIED]]);
});
