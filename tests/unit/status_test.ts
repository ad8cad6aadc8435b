// The status page and its JSON API through the API handler (no socket), the bounded log of
// targets and refusals, and the masking of secrets among the flags shown.

import assert from "node:assert/strict";
import { type ApiOptions, createApiHandler } from "../../lib/http/api.ts";
import { SelfMetrics } from "../../lib/http/self_metrics.ts";
import { groupingPath } from "../../lib/http/status_api.ts";
import { StatusLog } from "../../lib/http/status_log.ts";
import { STATUS_CSP } from "../../lib/http/status_page.ts";
import {
  MASK,
  maskFlag,
  maskSecretsIn,
  maskUrls,
  statusOptionsOf,
} from "../../lib/app/status_flags.ts";
import { loadConfig } from "../../lib/app/config.ts";
import { parseGroupingPath } from "../../lib/ingest/grouping.ts";
import { DEFAULT_STALE_AFTER, Rules } from "../../lib/core/rules.ts";
import { Store } from "../../lib/store/store.ts";
import { createSilentLogger } from "../helpers/silent_logger.ts";

const BASE = "http://gateway.test";

interface Gateway {
  handle: (request: Request) => Promise<Response>;
  store: Store;
  statusLog: StatusLog;
}

function gateway(options: Partial<ApiOptions> = {}): Gateway {
  const store = new Store({ gaugeBehavior: "replace", maxSeries: 1000 });
  const statusLog = options.statusLog ?? new StatusLog();
  const handle = createApiHandler({
    store,
    metrics: new SelfMetrics(),
    logger: createSilentLogger(),
    cors: { allowAll: true, origins: new Set() },
    authUsers: new Map(),
    maxBodyBytes: 1 << 20,
    labelLimits: { maxLabels: 64, maxValueLength: 4096 },
    statusLog,
    status: { limits: { maxSeries: 1000 } },
    ...options,
  });
  return { handle, store, statusLog };
}

async function push(gw: Gateway, path: string, body: string, init: RequestInit = {}) {
  const response = await gw.handle(new Request(BASE + path, { method: "POST", body, ...init }));
  await response.body?.cancel();
  return response.status;
}

// deno-lint-ignore no-explicit-any
async function getJson(gw: Gateway, path: string): Promise<{ status: number; body: any }> {
  const response = await gw.handle(new Request(BASE + path));
  assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  return { status: response.status, body: await response.json() };
}

Deno.test("GET /api/v1/status shows the store against its limits and counts by reason", async () => {
  const gw = gateway();
  assert.equal(await push(gw, "/metrics/job/a", "# TYPE x_total counter\nx_total 1\ny 2\n"), 202);
  assert.equal(await push(gw, "/metrics/job/a", "x_total{"), 400);
  assert.equal(await push(gw, "/metrics/job/a", "# TYPE x_total gauge\nx_total 1\n"), 400);
  const { status, body } = await getJson(gw, "/api/v1/status");
  assert.equal(status, 200);
  assert.deepEqual(Object.keys(body), [
    "build",
    "startTime",
    "uptimeSeconds",
    "flags",
    "store",
    "pushes",
    "rejectionsByReason",
    "targets",
    "rejections",
  ]);
  assert.deepEqual(body.store, {
    series: 2,
    sources: 0,
    held: 2,
    maxSeries: 1000,
    families: 2,
    maxFamilies: null,
    bytes: gw.store.bytes,
    maxBytes: null,
  });
  assert.deepEqual(body.pushes, { accepted: 1, rejected: 2 });
  assert.deepEqual(body.rejectionsByReason, { parse: 1, type_conflict: 1 });
  assert.equal(body.targets.count, 1);
  assert.equal(body.rejections.count, 2);
  assert.equal(body.rejections.maxEntries, 100);
});

