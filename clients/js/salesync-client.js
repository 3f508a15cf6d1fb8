// salesync-client.js: the till's half of offline-first sales sync, as a dependency-free ES module.
//
// A sale is written to a local store (IndexedDB in a browser) before anything is sent, with an
// external_id generated on the device. The queue is sent in batches to POST /api/sales/batch/
// (one by one to POST /api/sales/ if the server has no batch endpoint). A sale leaves the queue
// only when the server answered 202 or 200 for it; 400/422 sales are set aside for a person;
// 503, 429, 5xx and lost connections are retried with exponential backoff and jitter, never
// earlier than Retry-After. Sales the server still has queued are polled (many in one
// POST /api/sales/status/) until applied or rejected. Every sale carries `sequence`, the till's
// own count of the sales it rang up (1, 2, 3, ..., kept in the store). The product catalogue is
// pulled into the store incrementally (GET /api/sync/products/, a cursor and an ETag kept across
// reloads), so the till can sell from it offline. See README.md next to this file.

/** Where a sale is in its life. */
export const State = Object.freeze({
  PENDING: "pending",   // in the local queue: not yet acknowledged by the server
  HELD: "held",         // refused as sent (400, 413, 422): set aside for a person, never re-sent
  QUEUED: "queued",     // the server has it (202/200) and has not applied it yet
  APPLIED: "applied",   // applied by the server
  REJECTED: "rejected", // the server received it but can never apply it (see error)
});

const DEFAULTS = {
  baseUrl: "",
  sourceDevice: "web",
  batchSize: 100,        // sales per POST /api/sales/batch/ (the server takes up to 1,000)
  syncInterval: 15000,   // ms between timer syncs while sales are waiting
  pollInterval: 2000,    // ms between status polls of sales the server has queued
  pollLimit: 20,         // sales asked about per poll round (one request; one each from an older server)
  retryBase: 1000,       // ms: first backoff step, doubled on every consecutive failure...
  retryMax: 30000,       // ...up to this
  requestTimeout: 30000, // ms before a request is given up as lost
  historyLimit: 200,     // applied sales kept for display; older ones are forgotten
  pullInterval: 60000,   // ms between catalogue pulls (0: only on start(), online and sync({force: true}))
  pullPageSize: 500,     // products asked for per catalogue page (the server gives up to 1,000)
};

const CLEARS = new Set([200, 202]);       // the server has the sale: it leaves the queue
const HOLDS = new Set([400, 413, 422]);   // retrying the same sale can never succeed
const AUTH = new Set([401, 403]);         // the token is wrong: sales wait for a new one

/** A transient failure: the sales stay queued and the next try waits. */
class Transient {
  constructor(kind, message, status = null, retryAfterMs = 0) {
    Object.assign(this, { kind, message, status, retryAfterMs });
  }
}

/**
 * The sales queue of one till.
 *
 * Everything the outside world provides can be injected (store, fetch, timers, clock, random,
 * uuid, online state, the event target of the online event), so the queue runs under Node's
 * test runner as well as in a browser.
 */
