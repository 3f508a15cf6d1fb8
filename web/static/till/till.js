// The demo till: pick products, sell, watch the offline queue. Everything it knows about the
// server goes through salesync-client.js; the page only draws.
import { IndexedDBStore, SaleSync, State } from "./salesync-client.js";

const TOKEN_KEY = "salesync.token";
const SHOWN = 100;  // newest sales listed
const LABELS = {
  [State.PENDING]: "waiting to send",
  [State.QUEUED]: "sent, not applied yet",
  [State.APPLIED]: "applied",
  [State.REJECTED]: "rejected",
  [State.HELD]: "needs attention",
};

const $ = (selector) => document.querySelector(selector);
const params = new URLSearchParams(location.search);
let products = [];
let lines = [];  // {product, name, quantity, unit_price}
let client;

// ---- exact decimals for display: quantity (3 places) x price (4 places) = 7 places -----------

const QUANTITY = /^\d{1,9}(\.\d{1,3})?$/;
const PRICE = /^\d{1,9}(\.\d{1,4})?$/;

function units(text, places) {
  const [whole, fraction = ""] = String(text).trim().split(".");
  return BigInt(whole + fraction.padEnd(places, "0"));
}

function money(sevenPlaces) {
  const digits = sevenPlaces.toString().padStart(8, "0");
  const fraction = digits.slice(-7).replace(/0+$/, "").padEnd(2, "0");
  return `${digits.slice(0, -7)}.${fraction}`;
}

const lineValid = (line) => QUANTITY.test(line.quantity) && Number(line.quantity) > 0 && PRICE.test(line.unit_price);
const subtotal = (line) => (lineValid(line) ? units(line.quantity, 3) * units(line.unit_price, 4) : 0n);
const total = (items) => items.reduce((sum, line) => sum + subtotal(line), 0n);

// ---- token ------------------------------------------------------------------------------------

/** The device token: from #token=… once (a fragment never reaches the server or its access log),
 * then from localStorage. */
function readToken() {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    localStorage.setItem(TOKEN_KEY, given.trim());
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem(TOKEN_KEY);
}

function askForToken() {
  $("#token-form").hidden = false;
  $("#token-input").value = localStorage.getItem(TOKEN_KEY) ?? "";
  $("#token-input").focus();
}

$("#token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = $("#token-input").value.trim();
  if (!token) return;
  localStorage.setItem(TOKEN_KEY, token);
  $("#token-form").hidden = true;
  if (client) {
    client.setToken(token);
  } else {
    await start(token);
  }
});
$("#change-token").addEventListener("click", askForToken);

// ---- products ---------------------------------------------------------------------------------

/** The catalogue the client pulled into IndexedDB: there offline too. Inactive products are
 *  kept there but not offered. */
async function loadProducts() {
  products = (await client.products()).filter((product) => product.active !== false);
  drawProducts();
}

function drawProducts() {
  const box = $("#products");
  box.replaceChildren();
  if (products.length === 0) {
    box.innerHTML = '<p class="muted">No products yet.</p>';
    return;
  }
  for (const product of products) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.sku = product.sku;
    button.dataset.price = product.unit_price ?? "";
    button.textContent = product.name;
    const detail = document.createElement("small");
    detail.textContent = `${product.sku} · ${product.unit_price ?? "price at sale"}`;
    button.append(detail);
    button.addEventListener("click", () => addLine(product));
    box.append(button);
  }
}

// ---- the sale being rung up ---------------------------------------------------------------------

function addLine(product) {
  const line = lines.find((l) => l.product === product.id);
  if (line && /^\d+$/.test(line.quantity)) line.quantity = String(Number(line.quantity) + 1);
  else if (!line) lines.push({ product: product.id, name: product.name, quantity: "1", unit_price: product.unit_price ?? "" });
  drawLines();
}

function drawLines() {
  const body = $("#lines");
  body.replaceChildren();
  lines.forEach((line, index) => {
    const row = document.createElement("tr");
    row.innerHTML = `<td></td><td><input inputmode="decimal" aria-label="quantity" pattern="\\d+(\\.\\d{1,3})?"></td>
      <td><input inputmode="decimal" aria-label="unit price" pattern="\\d+(\\.\\d{1,4})?" required></td>
      <td class="num"></td><td><button type="button" aria-label="remove">×</button></td>`;
    row.cells[0].textContent = line.name;
    const [quantity, price] = row.querySelectorAll("input");
    quantity.value = line.quantity;
    price.value = line.unit_price;
    const update = () => {
      line.quantity = quantity.value.trim();
      line.unit_price = price.value.trim();
      row.cells[3].textContent = lineValid(line) ? money(subtotal(line)) : "–";
      drawTotal();
    };
    quantity.addEventListener("input", update);
    price.addEventListener("input", update);
    row.querySelector("button").addEventListener("click", () => {
      lines.splice(index, 1);
      drawLines();
    });
    body.append(row);
    update();
  });
  drawTotal();
}