Deno.test("GET /api/v1/targets lists each set of grouping labels, with its last error", async () => {
  let now = Date.UTC(2026, 0, 1);
  const gw = gateway({ statusLog: new StatusLog({ now: () => now }) });
  // One target by two paths: the labels' order and an empty value do not make another.
  assert.equal(await push(gw, "/metrics/job/a/instance/i", "x 1\ny 1\n"), 202);
  now += 1000;
  assert.equal(await push(gw, "/metrics/instance/i/job/a/zone/", "x 1\n"), 202);
  now += 1000;
  assert.equal(await push(gw, "/metrics/job/b%2Fc", "x 1\n"), 202);
  now += 1000;
  assert.equal(await push(gw, "/metrics/job/a/instance/i", "x -"), 400);
  const { body } = await getJson(gw, "/api/v1/targets");
  assert.deepEqual(body, {
    total: 2,
    offset: 0,
    limit: 100,
    targets: [
      {
        labels: { job: "b/c" },
        path: "/metrics/job@base64/Yi9j",
        lastPush: "2026-01-01T00:00:02.000Z",
        pushes: 1,
        series: 1,
        lastError: null,
      },
      {
        labels: { instance: "i", job: "a" },
        path: "/metrics/instance/i/job/a",
        lastPush: "2026-01-01T00:00:01.000Z",
        pushes: 2,
        series: 1,
        lastError: {
          time: "2026-01-01T00:00:03.000Z",
          reason: "parse",
          message: 'line 1: invalid value "-" for metric "x"',
        },
      },
    ],
  });
  const matched = await getJson(gw, "/api/v1/targets?match=INSTANCE&limit=1");
  assert.equal(matched.body.total, 1);
  assert.deepEqual(matched.body.targets[0].labels, { instance: "i", job: "a" });
});

Deno.test("a refusal anyone can provoke does not become a target's last error", async () => {
  const now = Date.UTC(2026, 0, 1);
  const gw = gateway({
    statusLog: new StatusLog({ now: () => now }),
    authUsers: new Map([["web", "pw"]]),
  });
  const authorization = "Basic " + btoa("web:pw");
  assert.equal(await push(gw, "/metrics/job/x", "x 1\n", { headers: { authorization } }), 202);
  // No credentials: a 401 anyone may get on any path; listed, with its address, not on x.
  assert.equal(await push(gw, "/metrics/job/x", "x 1\n"), 401);
  gw.statusLog.refused(
    { remoteAddress: "203.0.113.9:4000", method: "PUT", path: "/metrics/job/x" },
    "overloaded",
    503,
    "too many password checks at once; retry in a second",
    [["job", "x"]],
  );
  gw.statusLog.refused(
    { remoteAddress: "203.0.113.9:4001", method: "PUT", path: "/metrics/job/x" },
    "origin_not_allowed",
    403,
    "origin https://evil.example is not allowed (--cors)",
    [["job", "x"]],
  );
  const targets = await getJson(gw, "/api/v1/targets");
  assert.equal(targets.body.targets[0].lastError, null);
  const rejections = await getJson(gw, "/api/v1/rejections");
  assert.deepEqual(
    rejections.body.rejections.map((r: { reason: string; remoteAddress: string }) => [
      r.reason,
      r.remoteAddress,
    ]),
    [["origin_not_allowed", "203.0.113.9:4001"], ["overloaded", "203.0.113.9:4000"], [
      "unauthorized",
      "",
    ]],
  );
  // The sender's own mistake, with credentials, still is.
  assert.equal(await push(gw, "/metrics/job/x", "x -", { headers: { authorization } }), 400);
  const after = await getJson(gw, "/api/v1/targets");
  assert.deepEqual(after.body.targets[0].lastError, {
    time: "2026-01-01T00:00:00.000Z",
    reason: "parse",
    message: 'line 1: invalid value "-" for metric "x"',
  });
});