export class SaleSync {
  constructor({
    token,
    store,
    fetch = globalThis.fetch?.bind(globalThis),
    setTimeout = globalThis.setTimeout.bind(globalThis),
    clearTimeout = globalThis.clearTimeout.bind(globalThis),
    now = () => Date.now(),
    random = Math.random,
    uuid = () => uuid4(),
    isOnline = () => globalThis.navigator?.onLine !== false,
    window = globalThis.window,
    ...options
  }) {
    if (!store) throw new TypeError("SaleSync needs a store (IndexedDBStore or MemoryStore)");
    Object.assign(this, { token, store, fetch, now, random, uuid, isOnline, window });
    this.timers = { set: setTimeout, clear: clearTimeout };
    this.options = { ...DEFAULTS, ...options };
    this.batchSize = this.options.batchSize;
    this.batchEndpoint = true;     // false once the server showed it has no batch endpoint
    this.statusEndpoint = true;    // false once the server showed it has no bulk status endpoint
    this.listeners = new Map();
    this.running = null;           // the sync in progress (a promise), if any
    this.syncing = false;          // sending or polling right now
    this.again = false;            // sync() was called during a sync: run once more
    this.timer = null;
    this.attempts = 0;             // consecutive failed tries
    this.retryAt = 0;              // no send before this time (ms)
    this.lastSyncAt = null;        // last time the server answered a send or poll
    this.lastError = null;
    this.pullEndpoint = true;      // false once the server showed it has no catalogue pull endpoint
    this.pullAt = 0;               // the next catalogue pull is due at this time (ms; 0: now)
    this.lastPullAt = null;        // last time the server answered a catalogue pull (200 or 304)
    this.onOnline = () => this.sync({ force: true });
    this.onOffline = () => this.emitStatus();
  }

  // ---- events -------------------------------------------------------------------------------

  /** Listen to "status" (counts and sync state), "sale" (a sale changed), "sync", "catalogue"
   *  (products changed) and "error". Returns a function that removes the listener. */
  on(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(listener);
    return () => this.listeners.get(type).delete(listener);
  }