function drawTotal() {
  $("#total").textContent = money(total(lines));
  $("#sell").disabled = !client || lines.length === 0 || !lines.every(lineValid);
}

$("#clear").addEventListener("click", () => {
  lines = [];
  drawLines();
});

$("#sell").addEventListener("click", async () => {
  const items = lines.map(({ product, quantity, unit_price }) => ({ product, quantity, unit_price }));
  $("#sell").disabled = true;  // one click, one sale
  try {
    await client.sell({ items });  // stored in IndexedDB before this returns
    lines = [];
    drawLines();
  } catch (error) {
    $("#error").hidden = false;
    $("#error").textContent = `The sale could not be stored on this till: ${error.message}`;
    drawTotal();
  }
});

// ---- queue and sales ------------------------------------------------------------------------------

function drawStatus(status) {
  const connection = $("#connection");
  connection.textContent = status.online ? (status.syncing ? "syncing" : "online") : "offline";
  connection.className = `badge ${status.online ? "online" : "offline"}`;
  $("#queue-count").textContent = String(status.pending);
  $("#queue-count").dataset.count = String(status.pending);
  $("#last-sync").textContent = status.lastSyncAt
    ? `last sync ${new Date(status.lastSyncAt).toLocaleTimeString()}` : "not synced yet";
  $("#last-pull").textContent = status.lastPullAt
    ? `prices of ${new Date(status.lastPullAt).toLocaleTimeString()}` : "prices not updated yet";
  const error = $("#error");
  error.hidden = !status.lastError;
  if (status.lastError) {
    const retry = status.retryAt ? `; retrying at ${new Date(status.retryAt).toLocaleTimeString()}` : "";
    error.textContent = `Could not sync: ${status.lastError.message}${retry}. Sales are kept on this till.`;
    if (status.lastError.kind === "auth") askForToken();
  }
}

let drawing = null;
function drawSales() {
  drawing ??= requestAnimationFrame(async () => {
    drawing = null;
    const sales = (await client.sales()).reverse().slice(0, SHOWN);
    $("#sales").replaceChildren(...sales.map(saleItem));
  });
}

function saleItem(record) {
  const item = document.createElement("li");
  item.dataset.externalId = record.external_id;
  item.dataset.state = record.state;
  const when = new Date(record.created_at).toLocaleTimeString();
  const amount = record.result?.total ?? money(total(record.sale.items));
  item.dataset.sequence = String(record.sale.sequence ?? "");
  item.innerHTML = '<span><span class="number"></span> <span class="when"></span> · <strong class="amount"></strong><br><code></code></span><span class="state"></span>';
  item.querySelector(".number").textContent = record.sale.sequence ? `No. ${record.sale.sequence}` : "";
  item.querySelector(".when").textContent = when;
  item.querySelector(".amount").textContent = amount;
  item.querySelector("code").textContent = record.external_id;
  const state = item.querySelector(".state");
  state.textContent = LABELS[record.state] ?? record.state;
  state.classList.add(record.state);
  const why = record.state === State.HELD ? heldReason(record.error) : record.state === State.REJECTED ? record.error : null;
  if (why) {
    const reason = document.createElement("span");
    reason.className = "why";
    reason.textContent = why;
    if (record.state === State.HELD) {
      const discard = document.createElement("button");
      discard.type = "button";
      discard.textContent = "Discard";
      discard.addEventListener("click", () => client.discard(record.external_id));
      reason.append(" ", discard);
    }
    item.append(reason);
  }
  return item;
}

function heldReason(error) {
  const fields = (error?.errors ?? []).map((e) => `${e.field}: ${e.message}`).join("; ");
  return [`${error?.status} ${error?.title}`, error?.detail, fields].filter(Boolean).join(" — ");
}

$("#sync-now").addEventListener("click", () => client?.sync({ force: true }));

// ---- start ------------------------------------------------------------------------------------------

async function start(token) {
  const store = await IndexedDBStore.open("salesync-till");
  const batchSize = Number(params.get("batch")) || undefined;
  client = new SaleSync({ token, store, ...(batchSize ? { batchSize } : {}) });
  window.salesync = client;  // for the browser console
  client.on("status", drawStatus);
  client.on("sale", drawSales);
  client.on("catalogue", loadProducts);
  drawSales();
  drawTotal();
  await loadProducts();  // the catalogue as last pulled: offline too
  await client.start();  // sends the queue and pulls what changed in the catalogue (when online)
  await loadProducts();
  document.documentElement.dataset.ready = "yes";  // products drawn, queue running
}

async function main() {
  if ("serviceWorker" in navigator) {
    // The page itself loads offline: the service worker keeps the last copy of it.
    navigator.serviceWorker.register("sw.js").catch((error) => console.warn("no offline page", error));
    navigator.serviceWorker.ready.then(() => { document.documentElement.dataset.offline = "ready"; });
  }
  const token = readToken();
  if (!token) {
    askForToken();
    return;
  }
  await start(token);
}

main();