Deno.test("a DELETE forgets the targets it empties, and the path shown deletes the target", async () => {
  const gw = gateway();
  const odd = 'we/ird "value"+%';
  await push(gw, "/metrics/job@base64/" + btoa(odd).replaceAll("/", "_"), "x 1\n");
  await push(gw, "/metrics/job/keep", "x 1\n");
  const { body } = await getJson(gw, "/api/v1/targets?match=ird");
  const path = body.targets[0].path;
  assert.deepEqual(parseGroupingPath(path.slice("/metrics".length)), [["job", odd]]);
  const deleted = await gw.handle(new Request(BASE + path, { method: "DELETE" }));
  assert.equal(deleted.status, 202);
  assert.equal(gw.store.render(), '# TYPE x untyped\nx{job="keep"} 1\n');
  const after = await getJson(gw, "/api/v1/targets");
  assert.deepEqual(after.body.targets.map((t: { labels: unknown }) => t.labels), [{ job: "keep" }]);
});

Deno.test("GET /api/v1/families pages through the families by name, matched in any case", async () => {
  const gw = gateway();
  let body = "";
  for (let i = 0; i < 25; i++) body += `# HELP fam_${String(i).padStart(2, "0")} Help ${i}\n`;
  for (let i = 0; i < 25; i++) body += `fam_${String(i).padStart(2, "0")}{n="${i}"} 1\n`;
  body += '# TYPE other_total counter\nother_total 1\nother_total{a="b"} 1\n';
  assert.equal(await push(gw, "/metrics", body), 202);
  const page = await getJson(gw, "/api/v1/families?limit=10&offset=20");
  assert.equal(page.body.total, 26);
  assert.deepEqual(page.body.families.map((f: { name: string }) => f.name), [
    "fam_20",
    "fam_21",
    "fam_22",
    "fam_23",
    "fam_24",
    "other_total",
  ]);
  assert.deepEqual(page.body.families[0], {
    name: "fam_20",
    type: "untyped",
    help: "Help 20",
    series: 1,
  });
  const found = await getJson(gw, "/api/v1/families?match=OTHER");
  assert.deepEqual(found.body, {
    total: 1,
    offset: 0,
    limit: 100,
    families: [{ name: "other_total", type: "counter", help: null, series: 2 }],
  });
});

Deno.test("the status API answers bad queries and unknown paths with a JSON error", async () => {
  const gw = gateway();
  const cases: [string, number, string][] = [
    ["/api/v1/families?limit=0", 400, 'limit must be a whole number from 1 to 1000, not "0"'],
    ["/api/v1/families?limit=1001", 400, 'limit must be a whole number from 1 to 1000, not "1001"'],
    ["/api/v1/targets?offset=-1", 400, 'offset must be a whole number 0 or more, not "-1"'],
    ["/api/v1/targets?offset=1e3", 400, 'offset must be a whole number 0 or more, not "1e3"'],
    ["/api/v1/families?limit=1&limit=2", 400, 'parameter "limit" is given twice'],
    ["/api/v1/families?sort=name", 400, 'unknown parameter "sort"; it takes match, limit, offset'],
    ["/api/v1/status?x=1", 400, 'unknown parameter "x"; it takes none'],
    ["/api/v1/families?match=" + "a".repeat(257), 400, "match is 257 chars long, more than 256"],
    ["/api/v1/nothing", 404, "not found: /api/v1/nothing"],
  ];
  for (const [path, status, error] of cases) {
    const answer = await getJson(gw, path);
    assert.deepEqual(answer, { status, body: { error } }, path);
  }
  const post = await gw.handle(new Request(BASE + "/api/v1/status", { method: "POST" }));
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, OPTIONS");
  assert.deepEqual(await post.json(), {
    error: "POST is not allowed on /api/v1/status; use GET, OPTIONS",
  });
});

