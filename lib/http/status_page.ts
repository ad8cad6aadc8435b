// The status page, `GET /`: a fixed HTML document, its script and its style sheet, each from its
// own URL so that a strict Content-Security-Policy allows no inline script at all. The page
// holds no data: its script reads the JSON API and writes every pushed string as text
// (`textContent`), never as HTML. Every URL it uses is relative, so it works under a path
// prefix, behind any proxy, offline.

import type { HttpRequest } from "./http1.ts";
import { rawPathname } from "./routes.ts";

/**
 * The policy of the page: its own script and style only, requests to its own origin only, no
 * inline script or style, no plugins, frames or base tags.
 */
export const STATUS_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
  "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; " +
  "frame-ancestors 'none'";

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>prom-aggregation-gateway status</title>
<link rel="stylesheet" href="static/status.css">
<script src="static/status.js" defer></script>
</head>
<body>
<a class="skip" href="#families">Skip to the families</a>
<header>
<h1>prom-aggregation-gateway</h1>
<p id="build">Loading the status…</p>
<button id="refresh" type="button">Refresh</button>
</header>
<p id="notice" role="status" aria-live="polite"></p>
<p id="alert" role="alert"></p>
<noscript><p>This page needs JavaScript. The same data is served as JSON at
<a href="api/v1/status">api/v1/status</a>, <a href="api/v1/targets">api/v1/targets</a>,
<a href="api/v1/families">api/v1/families</a> and <a href="api/v1/rejections">api/v1/rejections</a>.</p></noscript>
<main>
<section aria-labelledby="store-heading">
<h2 id="store-heading">Store</h2>
<table id="store">
<caption>What the aggregate holds, against its limits</caption>
<thead><tr><th scope="col">What</th><th scope="col" class="number">Held</th><th scope="col" class="number">Limit</th><th scope="col">Used</th></tr></thead>
<tbody></tbody>
</table>
</section>
<section aria-labelledby="pushes-heading">
<h2 id="pushes-heading">Pushes and refusals</h2>
<table id="pushes">
<caption>Pushes by outcome and refused requests by reason, since the start</caption>
<thead><tr><th scope="col">Count of</th><th scope="col" class="number">Number</th></tr></thead>
<tbody></tbody>
</table>
</section>
<section id="targets" aria-labelledby="targets-heading">
<h2 id="targets-heading" tabindex="-1">Push targets</h2>
<form id="targets-search" role="search" aria-label="Targets">
<label for="targets-match">Filter targets by grouping labels</label>
<input id="targets-match" name="match" type="search" maxlength="256" autocomplete="off">
<button type="submit">Filter</button>
</form>
<table id="targets-table">
<caption>Each distinct set of grouping labels pushed to, most recent first</caption>
<thead><tr><th scope="col">Grouping labels</th><th scope="col">Last push</th><th scope="col" class="number">Pushes</th><th scope="col" class="number">Series in last push</th><th scope="col">Last error</th><th scope="col">Delete</th></tr></thead>
<tbody></tbody>
</table>
<nav class="pager" aria-label="Pages of targets">
<button type="button" data-page="previous">Previous</button>
<span class="range" aria-live="polite"></span>
<button type="button" data-page="next">Next</button>
</nav>
</section>
<section id="families" aria-labelledby="families-heading">
<h2 id="families-heading" tabindex="-1">Families</h2>
<form id="families-search" role="search" aria-label="Families">
<label for="families-match">Search families by name</label>
<input id="families-match" name="match" type="search" maxlength="256" autocomplete="off">
<button type="submit">Search</button>
</form>
<table id="families-table">
<caption>Metric families held, by name</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Help</th><th scope="col" class="number">Series</th></tr></thead>
<tbody></tbody>
</table>
<nav class="pager" aria-label="Pages of families">
<button type="button" data-page="previous">Previous</button>
<span class="range" aria-live="polite"></span>
<button type="button" data-page="next">Next</button>
</nav>
</section>
<section id="rejections" aria-labelledby="rejections-heading">
<h2 id="rejections-heading">Recent refused pushes</h2>
<table id="rejections-table">
<caption>The most recent refused requests, newest first; never their bodies</caption>
<thead><tr><th scope="col">Time</th><th scope="col">Remote address</th><th scope="col">Request</th><th scope="col">Reason</th><th scope="col">Message</th></tr></thead>
<tbody></tbody>
</table>
</section>
<section aria-labelledby="flags-heading">
<h2 id="flags-heading">Flags in force</h2>
<table id="flags">
<caption>Secrets are masked</caption>
<thead><tr><th scope="col">Flag</th><th scope="col">Value</th><th scope="col">From</th></tr></thead>
<tbody></tbody>
</table>
</section>
</main>
</body>
</html>
`;

const CSS =
  `:root { color-scheme: light dark; --muted: #666; --line: #ccc; --bad: #b00020; --accent: #1a56b0; }
@media (prefers-color-scheme: dark) { :root { --muted: #aaa; --line: #444; --bad: #ff8a80; --accent: #8ab4f8; } }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 0 1rem 3rem; max-width: 90rem; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 1.5rem; }
h1 { font-size: 1.5rem; margin: 1rem 0 0.25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 0.5rem; }
#build { color: var(--muted); margin: 0; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0; }
caption { text-align: left; color: var(--muted); padding-bottom: 0.25rem; }
th, td { text-align: left; vertical-align: top; padding: 0.3rem 0.6rem; border-bottom: 1px solid var(--line); }
td { overflow-wrap: anywhere; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
code, .labels { font-family: ui-monospace, monospace; font-size: 0.9em; }
.error { color: var(--bad); }
time { white-space: nowrap; }
#alert:not(:empty) { color: var(--bad); border: 1px solid var(--bad); padding: 0.5rem; }
#notice:not(:empty) { border: 1px solid var(--accent); padding: 0.5rem; }
form { display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; }
input[type=search] { min-width: 18rem; padding: 0.25rem; }
button { padding: 0.25rem 0.75rem; cursor: pointer; white-space: nowrap; }
button:disabled { cursor: default; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.pager { display: flex; gap: 1rem; align-items: center; }
.empty { color: var(--muted); font-style: italic; }
meter { width: 8rem; }
.skip { position: absolute; left: -10000px; }
.skip:focus { position: static; }
`;

// The page's script. It writes what it reads only with textContent and attributes set by name:
// no innerHTML, no inline handlers, so no pushed string is ever parsed as HTML.
const JS = String.raw`"use strict";
(function () {
  var PAGE = 50;
  var state = { targets: { offset: 0, match: "" }, families: { offset: 0, match: "" } };

  function $(id) { return document.getElementById(id); }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function say(text) { $("notice").textContent = text; }
  function warn(text) { $("alert").textContent = text; }

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) throw new Error(url + ": " + response.status + " " + (body.error || response.statusText));
        return body;
      });
    });
  }

  function number(n) { return n === null || n === undefined ? "none" : Number(n).toLocaleString("en"); }

  function bytes(n) {
    if (n === null || n === undefined) return "none";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function ago(iso) {
    var seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.round(seconds / 3600) + " h ago";
    return Math.round(seconds / 86400) + " d ago";
  }

  function time(iso) {
    var node = el("time", ago(iso));
    node.setAttribute("datetime", iso);
    node.title = iso;
    return node;
  }

  function duration(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
    var m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s + "s";
  }

  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (cell) {
      var td = document.createElement("td");
      if (cell instanceof Node) td.appendChild(cell);
      else if (cell && typeof cell === "object") {
        td.textContent = cell.text;
        if (cell.className) td.className = cell.className;
      } else td.textContent = cell === undefined || cell === null ? "" : String(cell);
      tr.appendChild(td);
    });
    return tr;
  }

  function fill(tbody, rows, empty, columns) {
    tbody.replaceChildren();
    rows.forEach(function (r) { tbody.appendChild(r); });
    if (rows.length === 0) {
      var td = el("td", empty, "empty");
      td.colSpan = columns;
      var tr = document.createElement("tr");
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
  }

  function labelsText(labels) {
    var names = Object.keys(labels);
    if (names.length === 0) return "{} (no grouping labels)";
    return names.map(function (name) { return name + "=" + JSON.stringify(labels[name]); }).join(", ");
  }

  function used(held, limit) {
    if (limit === null || limit === undefined || limit <= 0) return "";
    var meter = document.createElement("meter");
    meter.min = 0;
    meter.max = limit;
    meter.value = Math.min(held, limit);
    meter.high = limit * 0.9;
    var percent = Math.round(100 * held / limit) + "%";
    meter.textContent = percent;
    meter.setAttribute("aria-label", percent + " used");
    var span = el("span");
    span.appendChild(meter);
    span.appendChild(document.createTextNode(" " + percent));
    return span;
  }

  function showStatus(s) {
    $("build").textContent = "version " + s.build.version + ", commit " + s.build.commit +
      ", deno " + s.build.deno + "; up " + duration(s.uptimeSeconds) + " (since " + s.startTime + ")";
    fill($("store").tBodies[0], [
      row([s.store.sources > 0 ? "Series (" + number(s.store.series) + " aggregate, " + number(s.store.sources) + " sources)" : "Series", { text: number(s.store.held), className: "number" }, { text: number(s.store.maxSeries), className: "number" }, used(s.store.held, s.store.maxSeries)]),
      row(["Families", { text: number(s.store.families), className: "number" }, { text: number(s.store.maxFamilies), className: "number" }, used(s.store.families, s.store.maxFamilies)]),
      row(["Bytes", { text: bytes(s.store.bytes), className: "number" }, { text: bytes(s.store.maxBytes), className: "number" }, used(s.store.bytes, s.store.maxBytes)]),
      row(["Targets kept (" + number(s.targets.count) + ", " + number(s.targets.dropped) + " dropped)", { text: bytes(s.targets.bytes), className: "number" }, { text: bytes(s.targets.maxBytes), className: "number" }, used(s.targets.bytes, s.targets.maxBytes)]),
      row(["Refusals kept (" + number(s.rejections.count) + " of " + number(s.rejections.maxEntries) + ", " + number(s.rejections.dropped) + " dropped)", { text: bytes(s.rejections.bytes), className: "number" }, { text: bytes(s.rejections.maxBytes), className: "number" }, used(s.rejections.bytes, s.rejections.maxBytes)]),
    ], "", 4);
    var rows = [
      row(["Pushes accepted", { text: number(s.pushes.accepted), className: "number" }]),
      row(["Pushes refused", { text: number(s.pushes.rejected), className: "number" }]),
    ];
    Object.keys(s.rejectionsByReason).sort().forEach(function (reason) {
      rows.push(row(["Refused: " + reason, { text: number(s.rejectionsByReason[reason]), className: "number" }]));
    });
    fill($("pushes").tBodies[0], rows, "", 2);
    fill($("flags").tBodies[0], s.flags.map(function (f) {
      var code = el("code", f.value);
      return row([el("code", "--" + f.name), code, f.source]);
    }), "No flags shown", 3);
  }

  function pager(section, total, offset, count) {
    var nav = $(section).querySelector(".pager");
    nav.querySelector(".range").textContent = total === 0 ? "none"
      : (offset + 1) + "–" + (offset + count) + " of " + number(total);
    nav.querySelector("[data-page=previous]").disabled = offset === 0;
    nav.querySelector("[data-page=next]").disabled = offset + count >= total;
  }

  function query(which) {
    var s = state[which];
    return "?limit=" + PAGE + "&offset=" + s.offset + (s.match ? "&match=" + encodeURIComponent(s.match) : "");
  }

  function loadTargets() {
    return getJson("api/v1/targets" + query("targets")).then(function (t) {
      if (t.targets.length === 0 && t.offset > 0) {
        state.targets.offset = 0;
        return loadTargets();
      }
      fill($("targets-table").tBodies[0], t.targets.map(function (target) {
        var labels = labelsText(target.labels);
        var action;
        if (Object.keys(target.labels).length === 0) {
          action = el("span", "not deletable as a group", "empty");
        } else {
          action = el("button", "Delete");
          action.type = "button";
          action.setAttribute("aria-label", "Delete target " + labels);
          action.addEventListener("click", function () { remove(target.path, labels); });
        }
        var error = target.lastError === null ? ""
          : el("span", target.lastError.reason + ": " + target.lastError.message + " (" + ago(target.lastError.time) + ")", "error");
        return row([el("span", labels, "labels"), time(target.lastPush), { text: number(target.pushes), className: "number" }, { text: number(target.series), className: "number" }, error, action]);
      }), state.targets.match ? "No target matches" : "No pushes yet", 6);
      pager("targets", t.total, t.offset, t.targets.length);
    });
  }

  function loadFamilies() {
    return getJson("api/v1/families" + query("families")).then(function (f) {
      if (f.families.length === 0 && f.offset > 0) {
        state.families.offset = 0;
        return loadFamilies();
      }
      fill($("families-table").tBodies[0], f.families.map(function (family) {
        return row([el("code", family.name), family.type, family.help === null ? "" : family.help, { text: number(family.series), className: "number" }]);
      }), state.families.match ? "No family matches" : "No families held", 4);
      pager("families", f.total, f.offset, f.families.length);
    });
  }

  function loadRejections() {
    return getJson("api/v1/rejections").then(function (r) {
      fill($("rejections-table").tBodies[0], r.rejections.map(function (x) {
        return row([time(x.time), x.remoteAddress || "unknown", el("code", x.method + " " + x.path), x.reason + " (" + x.status + ")", el("span", x.message, "error")]);
      }), "No refused pushes", 5);
    });
  }

  function loadAll() {
    return Promise.all([
      getJson("api/v1/status").then(showStatus),
      loadTargets(),
      loadFamilies(),
      loadRejections(),
    ]).catch(function (error) { warn("Could not load the status: " + error.message); });
  }

  // A DELETE of the target's grouping path. With --AuthUsers the gateway answers 401 with a
  // Basic challenge, and the browser asks for credentials; a refusal is shown, not swallowed.
  function remove(path, labels) {
    if (!window.confirm("Delete every series with the grouping labels " + labels + "?")) return;
    say("");
    warn("");
    fetch(path.replace(/^\//, ""), { method: "DELETE" }).then(function (response) {
      return response.text().then(function (text) {
        if (response.status === 202) {
          say("Deleted the series of " + labels + ".");
        } else {
          warn("The delete of " + labels + " was refused: " + response.status + " " + response.statusText + ": " + text.trim());
        }
        $("targets-heading").focus();
        return loadAll();
      });
    }).catch(function (error) { warn("The delete of " + labels + " failed: " + error.message); });
  }

  function wire(which, load) {
    var input = $(which + "-match");
    var timer;
    $(which + "-search").addEventListener("submit", function (event) {
      event.preventDefault();
      clearTimeout(timer);
      state[which].match = input.value;
      state[which].offset = 0;
      load().catch(function (error) { warn(error.message); });
    });
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        state[which].match = input.value;
        state[which].offset = 0;
        load().catch(function (error) { warn(error.message); });
      }, 250);
    });
    var nav = $(which).querySelector(".pager");
    nav.querySelector("[data-page=previous]").addEventListener("click", function () {
      state[which].offset = Math.max(0, state[which].offset - PAGE);
      load().catch(function (error) { warn(error.message); });
    });
    nav.querySelector("[data-page=next]").addEventListener("click", function () {
      state[which].offset += PAGE;
      load().catch(function (error) { warn(error.message); });
    });
  }

  wire("targets", loadTargets);
  wire("families", loadFamilies);
  $("refresh").addEventListener("click", function () {
    warn("");
    say("");
    loadAll().then(function () { if ($("alert").textContent === "") say("Refreshed."); });
  });
  loadAll();
})();
`;

const HEADERS = {
  "Content-Security-Policy": STATUS_CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  // Not kept stale across an upgrade of the gateway.
  "Cache-Control": "no-cache",
};

const encoder = new TextEncoder();

/** The page and its assets by path, with their media types. */
const ASSETS: Record<string, { body: Uint8Array<ArrayBuffer>; type: string }> = {
  "/": { body: encoder.encode(HTML), type: "text/html; charset=utf-8" },
  "/static/status.js": { body: encoder.encode(JS), type: "text/javascript; charset=utf-8" },
  "/static/status.css": { body: encoder.encode(CSS), type: "text/css; charset=utf-8" },
};

/** The paths {@linkcode statusPage} serves. */
export const STATUS_PAGE_PATHS: readonly string[] = Object.keys(ASSETS);

/** `GET /` and its assets: the same bytes for everyone, whatever the store holds. */
export function statusPage(request: HttpRequest): Response {
  const asset = ASSETS[rawPathname(request.url)];
  if (asset === undefined) {
    return new Response("not found\n", {
      status: 404,
      headers: { "Content-Type": "text/plain; charset=utf-8" },
    });
  }
  return new Response(asset.body, { headers: { ...HEADERS, "Content-Type": asset.type } });
}