  emit(type, detail) {
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        listener(detail);
      } catch (error) {
        console.error("salesync listener failed", error);
      }
    }
  }

  async emitStatus() {
    this.emit("status", await this.status());
  }

  // ---- public API ---------------------------------------------------------------------------

  /** Listen for the online event, then sync and pull the catalogue now; call once the page is ready. */
  start() {
    this.stopped = false;
    this.window?.addEventListener?.("online", this.onOnline);
    this.window?.addEventListener?.("offline", this.onOffline);
    return this.sync({ force: true });
  }

  /** Stop listening and cancel the timer (a sync in progress finishes). */
  stop() {
    this.window?.removeEventListener?.("online", this.onOnline);
    this.window?.removeEventListener?.("offline", this.onOffline);
    this.stopped = true;
    this.cancelTimer();
  }

  /** Use another device token from now on (waiting sales are then sent with it). */
  setToken(token) {
    this.token = token;
    return this.sync({ force: true });
  }

  /**
   * Ring up a sale: store it, then try to send it. Resolves with the stored record once the
   * sale is safe in the store (before it is sent). `items` are lines as POST /api/sales/ takes
   * them; `client_timestamp` defaults to now and `external_id` is generated here; `sequence` is
   * the next number of this till's count, taken in the same store transaction that keeps the sale.
   */
  async sell({ items, client_timestamp, source_device }) {
    if (!Array.isArray(items) || items.length === 0) throw new TypeError("a sale needs at least one item");
    const at = this.now();
    const externalId = this.uuid();
    const record = await this.store.addSale((sequence) => ({
      external_id: externalId,
      seq: at * 1000 + (sequence % 1000),  // the order sales are listed and sent in
      state: State.PENDING,
      created_at: new Date(at).toISOString(),
      // Exactly what is sent on every try: a retry must carry the same payload, number included.
      sale: {
        external_id: externalId,
        sequence,
        source_device: source_device ?? this.options.sourceDevice,
        client_timestamp: client_timestamp ?? new Date(at).toISOString(),
        items,
      },
    }));
    this.emit("sale", record);
    this.sync();
    return record;
  }

  /** All sales the store holds, oldest first. */
  async sales() {
    return this.store.list();
  }

  /** The catalogue as last pulled, by id: every product the server showed, inactive ones
   *  included (`active: false`: keep for display, do not sell). */
  async products() {
    return this.store.products();
  }

  /** Pull the catalogue at the next chance (now, unless a backoff is running). */
  pull() {
    this.pullAt = 0;
    return this.sync();
  }

  /** Forget a sale that was set aside (state "held"); other sales cannot be discarded. */
  async discard(externalId) {
    const record = (await this.store.list()).find((r) => r.external_id === externalId);
    if (!record || record.state !== State.HELD) return false;
    await this.store.delete(externalId);
    this.emit("sale", { ...record, state: "discarded" });
    await this.emitStatus();
    return true;
  }

  /** Counts by state, plus what a UI shows about syncing. `pending` is the offline queue. */
  async status() {
    const counts = Object.fromEntries(Object.values(State).map((s) => [s, 0]));
    for (const record of await this.store.list()) counts[record.state] += 1;
    return {
      ...counts,
      syncing: this.syncing,
      online: this.isOnline(),
      lastSyncAt: this.lastSyncAt,
      lastPullAt: this.lastPullAt,
      lastError: this.lastError,
      retryAt: this.retryAt > this.now() ? this.retryAt : null,
    };
  }

  /**
   * Send what is queued, poll statuses, then pull the catalogue if due. One sync runs at a time:
   * a call during a sync returns the running one and makes it go round once more. Never rejects;
   * failures are reported through "error" and "status". Without `force`, a backoff in progress is
   * honoured; with it, the catalogue is pulled too.
   */
  sync({ force = false } = {}) {
    if (force) {
      this.retryAt = 0;
      this.pullAt = 0;
    }
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.cancelTimer();
    this.running = this.run();
    return this.running;
  }

  async run() {
    for (;;) {
      this.again = false;
      this.syncing = true;
      try {
        await this.round();
      } catch (error) {
        this.fail(new Transient("client", String(error?.message ?? error)));
      } finally {
        this.syncing = false;
      }
      try {
        await this.schedule();
        await this.emitStatus();
      } catch (error) {
        console.error("salesync could not read its store", error);
      }
      if (!this.again) {
        this.running = null;  // no await between the check and this: a sync() call cannot be lost
        return;
      }
    }
  }

  // ---- one sync round -----------------------------------------------------------------------

  async round() {
    if (!this.isOnline() || this.now() < this.retryAt) return;
    await this.emitStatus();
    const report = { sent: 0, accepted: 0, held: 0 };
    for (;;) {
      const pending = (await this.store.list()).filter((r) => r.state === State.PENDING);
      if (pending.length === 0) break;
      const outcome = await this.send(pending.slice(0, this.batchSize), report);
      if (outcome instanceof Transient) return this.fail(outcome);
    }
    if (report.sent) this.emit("sync", { ...report, at: this.now() });
    this.succeeded();
    const failure = (await this.poll()) ?? (await this.pullIfDue());
    if (failure) this.fail(failure);
  }

  /** Send one batch. Returns a Transient to stop the round, anything else to go on. */
  async send(batch, report) {
    if (!this.batchEndpoint) return this.sendOneByOne(batch, report);
    const answer = await this.request("POST", "/api/sales/batch/", { sales: batch.map((r) => r.sale) });
    if (answer instanceof Transient) return answer;
    const { status, body } = answer;
    if (status === 200 && Array.isArray(body?.results) && body.results.length === batch.length) {
      const settled = batch.map((record, i) => this.settle(record, body.results[i].status, body.results[i].body));
      return this.save(settled.filter(Boolean), report, batch.length);
    }
    if (status === 404 || status === 405) {
      this.batchEndpoint = false;  // an older server: POST /api/sales/ one by one
      return this.sendOneByOne(batch, report);
    }
    if (status === 413 && batch.length > 1) {
      this.batchSize = Math.max(1, Math.floor(batch.length / 2));
      return null;
    }
    if (status === 413) return this.save([this.settle(batch[0], 413, body)], report, 1);
    return this.failure(status, body, answer.retryAfterMs);
  }

  async sendOneByOne(batch, report) {
    for (const record of batch) {
      const answer = await this.request("POST", "/api/sales/", record.sale);
      if (answer instanceof Transient) return answer;
      const settled = this.settle(record, answer.status, answer.body);
      if (!settled) return this.failure(answer.status, answer.body, answer.retryAfterMs);
      await this.save([settled], report, 1);
    }
    return null;
  }

  /** The record after the server's answer for it, or null if it must stay in the queue. */
  settle(record, status, body) {
    if (CLEARS.has(status)) {
      const server = status === 202 ? State.QUEUED : body?.status;
      return this.fromStatus({ ...record, sent_at: new Date(this.now()).toISOString() }, server, body);
    }
    if (HOLDS.has(status)) return { ...record, state: State.HELD, error: problem(status, body) };
    return null;
  }

  /** Apply a status body (queued / applied / rejected) to a record. */
  fromStatus(record, status, body) {
    if (status === State.APPLIED) return { ...record, state: State.APPLIED, result: body?.sale ?? null };
    if (status === State.REJECTED) return { ...record, state: State.REJECTED, error: body?.error ?? "rejected" };
    return { ...record, state: State.QUEUED };
  }

  async save(records, report, sent) {
    await this.store.putMany(records);
    report.sent += sent;
    for (const record of records) {
      if (record.state === State.HELD) report.held += 1;
      else report.accepted += 1;
      this.emit("sale", record);
    }
    this.lastSyncAt = this.now();
    if (records.length < sent) {
      // Some results were neither accepted nor refused (a 5xx for one sale): try again later.
      return new Transient("server", "some sales were not accepted; they will be sent again");
    }
    return null;
  }

  /**
   * Ask for the status of sales the server has queued, the least recently asked first: all in one
   * POST /api/sales/status/, or one GET each from an older server without it.
   */
  async poll() {
    const queued = (await this.store.list())
      .filter((r) => r.state === State.QUEUED)
      .sort((a, b) => (a.checked_at ?? 0) - (b.checked_at ?? 0))
      .slice(0, this.options.pollLimit);
    if (queued.length > 0 && this.statusEndpoint) {
      const answer = await this.request("POST", "/api/sales/status/", { external_ids: queued.map((r) => r.external_id) });
      if (answer instanceof Transient) return answer;
      const { status, body } = answer;
      if (status === 200 && Array.isArray(body?.results) && body.results.length === queued.length) {
        for (const [i, record] of queued.entries()) await this.polled(record, body.results[i]);
        await this.prune();
        return null;
      }
      if (status !== 404 && status !== 405) return this.failure(status, body, answer.retryAfterMs);
      this.statusEndpoint = false;  // an older server: GET each sale
    }
    for (const record of queued) {
      const answer = await this.request("GET", `/api/sales/${record.external_id}/`);
      if (answer instanceof Transient) return answer;
      const failure = await this.polled(record, answer);
      if (failure) return failure;
    }
    await this.prune();
    return null;
  }

  /** Apply one sale's status answer ({status, body}); a Transient if it says to stop polling. */
  async polled(record, answer) {
    if (answer.status !== 200) {
      if (AUTH.has(answer.status) || answer.status === 429 || answer.status >= 500) {
        return this.failure(answer.status, answer.body, answer.retryAfterMs);
      }
      await this.store.putMany([{ ...record, checked_at: this.now() }]);  // 404: ask again later
      return null;
    }
    this.lastSyncAt = this.now();
    const updated = this.fromStatus({ ...record, checked_at: this.now() }, answer.body?.status, answer.body);
    await this.store.putMany([updated]);
    if (updated.state !== State.QUEUED) this.emit("sale", updated);
    return null;
  }

  /** Keep the newest `historyLimit` applied sales; held and rejected ones stay for a person. */
  async prune() {
    const applied = (await this.store.list()).filter((r) => r.state === State.APPLIED);
    for (const record of applied.slice(0, Math.max(0, applied.length - this.options.historyLimit))) {
      await this.store.delete(record.external_id);
    }
  }

  // ---- catalogue ----------------------------------------------------------------------------

  /** Pull the catalogue if a pull is due; a Transient if it failed (it stays due). */
  async pullIfDue() {
    if (!this.pullEndpoint || this.now() < this.pullAt) return null;
    const failure = await this.pullCatalogue();
    if (!failure) this.pullAt = this.options.pullInterval > 0 ? this.now() + this.options.pullInterval : Infinity;
    return failure;
  }

  /**
   * Pull what changed since the stored cursor (everything, without one), page by page until
   * has_more is false. Each page's products are upserted by id together with the cursor after
   * them, so a pull cut short goes on from its last stored page. The ETag of an answer is sent
   * back as If-None-Match when the same cursor is asked for again: 304 means nothing changed.
   * Returns a Transient if the pull stopped early.
   */
  async pullCatalogue() {
    let { cursor = null, etag = null } = (await this.store.getMeta("catalogue")) ?? {};
    let restarted = false;
    let changed = 0;
    for (;;) {
      const query = new URLSearchParams({ limit: String(this.options.pullPageSize) });
      if (cursor !== null) query.set("cursor", cursor);
      const headers = etag && etag.cursor === cursor ? { "If-None-Match": etag.value } : {};
      const answer = await this.request("GET", `/api/sync/products/?${query}`, undefined, headers);
      if (answer instanceof Transient) return answer;
      const { status, body } = answer;
      if (status === 304) break;  // nothing changed since the answer whose ETag was sent
      if (status === 400 && cursor !== null && !restarted) {
        // A cursor the server no longer takes: start again from the whole catalogue.
        [cursor, etag, restarted] = [null, null, true];
        continue;
      }
      if (status === 404 || status === 405) {
        this.pullEndpoint = false;  // an older server without the pull: keep the catalogue held
        return null;
      }
      if (status !== 200 || !Array.isArray(body?.products) || typeof body.cursor !== "string") {
        return this.failure(status, body, answer.retryAfterMs);
      }
      const state = { cursor: body.cursor, etag: answer.etag ? { cursor, value: answer.etag } : null };
      await this.store.putCatalogue(body.products, state);
      changed += body.products.length;
      if (!body.has_more || body.cursor === cursor) break;  // done (or a cursor that would loop)
      ({ cursor, etag } = state);
    }
    this.lastPullAt = this.now();
    if (changed > 0) this.emit("catalogue", { changed, at: this.lastPullAt });
    return null;
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  /** One request: {status, body, retryAfterMs, etag}, or a Transient when no answer came. */
  async request(method, path, body, extraHeaders = {}) {
    const headers = { Authorization: `Token ${this.token}`, Accept: "application/json", ...extraHeaders };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const controller = typeof AbortController === "function" ? new AbortController() : null;
    const timeout = this.timers.set(() => controller?.abort(), this.options.requestTimeout);
    try {
      const response = await this.fetch(this.options.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",  // answers are the server's to give: never one from the browser's cache
        signal: controller?.signal,
      });
      let parsed = null;
      try {
        parsed = await response.json();
      } catch {
        parsed = null;  // not JSON: a proxy's error page, say
      }
      return {
        status: response.status,
        body: parsed,
        retryAfterMs: retryAfter(response.headers?.get?.("Retry-After"), this.now()),
        etag: response.headers?.get?.("ETag") ?? null,
      };
    } catch (error) {
      return new Transient("network", `no answer from the server (${error?.message ?? error})`);
    } finally {
      this.timers.clear(timeout);
    }
  }

  /** A whole-request failure (not a per-sale answer): nothing left the queue. */
  failure(status, body, retryAfterMs) {
    const kind = AUTH.has(status) ? "auth" : status === 429 ? "busy" : "server";
    const message = body?.detail ?? body?.title ?? `HTTP ${status}`;
    return new Transient(kind, message, status, retryAfterMs);
  }

  // ---- backoff and timer --------------------------------------------------------------------

  /** Exponential backoff with jitter, never earlier than Retry-After. */
  fail(failure) {
    this.attempts += 1;
    const { retryBase, retryMax } = this.options;
    const ceiling = Math.min(retryMax, retryBase * 2 ** (this.attempts - 1));
    const backoff = ceiling / 2 + (this.random() * ceiling) / 2;
    const wait = Math.max(backoff, failure.retryAfterMs ? failure.retryAfterMs + this.random() * retryBase : 0);
    this.retryAt = this.now() + wait;
    this.lastError = {
      kind: failure.kind,
      status: failure.status,
      message: failure.message,
      at: this.now(),
      retryAt: this.retryAt,
    };
    this.emit("error", this.lastError);
  }

  succeeded() {
    this.attempts = 0;
    this.retryAt = 0;
    this.lastError = null;
  }

  /** Wake up for the next retry, status poll, catalogue pull or timer sync, if there is anything to do. */
  async schedule() {
    this.cancelTimer();
    if (this.stopped) return;
    const counts = await this.status();
    let wake = null;
    if (counts.pending > 0) wake = this.retryAt || this.now() + this.options.syncInterval;
    if (counts.queued > 0) wake = Math.min(wake ?? Infinity, Math.max(this.retryAt, this.now() + this.options.pollInterval));
    if (this.pullEndpoint && this.pullAt !== Infinity) {
      // A pull due while offline waits like the queue does: for the online event or the timer.
      const pull = this.isOnline() ? Math.max(this.pullAt, this.retryAt) : this.now() + this.options.syncInterval;
      wake = Math.min(wake ?? Infinity, pull);
    }
    if (wake === null) return;
    this.timer = this.timers.set(() => {
      this.timer = null;
      this.sync();
    }, Math.max(0, wake - this.now()));
  }

  cancelTimer() {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }
}