Deno.test("GET /api/v1/rejections keeps the refusals newest first, never their bodies", async () => {
  const gw = gateway({ authUsers: new Map([["alice", "pw"]]) });
  const body = "secret_body_line 1\n";
  assert.equal(await push(gw, "/metrics/job/a", body), 401);
  assert.equal(
    await push(gw, "/metrics/job/a", "x{", {
      headers: { authorization: "Basic " + btoa("alice:pw") },
    }),
    400,
  );
  const deleted = await gw.handle(new Request(BASE + "/metrics/job/a", { method: "DELETE" }));
  assert.equal(deleted.status, 401);
  const { body: answer } = await getJson(gw, "/api/v1/rejections");
  assert.equal(answer.dropped, 0);
  assert.deepEqual(
    answer.rejections.map((
      r: Record<string, unknown>,
    ) => [r.method, r.path, r.reason, r.status, r.message]),
    [
      ["DELETE", "/metrics/job/a", "unauthorized", 401, "valid Basic credentials are required"],
      ["POST", "/metrics/job/a", "parse", 400, 'line 1: unterminated label set: no closing "}"'],
      ["POST", "/metrics/job/a", "unauthorized", 401, "valid Basic credentials are required"],
    ],
  );
  assert.ok(!JSON.stringify(answer).includes("secret_body_line"));
  // A request without a socket has no remote address.
  assert.equal(answer.rejections[0].remoteAddress, "");
});

Deno.test("StatusLog holds its targets within their bytes, dropping the least recently pushed", () => {
  const log = new StatusLog({ maxTargetBytes: 64 * 1024 });
  const kept: [string, string][] = [["job", "kept"]];
  let peak = 0;
  for (let i = 0; i < 100_000; i++) {
    // A hostile sender: a new path each time, with a long value.
    log.pushed([["job", "x"], ["instance", "i" + i + "-".repeat(i % 300)]], 1);
    if (i % 10 === 0) log.pushed(kept, 1);
    peak = Math.max(peak, log.stats().targetBytes);
  }
  const stats = log.stats();
  assert.ok(peak <= 64 * 1024, `peak ${peak}`);
  assert.ok(stats.targets > 10 && stats.targets < 1000, `${stats.targets} targets`);
  assert.equal(stats.targets + stats.targetsDropped, 100_001);
  const targets = log.targets();
  assert.ok(targets.some((t) => t.key === 'job="kept"'), "the target pushed often is kept");
  assert.equal(targets[0].key, 'instance="i99999' + "-".repeat(99_999 % 300) + '",job="x"');
  const bytes = targets.reduce((sum, t) => sum + t.bytes, 0);
  assert.equal(bytes, stats.targetBytes);
});

Deno.test("StatusLog keeps the last refusals within entries and bytes, messages cut", () => {
  const log = new StatusLog({ maxRejections: 10, maxRejectionBytes: 8 * 1024 });
  const from = (i: number) => ({
    remoteAddress: "10.0.0.1:1",
    method: "POST",
    path: "/metrics/job/" + "p".repeat(i % 2 === 0 ? 10 : 5000),
  });
  for (let i = 0; i < 1000; i++) log.refused(from(i), "parse", 400, `m${i} ` + "x".repeat(3000));
  const stats = log.stats();
  assert.ok(stats.rejections <= 10 && stats.rejectionBytes <= 8 * 1024, JSON.stringify(stats));
  assert.equal(stats.rejections + stats.rejectionsDropped, 1000);
  const [last] = log.rejections();
  assert.equal(last.message, "m999 " + "x".repeat(1019) + "… (1981 more chars)");
  assert.equal(last.path, "/metrics/job/" + "p".repeat(499) + "… (4501 more chars)");
  for (let i = 0; i < 100; i++) log.refused(from(0), "parse", 400, "short");
  assert.equal(log.stats().rejections, 10);
});

Deno.test("reading the status changes nothing and keeps the scrape's rendered text", async () => {
  const gw = gateway();
  assert.equal(await push(gw, "/metrics/job/a", "# TYPE x_total counter\nx_total 1\ny 2\n"), 202);
  const scrape = async () => await (await gw.handle(new Request(BASE + "/metrics"))).text();
  const text = await scrape();
  const changes = gw.store.changes;
  for (
    const path of [
      "/",
      "/static/status.js",
      "/static/status.css",
      "/api/v1/status",
      "/api/v1/targets",
      "/api/v1/families?match=x",
      "/api/v1/rejections",
    ]
  ) {
    const response = await gw.handle(new Request(BASE + path));
    assert.equal(response.status, 200, path);
    await response.body?.cancel();
  }
  assert.equal(gw.store.changes, changes);
  const reader = gw.store.read();
  while (reader.next() !== undefined);
  assert.equal(reader.rendered, 0, "every piece of the scrape was kept");
  reader.close();
  assert.equal(await scrape(), text);
});

