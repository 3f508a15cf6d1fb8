// salesync ops dashboard: fetches GET /api/ops/overview/ with an admin token and draws it as SVG.
// No dependencies, no build step. Data is only ever written with textContent, never as HTML.
(function () {
  "use strict";

  var TOKEN_KEY = "salesync.adminToken";
  var REFRESH_MS = 10000;
  var SILENT_S = 3600;  // a till without a request for this long is silent (as salesync_tills_silent)
  var SKEW_S = 300;  // a clock further off than this is worth a look
  var SVG = "http://www.w3.org/2000/svg";
  var W = 600, H = 220, PAD = { left: 48, right: 14, top: 12, bottom: 26 };
  var timer = null;

  function $(id) { return document.getElementById(id); }

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svgRoot(container, height) {
    var svg = el("svg", { viewBox: "0 0 " + W + " " + (height || H), role: "img" });
    container.replaceChildren(svg);
    return svg;
  }

  // The top of a y axis with four round steps above zero; whole steps for counts.
  function niceMax(value, whole) {
    var raw = Math.max(value, whole ? 4 : 1) / 4;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * power; }).find(function (n) {
      return n >= raw && (!whole || n % 1 === 0);
    });
    return 4 * step;
  }

  function clock(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function duration(seconds) {
    if (seconds < 10) return (Math.round(seconds * 100) / 100) + " s";
    if (seconds < 120) return Math.round(seconds) + " s";
    if (seconds < 7200) return Math.floor(seconds / 60) + " min " + Math.round(seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " + Math.round((seconds % 3600) / 60) + " min";
  }

  // Horizontal grid lines with their values, for a y range 0..max.
  function yAxis(svg, max, format) {
    for (var i = 0; i <= 4; i++) {
      var value = max * i / 4, y = PAD.top + (H - PAD.top - PAD.bottom) * (1 - i / 4);
      svg.appendChild(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, "class": "grid-line" }));
      svg.appendChild(el("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", "class": "axis" }, format(value)));
    }
  }

  function timeAxis(svg, start, end) {
    for (var i = 0; i <= 4; i++) {
      var t = start + (end - start) * i / 4;
      var x = PAD.left + (W - PAD.left - PAD.right) * i / 4;
      var anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
      svg.appendChild(el("text", { x: x, y: H - 8, "text-anchor": anchor, "class": "axis" }, clock(new Date(t))));
    }
  }

  // A value over the last hour: an area under a line, one dot per sample when they are few.
  function lineChart(container, points, field, color, format, whole) {
    var svg = svgRoot(container);
    var end = points.length ? Date.parse(points[points.length - 1].at) : Date.now();
    var start = end - 3600 * 1000;
    var max = niceMax(Math.max.apply(null, points.map(function (p) { return p[field]; }).concat([0])), whole);
    yAxis(svg, max, format);
    timeAxis(svg, start, end);
    var x = function (t) { return PAD.left + (W - PAD.left - PAD.right) * (t - start) / (end - start); };
    var y = function (v) { return PAD.top + (H - PAD.top - PAD.bottom) * (1 - v / max); };
    var xy = points.map(function (p) { return [x(Date.parse(p.at)), y(p[field]), p]; });
    if (xy.length > 1) {
      var line = xy.map(function (q, i) { return (i ? "L" : "M") + q[0].toFixed(1) + "," + q[1].toFixed(1); }).join("");
      var base = y(0).toFixed(1);
      svg.appendChild(el("path", { d: line + "L" + xy[xy.length - 1][0].toFixed(1) + "," + base + "L" + xy[0][0].toFixed(1) + "," + base + "Z",
                                   fill: color, "fill-opacity": "0.12", stroke: "none" }));
      svg.appendChild(el("path", { d: line, fill: "none", stroke: color, "stroke-width": "2", "stroke-linejoin": "round",
                                   "class": "series" }));
    }
    if (xy.length < 40) {
      xy.forEach(function (q) {
        var dot = el("circle", { cx: q[0], cy: q[1], r: 3.5, fill: color, "class": "point" });
        dot.appendChild(el("title", {}, clock(new Date(q[2].at)) + ": " + format(q[2][field])));
        svg.appendChild(dot);
      });
    }
  }

  // Sales applied in each of the last 60 minutes.
  function minuteBars(container, minutes, color) {
    var svg = svgRoot(container);
    var max = niceMax(Math.max.apply(null, minutes.map(function (m) { return m.count; }).concat([0])), true);
    yAxis(svg, max, function (v) { return String(Math.round(v)); });
    var width = (W - PAD.left - PAD.right) / Math.max(minutes.length, 1);
    minutes.forEach(function (m, i) {
      var h = (H - PAD.top - PAD.bottom) * m.count / max;
      var bar = el("rect", { x: PAD.left + i * width + 1, y: H - PAD.bottom - h, width: Math.max(width - 2, 1), height: h,
                             rx: 1.5, fill: color, "class": "bar", "data-count": m.count });
      bar.appendChild(el("title", {}, clock(new Date(m.minute)) + ": " + m.count + " sales"));
      svg.appendChild(bar);
      var last = i === minutes.length - 1;
      if (i % 15 === 0 || last) {
        var anchor = i === 0 ? "start" : last ? "end" : "middle";
        var x = i === 0 ? PAD.left : last ? W - PAD.right : PAD.left + (i + 0.5) * width;
        svg.appendChild(el("text", { x: x, y: H - 8, "text-anchor": anchor, "class": "axis" }, clock(new Date(m.minute))));
      }
    });
  }

  // Today's best sellers by revenue: one horizontal bar per product.
  function topSellers(container, top, color) {
    var rows = top.products;
    var rowH = 26, height = Math.max(rows.length * rowH + 16, 80);
    var svg = svgRoot(container, height);
    if (!rows.length) {
      svg.appendChild(el("text", { x: W / 2, y: height / 2, "text-anchor": "middle", "class": "empty" }, "No sales today yet"));
      return;
    }
    var labelW = 190, valueW = 110;
    var max = Math.max.apply(null, rows.map(function (r) { return Number(r.revenue); }).concat([0])) || 1;
    rows.forEach(function (r, i) {
      var y = 8 + i * rowH;
      var name = r.name.length > 26 ? r.name.slice(0, 25) + "…" : r.name;
      svg.appendChild(el("text", { x: 0, y: y + 15, "class": "label" }, name));
      var w = Math.max((W - labelW - valueW) * Number(r.revenue) / max, 2);
      var bar = el("rect", { x: labelW, y: y + 3, width: w, height: rowH - 8, rx: 3, fill: color, "class": "bar",
                             "data-sku": r.sku, "data-revenue": r.revenue, "data-quantity": r.quantity });
      bar.appendChild(el("title", {}, r.sku + ": " + r.quantity + " sold, revenue " + r.revenue));
      svg.appendChild(bar);
      svg.appendChild(el("text", { x: labelW + w + 6, y: y + 15, "class": "value-label" }, r.revenue + "  (" + r.quantity + ")"));
    });
  }

  function fillTable(id, rows, cells, emptyText) {
    var body = $(id).querySelector("tbody");
    var trs = rows.map(function (row) {
      var tr = document.createElement("tr");
      cells(row).forEach(function (cell) {
        var td = document.createElement("td");
        td.textContent = cell[0];
        if (cell[1]) td.className = cell[1];
        tr.appendChild(td);
      });
      return tr;
    });
    if (!trs.length) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = $(id).querySelectorAll("th").length;
      td.className = "none";
      td.textContent = emptyText;
      tr.appendChild(td);
      trs.push(tr);
    }
    body.replaceChildren.apply(body, trs);
  }

  function when(iso) {
    var date = new Date(iso);
    return date.toDateString() === new Date().toDateString() ? clock(date) : date.toLocaleString();
  }

  function render(data) {
    var css = getComputedStyle(document.documentElement);
    var color = function (name) { return css.getPropertyValue(name).trim(); };
    $("kpi-lag").textContent = duration(data.sync_lag_seconds);
    $("kpi-lag").parentNode.classList.toggle("warn", data.sync_lag_seconds > 60);
    $("kpi-depth").textContent = String(data.queue_depth);
    $("kpi-applied").textContent = String(data.applied_last_hour);
    $("kpi-alerts").textContent = String(data.open_alert_count);
    $("kpi-alerts").parentNode.classList.toggle("warn", data.open_alert_count > 0);
    lineChart($("lag-chart"), data.history, "sync_lag_seconds", color("--lag"), duration);
    lineChart($("depth-chart"), data.history, "queue_depth", color("--depth"), function (v) { return String(Math.round(v)); }, true);
    minuteBars($("applied-chart"), data.applied_per_minute, color("--applied"));
    topSellers($("top-sellers"), data.top_sellers, color("--top"));
    var asOf = data.top_sellers.as_of ? ", as of " + clock(new Date(data.top_sellers.as_of)) : "";
    $("top-caption").textContent = "Top sellers " + data.top_sellers.day + " (" + data.top_sellers.timezone + "), by revenue" + asOf;
    fillTable("alerts", data.open_alerts, function (a) {
      return [[a.sku], [a.name], [a.store], [a.stock, "num"], [a.reorder_level, "num"], [when(a.raised_at)]];
    }, "No open alerts");
    fillTable("rejections", data.recent_rejections, function (r) {
      return [[r.external_id, "id"], [r.device], [r.reason], [when(r.rejected_at)]];
    }, "No rejected sales");
    $("updated").textContent = "Updated " + new Date(data.generated_at).toLocaleTimeString();
    document.body.dataset.loaded = "true";
  }

  // The fleet (GET /api/devices/): tills only, those needing a look first (silent, missing sales,
  // conflicts, a clock far off), then by name. A till with every token revoked shows while it has a backlog.
  function renderTills(devices) {
    var now = Date.now();
    var tills = devices.filter(function (d) { return !d.admin && (d.active || d.sales.queued > 0); }).map(function (d) {
      var silent = !d.last_seen || (now - Date.parse(d.last_seen)) / 1000 > SILENT_S;
      var skewed = d.clock_skew_seconds !== null && Math.abs(d.clock_skew_seconds) > SKEW_S;
      var missing = d.missing_sequences.map(function (r) { return r[0] === r[1] ? String(r[0]) : r[0] + "–" + r[1]; });
      return { d: d, silent: silent, skewed: skewed, missing: missing,
               problem: silent || skewed || missing.length > 0 || d.sequence_conflicts > 0 };
    });
    tills.sort(function (a, b) { return (b.problem - a.problem) || (a.d.device < b.d.device ? -1 : 1); });
    var body = $("tills").querySelector("tbody");
    var rows = tills.map(function (t) {
      var d = t.d, tr = document.createElement("tr");
      tr.dataset.device = d.device;
      tr.dataset.silent = String(t.silent);
      tr.dataset.missing = t.missing.join(",");
      if (t.problem) tr.className = "problem";
      [[d.device], [d.store], [d.last_seen ? when(d.last_seen) : "never", t.silent ? "bad" : ""],
       [String(d.sales.queued), "num"],
       [d.oldest_queued_seconds === null ? "–" : duration(d.oldest_queued_seconds), "num"],
       [String(d.sales.applied), "num"], [String(d.sales.rejected), "num"],
       [t.missing.length ? t.missing.join(", ") : "none", t.missing.length ? "bad" : ""],
       [String(d.sequence_conflicts), d.sequence_conflicts ? "num bad" : "num"],
       [skew(d.clock_skew_seconds), t.skewed ? "num bad" : "num"]].forEach(function (cell) {
        var td = document.createElement("td");
        td.textContent = cell[0];
        if (cell[1]) td.className = cell[1];
        tr.appendChild(td);
      });
      return tr;
    });
    if (!rows.length) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = 10; td.className = "none"; td.textContent = "No tills";
      tr.appendChild(td); rows.push(tr);
    }
    body.replaceChildren.apply(body, rows);
    var silent = tills.filter(function (t) { return t.silent; }).length;
    var gaps = tills.filter(function (t) { return t.missing.length; }).length;
    $("tills-caption").textContent = "Tills: " + tills.length + ", " + silent + " silent, " + gaps + " missing sales";
    document.body.dataset.tills = "true";
  }

  function skew(seconds) {
    if (seconds === null) return "unknown";
    return (seconds < 0 ? "−" : "+") + duration(Math.abs(seconds)) + (seconds < 0 ? " behind" : " ahead");
  }

  function showLogin(message) {
    clearTimeout(timer);
    sessionStorage.removeItem(TOKEN_KEY);
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  function load() {
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return showLogin();
    clearTimeout(timer);
    fetch("/api/ops/overview/", { headers: { Authorization: "Token " + token }, cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) return showLogin("That token is unknown or revoked.");
        if (response.status === 403) return showLogin("That is a device token; the dashboard needs an admin token.");
        if (!response.ok) throw new Error("the server answered " + response.status);
        return response.json().then(function (data) {
          $("login").hidden = true;
          $("board").hidden = false;
          $("sign-out").hidden = false;
          $("board-error").hidden = true;
          render(data);
          timer = setTimeout(load, REFRESH_MS);
          return fetch("/api/devices/", { headers: { Authorization: "Token " + token }, cache: "no-store" });
        }).then(function (devices) {
          if (!devices) return;  // sent back to the login form
          if (!devices.ok) throw new Error("the fleet view answered " + devices.status);
          return devices.json().then(renderTills);
        });
      })
      .catch(function (error) {
        $("board-error").textContent = "Could not refresh (" + error.message + "); retrying.";
        $("board-error").hidden = $("board").hidden;
        if ($("board").hidden) $("login-error").textContent = "Could not reach the server: " + error.message;
        timer = setTimeout(load, REFRESH_MS);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("login-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var token = $("token").value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      $("token").value = "";
      load();
    });
    $("sign-out").addEventListener("click", function () { showLogin(); });
    load();
  });
})();