/** A random (version 4) UUID: crypto.randomUUID() where the page is a secure context (HTTPS,
 *  localhost), the same from crypto.getRandomValues() elsewhere. */
export function uuid4(crypto = globalThis.crypto) {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;  // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80;  // RFC 4122 variant
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Retry-After as milliseconds from now: delay-seconds or an HTTP date; 0 if absent or bad. */
export function retryAfter(value, now = Date.now()) {
  if (value == null || value === "") return 0;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? 0 : Math.max(0, date - now);
}

function problem(status, body) {
  return {
    status,
    title: body?.title ?? `HTTP ${status}`,
    detail: body?.detail ?? null,
    errors: body?.errors ?? [],
  };
}

function byOrder(a, b) {
  return a.seq - b.seq;
}

function byId(a, b) {
  return a.id - b.id;
}

/**
 * The till's data in memory: for tests, and for environments without IndexedDB (nothing
 * survives a restart). Sales by external_id, products by id, and a few named values ("sequence":
 * the last sale number given; "catalogue": the pull's cursor and ETag).
 */
export class MemoryStore {
  constructor() {
    this.records = new Map();
    this.catalogue = new Map();
    this.meta = new Map();
  }

  async list() {
    return [...this.records.values()].map((r) => structuredClone(r)).sort(byOrder);
  }

  async putMany(records) {
    for (const record of records) this.records.set(record.external_id, structuredClone(record));
  }

  async delete(externalId) {
    this.records.delete(externalId);
  }

  /** Store the sale `build(sequence)` makes with the next sale number, and count that number used. */
  async addSale(build) {
    const sequence = (this.meta.get("sequence") ?? 0) + 1;
    const record = build(sequence);
    this.meta.set("sequence", sequence);
    this.records.set(record.external_id, structuredClone(record));
    return record;
  }

  async products() {
    return [...this.catalogue.values()].map((p) => structuredClone(p)).sort(byId);
  }

  /** Upsert products by id and keep the pull's state with them, as one write. */
  async putCatalogue(products, state) {
    for (const product of products) this.catalogue.set(product.id, structuredClone(product));
    this.meta.set("catalogue", structuredClone(state));
  }

  async getMeta(key) {
    return structuredClone(this.meta.get(key));
  }
}

/** The till's data in IndexedDB (as MemoryStore keeps it): survives reloads, crashes and restarts of the browser. */
export class IndexedDBStore {
  static NAME = "sales";
  static PRODUCTS = "products";
  static META = "meta";

  static open(name = "salesync", indexedDB = globalThis.indexedDB) {
    return new Promise((resolve, reject) => {
      // Version 2 adds the catalogue and the named values; a till's queue of version 1 is kept.
      const request = indexedDB.open(name, 2);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(IndexedDBStore.NAME)) db.createObjectStore(IndexedDBStore.NAME, { keyPath: "external_id" });
        if (!db.objectStoreNames.contains(IndexedDBStore.PRODUCTS)) db.createObjectStore(IndexedDBStore.PRODUCTS, { keyPath: "id" });
        if (!db.objectStoreNames.contains(IndexedDBStore.META)) db.createObjectStore(IndexedDBStore.META);
      };
      request.onsuccess = () => {
        // A newer version opened in another tab: let it upgrade (this page must be reloaded).
        request.result.onversionchange = () => request.result.close();
        resolve(new IndexedDBStore(request.result));
      };
      request.onerror = () => reject(request.error);
    });
  }

  constructor(db) {
    this.db = db;
  }

  /**
   * One transaction over the object stores `names`. `work` gets them by name and returns a
   * function that reads its result once the transaction is complete. "strict": the write is on
   * disk before it is reported done; a rung-up sale survives a crash.
   */
  transaction(names, mode, work) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(names, mode, { durability: "strict" });
      const result = work(Object.fromEntries(names.map((name) => [name, tx.objectStore(name)])));
      tx.oncomplete = () => resolve(result?.());
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    });
  }

  async list() {
    return (await this.transaction([IndexedDBStore.NAME], "readonly", (stores) => {
      const all = stores[IndexedDBStore.NAME].getAll();
      return () => all.result;
    })).sort(byOrder);
  }

  putMany(records) {
    return this.transaction([IndexedDBStore.NAME], "readwrite", (stores) => {
      for (const record of records) stores[IndexedDBStore.NAME].put(record);
    });
  }

  delete(externalId) {
    return this.transaction([IndexedDBStore.NAME], "readwrite", (stores) => {
      stores[IndexedDBStore.NAME].delete(externalId);
    });
  }

  /** The number and the sale in one transaction: two tabs never give out the same number. */
  addSale(build) {
    return this.transaction([IndexedDBStore.NAME, IndexedDBStore.META], "readwrite", (stores) => {
      let record;
      const last = stores[IndexedDBStore.META].get("sequence");
      last.onsuccess = () => {
        const sequence = (last.result ?? 0) + 1;
        record = build(sequence);
        stores[IndexedDBStore.META].put(sequence, "sequence");
        stores[IndexedDBStore.NAME].put(record);
      };
      return () => record;
    });
  }

  async products() {
    return (await this.transaction([IndexedDBStore.PRODUCTS], "readonly", (stores) => {
      const all = stores[IndexedDBStore.PRODUCTS].getAll();
      return () => all.result;
    })).sort(byId);
  }

  putCatalogue(products, state) {
    return this.transaction([IndexedDBStore.PRODUCTS, IndexedDBStore.META], "readwrite", (stores) => {
      for (const product of products) stores[IndexedDBStore.PRODUCTS].put(product);
      stores[IndexedDBStore.META].put(state, "catalogue");
    });
  }

  getMeta(key) {
    return this.transaction([IndexedDBStore.META], "readonly", (stores) => {
      const value = stores[IndexedDBStore.META].get(key);
      return () => value.result;
    });
  }
}