Deno.test("the page and its assets come with a strict Content-Security-Policy", async () => {
  const gw = gateway();
  const types: [string, string][] = [
    ["/", "text/html; charset=utf-8"],
    ["/static/status.js", "text/javascript; charset=utf-8"],
    ["/static/status.css", "text/css; charset=utf-8"],
  ];
  for (const [path, type] of types) {
    const response = await gw.handle(new Request(BASE + path));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), type);
    assert.equal(response.headers.get("content-security-policy"), STATUS_CSP);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    const text = await response.text();
    if (path === "/") {
      // No inline script, no absolute URL: it works under a prefix and offline.
      assert.doesNotMatch(text, /<script>|<script [^>]*>[^<]/);
      assert.doesNotMatch(text, /(src|href)="(\/|https?:)/);
    }
    if (path === "/static/status.js") {
      assert.doesNotMatch(text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    }
  }
  assert.match(STATUS_CSP, /script-src 'self';/);
  assert.doesNotMatch(STATUS_CSP, /unsafe/);
  // HEAD as GET (the HTTP server sends no body for it), as proxies' and uptime checks ask.
  for (const [path, type] of types) {
    const response = await gw.handle(new Request(BASE + path, { method: "HEAD" }));
    await response.body?.cancel();
    assert.equal(response.status, 200, path);
    assert.equal(response.headers.get("content-type"), type);
  }
});

Deno.test("groupingPath() writes plain values as they are and the others in base64url", () => {
  assert.equal(groupingPath([["job", "a.b-c_d~1"]]), "/metrics/job/a.b-c_d~1");
  assert.equal(
    groupingPath([["job", "a b"], ["x", "é/?"]]),
    "/metrics/job@base64/YSBi/x@base64/w6kvPw",
  );
  assert.equal(groupingPath([["job", ".."], ["i", "."]]), "/metrics/job@base64/Li4/i@base64/Lg");
  for (const value of ["a b", "é/?", "<script>", "+", "%2F", "==", ".", ".."]) {
    const path = groupingPath([["job", value]]);
    assert.deepEqual(parseGroupingPath(path.slice("/metrics".length)), [["job", value]]);
  }
});

Deno.test("maskFlag() hides the passwords of --AuthUsers and secrets in other values", () => {
  const cases: [string, string, string][] = [
    ["AuthUsers", "alice=s3cr=t,bob=pw", `alice=${MASK},bob=${MASK}`],
    ["webConfigPassword", "hunter2", MASK],
    ["remoteWriteBearerToken", "abc", MASK],
    ["apiListen", ":8080", ":8080"],
    ["persistenceFile", "", ""],
    [
      "remoteWriteURL",
      "https://user:pa55@mimir.example/api/v1/push",
      `https://user:${MASK}@mimir.example/api/v1/push`,
    ],
    [
      "remoteWriteURL",
      "https://mimir.example/push?api_key=k1&x=1",
      `https://mimir.example/push?api_key=${MASK}&x=${MASK}`,
    ],
    ["remoteWriteHeaders", "Authorization=Bearer abc.def", `Authorization=Bearer ${MASK}`],
  ];
  for (const [name, value, shown] of cases) assert.equal(maskFlag(name, value), shown, name);
  assert.equal(maskSecretsIn("plain text"), "plain text");
});

Deno.test("maskFlag() shows --remoteWriteHeader names and the values of a few plain headers only", () => {
  const cases: [string, string][] = [
    ["X-API-Key=abc123,X-Auth-Token=sekrit", `X-API-Key=${MASK},X-Auth-Token=${MASK}`],
    // Any name: a vendor's key header is not named like a secret.
    ["X-Honeycomb-Team=hc1,Foo=bar", `X-Honeycomb-Team=${MASK},Foo=${MASK}`],
    [
      "X-Scope-OrgID=team-a,x-scope-orgid=team-b,User-Agent=pag/1,X-Prometheus-Remote-Write-Version=0.1.0",
      "X-Scope-OrgID=team-a,x-scope-orgid=team-b,User-Agent=pag/1,X-Prometheus-Remote-Write-Version=0.1.0",
    ],
    ["X-Scope-OrgID=t,Authorization=Basic dTpw", `X-Scope-OrgID=t,Authorization=${MASK}`],
    // A value with "=" in it is masked whole; a malformed entry is masked, an empty one kept.
    ["X-Sig=a=b==", `X-Sig=${MASK}`],
    ["nonsense,,=x", `${MASK},,${MASK}`],
    ["", ""],
  ];
  for (const [value, shown] of cases) assert.equal(maskFlag("remoteWriteHeader", value), shown);
});

Deno.test("maskFlag() masks URL credentials and query values, and shows file paths", () => {
  const cases: [string, string, string][] = [
    [
      "remoteWriteURL",
      "https://glc_tok3n@mimir.example/push?t=abc&tenant=a;x=1,http://r.example/w",
      `https://${MASK}@mimir.example/push?t=${MASK}&tenant=${MASK};x=${MASK},http://r.example/w`,
    ],
    ["remoteWriteURL", "https://u:p@h.example/?", `https://u:${MASK}@h.example/?`],
    ["remoteWritePassword", "hunter2", MASK],
    ["remoteWriteBearerToken", "eyJ.x.y", MASK],
    ["remoteWritePasswordFile", "/run/secrets/rw", "/run/secrets/rw"],
    ["remoteWriteBearerTokenFile", "/run/secrets/token", "/run/secrets/token"],
    ["webConfigFile", "/etc/pag/web.yml", "/etc/pag/web.yml"],
    ["remoteWriteUsername", "tenant-1", "tenant-1"],
    ["AuthUsers", "alice=pw,=x,bob", `alice=${MASK},${MASK},${MASK}`],
  ];
  for (const [name, value, shown] of cases) assert.equal(maskFlag(name, value), shown, name);
  assert.equal(maskUrls("https://h.example/push"), "https://h.example/push");
});

Deno.test("statusOptionsOf() shows each flag's value and where it came from", () => {
  const flags = { AuthUsers: ["a=1", "b=2"], maxSeries: "5" };
  const env = { PAG_CORS: "https://x.example", PAG_LOGLEVEL: "" };
  const { flags: shown, limits } = statusOptionsOf(loadConfig(flags, env), flags, env);
  const byName = new Map(shown!.map((f) => [f.name, f]));
  assert.deepEqual(byName.get("AuthUsers"), {
    name: "AuthUsers",
    value: `a=${MASK},b=${MASK}`,
    source: "flag",
  });
  assert.deepEqual(byName.get("maxSeries"), { name: "maxSeries", value: "5", source: "flag" });
  assert.deepEqual(byName.get("cors"), { name: "cors", value: "https://x.example", source: "env" });
  assert.deepEqual(byName.get("logLevel"), { name: "logLevel", value: "info", source: "default" });
  assert.deepEqual(limits, { maxSeries: 5, maxFamilies: 10000, maxStoreBytes: 268435456 });
});

Deno.test("GET /api/v1/status counts cumulative sources held against maxSeries", async () => {
  const gw = gateway();
  gw.store.rules = new Rules({
    rules: [{
      line: 1,
      labels: [],
      action: "keep",
      input: "cumulative",
      sources: ["instance"],
      staleAfter: DEFAULT_STALE_AFTER,
    }],
    default: "accept",
  });
  assert.equal(await push(gw, "/metrics/job/a/instance/1", "x_total 1\n"), 202);
  assert.equal(await push(gw, "/metrics/job/a/instance/2", "x_total 1\n"), 202);
  const { body } = await getJson(gw, "/api/v1/status");
  assert.deepEqual(
    [body.store.series, body.store.sources, body.store.held, body.store.maxSeries],
    [1, 2, 3, 1000],
  );
});
