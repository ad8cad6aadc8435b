import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { type ApiOptions, createApiHandler } from "../../lib/http/api.ts";
import { bodyFormat } from "../../lib/http/formats.ts";
import { rawPathname } from "../../lib/http/routes.ts";
import { acceptsGzip } from "../../lib/http/scrape.ts";
import { concatBytes } from "../../lib/core/bytes.ts";
import { SelfMetrics } from "../../lib/http/self_metrics.ts";
import { Store } from "../../lib/store/store.ts";
import { random } from "../helpers/seeded.ts";
import { sampleValue } from "../helpers/self_metrics.ts";
import { createSilentLogger } from "../helpers/silent_logger.ts";

const BASE = "http://gateway.test";

interface Gateway {
  handle: (request: Request) => Promise<Response>;
  store: Store;
  metrics: SelfMetrics;
}

function gateway(options: Partial<ApiOptions> = {}): Gateway {
  const store = new Store({ gaugeBehavior: "replace" });
  const metrics = new SelfMetrics();
  const handle = createApiHandler({
    store,
    metrics,
    logger: createSilentLogger(),
    cors: { allowAll: true, origins: new Set() },
    authUsers: new Map(),
    maxBodyBytes: 1024,
    labelLimits: { maxLabels: 64, maxValueLength: 4096 },
    ...options,
  });
  return { handle, store, metrics };
}

function gzip(data: string | Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(gzipSync(data));
}

function push(path: string, body: BodyInit, init: RequestInit = {}): Request {
  return new Request(BASE + path, { method: "POST", body, ...init });
}

async function scrape(gw: Gateway): Promise<string> {
  const response = await gw.handle(new Request(BASE + "/metrics"));
  assert.equal(response.status, 200);
  return await response.text();
}

/** The value of one self metric series, e.g. `pag_rejections_total{reason="parse"}`. */
function selfMetric(gw: Gateway, series: string): number | undefined {
  const text = gw.metrics.render({
    seriesCount: 0,
    familyCount: 0,
    bytes: 0,
    expiredCount: 0,
    scrapeBacklogBytes: 0,
    scrapesCutOff: 0,
  });
  return sampleValue(text, series);
}

Deno.test("POST and PUT /metrics/job/<job> aggregate and answer 202 with no body", async () => {
  const gw = gateway();
  for (const method of ["POST", "PUT"]) {
    const response = await gw.handle(
      push("/metrics/job/batch", "# TYPE c counter\nc 2\n", { method }),
    );
    assert.equal(response.status, 202);
    assert.equal(await response.text(), "");
  }
  assert.equal(await scrape(gw), '# TYPE c counter\nc{job="batch"} 4\n');
  assert.equal(selfMetric(gw, 'pag_pushes_total{outcome="accepted"}'), 2);
  assert.equal(selfMetric(gw, 'pag_samples_total{outcome="accepted"}'), 2);
});

Deno.test("a push to /metrics and /metrics/ takes no grouping labels", async () => {
  const gw = gateway();
  assert.equal((await gw.handle(push("/metrics", "a 1\n"))).status, 202);
  assert.equal((await gw.handle(push("/metrics/", "a 1\n"))).status, 202);
  assert.equal(await scrape(gw), "# TYPE a untyped\na 2\n");
});

Deno.test("path labels are decoded, override body labels, and accept @base64", async () => {
  const gw = gateway();
  const body = 'a{job="body",instance="i",x="1"} 1\n';
  await gw.handle(push("/metrics/job/a%2Fb+c/instance@base64/L3Zhci90bXA", body));
  assert.equal(await scrape(gw), '# TYPE a untyped\na{instance="/var/tmp",job="a/b c",x="1"} 1\n');
});

Deno.test("the text format is parsed whatever the Content-Type says", async () => {
  const gw = gateway();
  for (const type of ["text/plain", "application/json", "application/x-www-form-urlencoded"]) {
    const response = await gw.handle(
      push("/metrics", "a 1\n", { headers: { "content-type": type } }),
    );
    assert.equal(response.status, 202, type);
  }
  assert.equal(await scrape(gw), "# TYPE a untyped\na 3\n");
});

Deno.test("a refused push is a plain-text 400 that names the problem and changes nothing", async (t) => {
  // [name, path, body, status, message, rejection reason]
  const cases: [string, string, BodyInit, number, string, string][] = [
    [
      "a syntax error",
      "/metrics",
      "c 1\nc{ 2\n",
      400,
      'line 2: expected a label name, found "2"',
      "parse",
    ],
    [
      "a negative counter",
      "/metrics",
      "# TYPE c counter\nc -1\n",
      400,
      "line 2: counter c has negative value -1",
      "invalid_push",
    ],
    [
      "a type conflict",
      "/metrics",
      "# TYPE c gauge\nc 1\n",
      400,
      'metric "c" is a counter in the gateway, the push has it as gauge',
      "type_conflict",
    ],
    [
      "a bad path",
      "/metrics/job",
      "c 1\n",
      400,
      'the path must hold label name and value pairs, "job" has no value',
      "bad_path",
    ],
    [
      "invalid UTF-8",
      "/metrics",
      new Uint8Array([0x61, 0x7b, 0x78, 0x3d, 0x22, 0xff, 0x22, 0x7d, 0x20, 0x31]),
      400,
      "body is not valid UTF-8",
      "bad_encoding",
    ],
    [
      "an incomplete histogram",
      "/metrics",
      '# TYPE h histogram\nh_bucket{le="+Inf"} 1\n',
      400,
      "histogram h has no _count",
      "invalid_push",
    ],
  ];
  for (const [name, path, body, status, message, reason] of cases) {
    await t.step(name, async () => {
      const gw = gateway();
      await gw.handle(push("/metrics", "# TYPE c counter\nc 5\n"));
      const before = await scrape(gw);
      const response = await gw.handle(push(path, body));
      assert.equal(response.status, status);
      assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
      assert.equal(await response.text(), message + "\n");
      assert.equal(await scrape(gw), before);
      assert.equal(selfMetric(gw, `pag_rejections_total{reason="${reason}"}`), 1);
      assert.equal(selfMetric(gw, 'pag_pushes_total{outcome="rejected"}'), 1);
    });
  }
});

Deno.test("a sender's repeat push is read by its template, and a bad one still refused", async () => {
  const gw = gateway();
  const body = (value: string) => `# TYPE c counter\nc{x="é"} ${value}\nc{x="b"} 1\n`;
  // Two pushes of the same series make a template; the third is read by it.
  for (const value of ["1", "2", "3"]) {
    assert.equal((await gw.handle(push("/metrics/job/t", body(value)))).status, 202);
  }
  const expected = '# TYPE c counter\nc{job="t",x="b"} 3\nc{job="t",x="é"} 6\n';
  assert.equal(await scrape(gw), expected);
  // Bytes that are not UTF-8 where a value goes, or a negative counter: refused as before,
  // with the store unchanged.
  const encoded = new TextEncoder().encode(body("7"));
  const bad = encoded.slice();
  bad[encoded.indexOf(0x37)] = 0xff;
  for (
    const [sent, message] of [
      [bad, "body is not valid UTF-8"],
      [body("-1"), 'line 2: counter c{job="t",x="é"} has negative value -1'],
    ] as const
  ) {
    const response = await gw.handle(push("/metrics/job/t", sent));
    assert.equal(response.status, 400);
    assert.match(await response.text(), new RegExp(message.replace(/[{}()]/g, "\\$&")));
  }
  assert.equal(await scrape(gw), expected);
});

Deno.test("a gzip body is inflated; a corrupt one is a 400", async () => {
  const gw = gateway();
  const gzipped = gzip("# TYPE c counter\nc 7\n");
  const ok = await gw.handle(
    push("/metrics", gzipped, { headers: { "content-encoding": "gzip" } }),
  );
  assert.equal(ok.status, 202);
  assert.equal(await scrape(gw), "# TYPE c counter\nc 7\n");
  const bad = await gw.handle(
    push("/metrics", new Uint8Array([31, 139, 8, 0, 1, 2, 3]), {
      headers: { "content-encoding": "gzip" },
    }),
  );
  assert.equal(bad.status, 400);
  assert.equal(await bad.text(), "body is not valid gzip: unexpected end of file\n");
  assert.equal(await scrape(gw), "# TYPE c counter\nc 7\n");
  // Concatenated gzip members are one body, as Go's gzip reader reads them.
  const members = new Uint8Array([...gzip("# TYPE c counter\nc 1\n"), ...gzip("d 2\n")]);
  const joined = await gw.handle(
    push("/metrics", members, { headers: { "content-encoding": "gzip" } }),
  );
  assert.equal(joined.status, 202);
  assert.equal(await scrape(gw), "# TYPE c counter\nc 8\n# TYPE d untyped\nd 2\n");
});

Deno.test("a body over --maxBodyBytes is a 413, also after gzip inflation", async () => {
  const gw = gateway({ maxBodyBytes: 100 });
  const big = "a 1\n" + "# padding\n".repeat(20);
  const plain = await gw.handle(push("/metrics", big));
  assert.equal(plain.status, 413);
  assert.equal(await plain.text(), "body exceeds the limit of 100 bytes\n");
  // 1 MB of zeros gzips to about 1 KB: a small bomb.
  const bomb = gzip(new Uint8Array(1_000_000));
  assert.ok(bomb.byteLength < 100_000);
  const inflated = await gw.handle(
    push("/metrics", bomb, { headers: { "content-encoding": "gzip" } }),
  );
  assert.equal(inflated.status, 413);
  // Compressed bytes alone past the limit are refused before inflating.
  const noise = gzip(crypto.getRandomValues(new Uint8Array(200)));
  assert.ok(noise.byteLength > 200);
  const raw = await gw.handle(
    push("/metrics", noise, { headers: { "content-encoding": "gzip" } }),
  );
  assert.equal(raw.status, 413);
  // A body right at the limit passes, plain or gzipped.
  const exact = "a 1\n" + "#".repeat(95) + "\n";
  assert.equal(exact.length, 100);
  assert.equal((await gw.handle(push("/metrics", exact))).status, 202);
  const exactGzip = await gw.handle(
    push("/metrics", gzip(exact), { headers: { "content-encoding": "gzip" } }),
  );
  assert.equal(exactGzip.status, 202);
  assert.equal(selfMetric(gw, 'pag_rejections_total{reason="body_too_large"}'), 3);
  assert.equal(await scrape(gw), "# TYPE a untyped\na 2\n");
});

Deno.test("an unknown Content-Encoding and a protobuf body of another message are 415s", async () => {
  const gw = gateway();
  const br = await gw.handle(push("/metrics", "a 1\n", { headers: { "content-encoding": "br" } }));
  assert.equal(br.status, 415);
  assert.equal(await br.text(), 'unsupported Content-Encoding "br": send gzip or no encoding\n');
  const proto = await gw.handle(push("/metrics", "x", {
    headers: {
      "content-type": "application/vnd.google.protobuf; proto=other.Message; encoding=delimited",
    },
  }));
  assert.equal(proto.status, 415);
  assert.equal(
    await proto.text(),
    'protobuf bodies must be "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"\n',
  );
  assert.equal(await scrape(gw), "");
});

Deno.test("bodyFormat() reads the Content-Type, parameters in any order", () => {
  assert.equal(bodyFormat(null), "text");
  assert.equal(bodyFormat("text/plain; version=0.0.4"), "text");
  assert.equal(
    bodyFormat("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    "openmetrics",
  );
  assert.equal(
    bodyFormat(
      "application/vnd.google.protobuf; encoding=delimited; proto=io.prometheus.client.MetricFamily",
    ),
    "protobuf",
  );
  assert.equal(
    bodyFormat(
      'Application/Vnd.Google.Protobuf;proto="io.prometheus.client.MetricFamily";ENCODING=delimited',
    ),
    "protobuf",
  );
  assert.throws(
    () => bodyFormat("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily"),
    {
      name: "RequestError",
    },
  );
});

Deno.test("an OpenMetrics push is parsed as OpenMetrics, with or without # EOF", async () => {
  const gw = gateway();
  const headers = { "content-type": "application/openmetrics-text; version=1.0.0; charset=utf-8" };
  const body =
    '# TYPE jobs counter\njobs_total{q="a"} 2 # {trace="t"} 1\njobs_created{q="a"} 1.7e9\n# EOF\n';
  assert.equal((await gw.handle(push("/metrics/job/om", body, { headers }))).status, 202);
  // The Go client's OpenMetrics pushes (push.Format(expfmt.FmtOpenMetrics)) have no # EOF.
  const goClient = {
    "content-type": "application/openmetrics-text; version=0.0.1; charset=utf-8; escaping=values",
  };
  const missing = await gw.handle(
    push("/metrics/job/om", '# TYPE jobs counter\njobs_total{q="a"} 1\n', { headers: goClient }),
  );
  assert.equal(missing.status, 202);
  assert.equal(await scrape(gw), '# TYPE jobs_total counter\njobs_total{job="om",q="a"} 3\n');
});

Deno.test("DELETE /metrics/<labels> removes matching series and answers 202", async () => {
  const gw = gateway();
  await gw.handle(push("/metrics/job/a", "x 1\n"));
  await gw.handle(push("/metrics/job/b", "x 1\n"));
  const response = await gw.handle(new Request(BASE + "/metrics/job/a", { method: "DELETE" }));
  assert.equal(response.status, 202);
  assert.equal(await scrape(gw), '# TYPE x untyped\nx{job="b"} 1\n');

  // No labels, or only empty values, would match every series (or every one without those
  // labels): refused, the store untouched.
  await gw.handle(push("/metrics", "y 1\n"));
  for (const path of ["//", "/job@base64/=", "/job/b/instance@base64/="]) {
    const response = await gw.handle(new Request(BASE + "/metrics" + path, { method: "DELETE" }));
    if (path === "/job/b/instance@base64/=") {
      assert.equal(response.status, 202, "one label with a value is enough");
      continue;
    }
    assert.equal(response.status, 400, path);
    assert.equal(
      await response.text(),
      `DELETE needs a grouping label with a value, as in /metrics/job/<job>; "${path}" has none\n`,
    );
  }
  // What `curl -X DELETE …/metrics/job/$JOB` sends when $JOB is unset.
  const unset = await gw.handle(new Request(BASE + "/metrics/job/", { method: "DELETE" }));
  assert.equal(unset.status, 400);
  assert.equal(
    await unset.text(),
    'the path must hold label name and value pairs, "job" has no value\n',
  );
  const blank = await gw.handle(new Request(BASE + "/metrics///", { method: "DELETE" }));
  assert.equal(blank.status, 400);
  assert.equal(await blank.text(), 'invalid label name "" in the path\n');
  assert.equal(await scrape(gw), "# TYPE y untyped\ny 1\n");
});

Deno.test("GET /metrics serves text 0.0.4, gzip when asked, and HEAD without a body", async () => {
  const gw = gateway();
  await gw.handle(push("/metrics", 'a{x="q\\"\\\\"} 1\n'));
  const plain = await gw.handle(new Request(BASE + "/metrics"));
  assert.equal(plain.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.equal(plain.headers.get("content-encoding"), null);
  const expected = '# TYPE a untyped\na{x="q\\"\\\\"} 1\n';
  assert.equal(await plain.text(), expected);

  const zipped = await gw.handle(
    new Request(BASE + "/metrics", { headers: { "accept-encoding": "gzip, deflate" } }),
  );
  assert.equal(zipped.headers.get("content-encoding"), "gzip");
  const inflated = zipped.body!.pipeThrough(new DecompressionStream("gzip"));
  assert.equal(await new Response(inflated).text(), expected);

  const head = await gw.handle(new Request(BASE + "/metrics", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.equal(
    head.headers.get("content-length"),
    String(new TextEncoder().encode(expected).length),
  );
  assert.equal(await head.text(), "");
  assert.equal(gw.store.readers, 0);
});

Deno.test("acceptsGzip() honours q=0, and a gzip entry over *", () => {
  assert.ok(acceptsGzip("gzip"));
  assert.ok(acceptsGzip("br;q=1, gzip;q=0.5"));
  assert.ok(acceptsGzip("*"));
  assert.ok(!acceptsGzip("gzip;q=0"));
  assert.ok(!acceptsGzip("gzip;q=0, *"), "an explicit refusal wins over *");
  assert.ok(acceptsGzip("identity, *"));
  assert.ok(!acceptsGzip("*;q=0"));
  assert.ok(!acceptsGzip("identity"));
  assert.ok(!acceptsGzip(null));
});

Deno.test("unknown paths are 404 and wrong methods 405 with Allow", async (t) => {
  // [method, path, status, Allow]
  const cases: [string, string, number, string | null][] = [
    ["GET", "/favicon.ico", 404, null],
    ["PUT", "/", 405, "POST, GET, HEAD, OPTIONS"],
    ["PUT", "/api/v1/deltas", 405, "POST, OPTIONS"],
    ["POST", "/other", 404, null],
    ["GET", "/metricsfoo", 404, null],
    ["PATCH", "/metrics", 405, "GET, HEAD, POST, PUT, OPTIONS"],
    ["DELETE", "/metrics", 405, "GET, HEAD, POST, PUT, OPTIONS"],
    ["GET", "/metrics/job/a", 405, "POST, PUT, DELETE, OPTIONS"],
  ];
  const gw = gateway();
  for (const [method, path, status, allow] of cases) {
    await t.step(`${method} ${path}`, async () => {
      const response = await gw.handle(new Request(BASE + path, { method }));
      assert.equal(response.status, status);
      assert.equal(response.headers.get("allow"), allow);
      assert.match(await response.text(), status === 404 ? /^not found: / : / is not allowed on /);
    });
  }
});

Deno.test("--AuthUsers guards pushes and deletes, not the scrape", async () => {
  const gw = gateway({ authUsers: new Map([["alice", "s3cr=t"], ["bob", "pw"]]) });
  const basic = (credentials: string) => ({ authorization: "Basic " + btoa(credentials) });
  const cases: [HeadersInit, number][] = [
    [{}, 401],
    [basic("alice:wrong"), 401],
    [basic("carol:pw"), 401],
    [basic("bob:s3cr=t"), 401],
    [{ authorization: "Bearer x" }, 401],
    [{ authorization: "Basic !!!" }, 401],
    [basic("alice:s3cr=t"), 202],
    [basic("bob:pw"), 202],
  ];
  for (const [headers, status] of cases) {
    const response = await gw.handle(push("/metrics", "a 1\n", { headers }));
    assert.equal(response.status, status, JSON.stringify(headers));
    if (status === 401) {
      assert.equal(
        response.headers.get("www-authenticate"),
        'Basic realm="prom-aggregation-gateway", charset="UTF-8"',
      );
    }
  }
  const unauthorizedDelete = await gw.handle(
    new Request(BASE + "/metrics/job/a", { method: "DELETE" }),
  );
  assert.equal(unauthorizedDelete.status, 401);
  assert.equal(await scrape(gw), "# TYPE a untyped\na 2\n");
  assert.equal(selfMetric(gw, 'pag_rejections_total{reason="unauthorized"}'), 7);
});

Deno.test("--cors with a list allows those origins, answers preflights, and refuses others", async () => {
  const gw = gateway({ cors: { allowAll: false, origins: new Set(["https://app.example"]) } });
  const preflight = await gw.handle(
    new Request(BASE + "/metrics/job/web", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "PUT",
        "access-control-request-headers": "authorization, content-type",
      },
    }),
  );
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
  assert.match(preflight.headers.get("access-control-allow-methods")!, /PUT/);
  assert.equal(
    preflight.headers.get("access-control-allow-headers"),
    "authorization, content-type",
  );
  assert.equal(preflight.headers.get("vary"), "Origin");

  const allowed = await gw.handle(
    push("/metrics", "a 1\n", { headers: { origin: "https://app.example" } }),
  );
  assert.equal(allowed.status, 202);
  assert.equal(allowed.headers.get("access-control-allow-origin"), "https://app.example");

  for (const method of ["POST", "OPTIONS"]) {
    const refused = await gw.handle(
      push("/metrics", "a 1\n", { method, headers: { origin: "https://evil.example" } }),
    );
    assert.equal(refused.status, 403, method);
    assert.equal(await refused.text(), "origin https://evil.example is not allowed (--cors)\n");
    assert.equal(refused.headers.get("access-control-allow-origin"), null);
  }
  assert.equal(await scrape(gw), "# TYPE a untyped\na 1\n");
  assert.equal(selfMetric(gw, 'pag_rejections_total{reason="origin_not_allowed"}'), 2);

  // A scrape from an allowed page varies by both Origin and Accept-Encoding, gzipped or not.
  for (const encoding of ["gzip", "identity"]) {
    const scraped = await gw.handle(
      new Request(BASE + "/metrics", {
        headers: { origin: "https://app.example", "accept-encoding": encoding },
      }),
    );
    assert.equal(scraped.headers.get("vary"), "Accept-Encoding, Origin", encoding);
    await scraped.body?.cancel();
  }
});

Deno.test("--cors * allows any origin", async () => {
  const gw = gateway();
  const response = await gw.handle(
    push("/metrics", "a 1\n", { headers: { origin: "https://any.example" } }),
  );
  assert.equal(response.status, 202);
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
});

Deno.test("--cors headers go on pushes, deltas, deletes, the scrape and their preflights only", async () => {
  const gw = gateway();
  const origin = "https://any.example";
  const preflight = (path: string, method: string) =>
    new Request(BASE + path, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": method },
    });
  const cases: [Request, string | null][] = [
    [push("/metrics/job/a", "a 1\n", { headers: { origin } }), "*"],
    [push("/", '{"type":"counter","name":"c","method":"inc"}', { headers: { origin } }), "*"],
    [new Request(BASE + "/metrics/job/a", { method: "DELETE", headers: { origin } }), "*"],
    [new Request(BASE + "/metrics", { headers: { origin } }), "*"],
    [preflight("/metrics/job/a", "PUT"), "*"],
    [preflight("/", "POST"), "*"],
    [preflight("/api/v1/deltas", "POST"), "*"],
    [new Request(BASE + "/", { headers: { origin } }), null],
    [new Request(BASE + "/static/status.js", { headers: { origin } }), null],
    [new Request(BASE + "/api/v1/status", { headers: { origin } }), null],
    [new Request(BASE + "/api/v1/rejections", { headers: { origin } }), null],
    [preflight("/", "GET"), null],
    [preflight("/api/v1/targets", "GET"), null],
    [preflight("/metrics/job/a", "PATCH"), null],
    [new Request(BASE + "/metrics/job/a", { method: "OPTIONS", headers: { origin } }), null],
    [new Request(BASE + "/nope", { headers: { origin } }), null],
  ];
  for (const [request, allowed] of cases) {
    const what = `${request.method} ${request.url}`;
    const response = await gw.handle(request);
    await response.body?.cancel();
    assert.ok(response.status < 300 || response.status === 404, what);
    assert.equal(response.headers.get("access-control-allow-origin"), allowed, what);
    assert.equal(
      response.headers.has("access-control-allow-methods"),
      allowed !== null && request.method === "OPTIONS",
      what,
    );
  }
});

Deno.test("request durations are recorded by handler and status code", async () => {
  const gw = gateway();
  await gw.handle(push("/metrics", "a 1\n"));
  await gw.handle(new Request(BASE + "/nope"));
  await scrape(gw);
  assert.equal(
    selfMetric(gw, 'pag_http_request_duration_seconds_count{code="202",handler="push"}'),
    1,
  );
  assert.equal(
    selfMetric(gw, 'pag_http_request_duration_seconds_count{code="404",handler="not_found"}'),
    1,
  );
  assert.equal(
    selfMetric(gw, 'pag_http_request_duration_seconds_count{code="200",handler="scrape"}'),
    1,
  );
  assert.equal(selfMetric(gw, "pag_scrape_render_duration_seconds_count"), 1);
});

Deno.test("POST / and /api/v1/deltas take JSON deltas and answer 200 ok, as pushprom", async () => {
  const gw = gateway();
  for (const path of ["/", "/api/v1/deltas"]) {
    const response = await gw.handle(
      push(path, '{"type":"counter","name":"php_requests","help":"Requests","method":"inc"}'),
    );
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok");
  }
  assert.equal(
    await scrape(gw),
    "# HELP php_requests Requests\n# TYPE php_requests counter\nphp_requests 2\n",
  );
  assert.equal(selfMetric(gw, 'pag_pushes_total{outcome="accepted"}'), 2);
});

Deno.test("a bad delta is a 400 with a message and changes nothing", async () => {
  const gw = gateway();
  await gw.handle(push("/", '{"type":"gauge","name":"g","method":"set","value":3}'));
  const bodies: [string, string][] = [
    ["{", "invalid JSON: "],
    [
      '[{"type":"gauge","name":"g","method":"inc"},{"type":"gauge","name":"g","method":"pow"}]',
      "delta 1: ",
    ],
    ['{"type":"counter","name":"g","method":"inc"}', 'metric "g" is a gauge in the gateway'],
  ];
  for (const [body, start] of bodies) {
    const response = await gw.handle(push("/api/v1/deltas", body));
    assert.equal(response.status, 400);
    assert.ok((await response.text()).startsWith(start), body);
  }
  assert.equal(await scrape(gw), "# TYPE g gauge\ng 3\n");
  assert.equal(selfMetric(gw, 'pag_pushes_total{outcome="rejected"}'), 3);
});

Deno.test("deltas need auth when --AuthUsers is set, take gzip and obey --cors", async () => {
  const gw = gateway({
    authUsers: new Map([["php", "pw"]]),
    cors: { allowAll: false, origins: new Set(["https://app.example"]) },
  });
  const delta = '{"type":"counter","name":"c","method":"inc"}';
  assert.equal((await gw.handle(push("/", delta))).status, 401);
  const authorization = "Basic " + btoa("php:pw");
  const zipped = await gw.handle(push("/", gzip(delta), {
    headers: { authorization, "content-encoding": "gzip" },
  }));
  assert.equal(zipped.status, 200);
  const foreign = await gw.handle(push("/", delta, {
    headers: { authorization, origin: "https://evil.example" },
  }));
  assert.equal(foreign.status, 403);
  assert.equal(await scrape(gw), "# TYPE c counter\nc 1\n");
});

Deno.test("rawPathname() keeps the path as sent", () => {
  assert.equal(rawPathname("http://h:1/metrics/job/../x?a=b#c"), "/metrics/job/../x");
  assert.equal(rawPathname("http://h/metrics/a%2Fb"), "/metrics/a%2Fb");
  assert.equal(rawPathname("http://h"), "/");
});

Deno.test("a scrape renders and compresses once per change, in either encoding", async () => {
  const gw = gateway();
  const renders = () => selfMetric(gw, "pag_scrape_render_duration_seconds_count");
  const get = async (gzip: boolean) => {
    const response = await gw.handle(
      new Request(BASE + "/metrics", {
        headers: { "accept-encoding": gzip ? "gzip" : "identity" },
      }),
    );
    assert.equal(response.headers.get("content-encoding"), gzip ? "gzip" : null);
    const bytes = new Uint8Array(await response.arrayBuffer());
    return new TextDecoder().decode(gzip ? gunzipSync(bytes) : bytes);
  };
  await gw.handle(push("/metrics", "a 1\n"));
  const first = await get(true);
  assert.equal(await get(true), first);
  assert.equal(renders(), 1, "gzip scrapes of an unchanged store render once");
  assert.equal(await get(false), first);
  assert.equal(renders(), 1, "the plain text was kept with the gzip body");
  await gw.handle(push("/metrics", "a 1\n"));
  const second = await get(false);
  assert.match(second, /^a 2$/m);
  assert.equal(renders(), 2);
  assert.equal(await get(true), second);
  assert.equal(renders(), 3, "compressing counts as rendering");
  assert.equal(await get(true), second);
  assert.equal(renders(), 3);
});

/** A store of `families` counter families of 5000 series each, every value `value`. */
function bigBody(families: string[], value: number): string {
  let body = "";
  for (const name of families) {
    body += `# TYPE ${name} counter\n`;
    for (let i = 0; i < 5000; i++) body += `${name}{i="${String(i).padStart(4, "0")}"} ${value}\n`;
  }
  return body;
}

Deno.test("a scrape is sent as it renders and shows the store as it was when it began", async (t) => {
  for (const gzip of [false, true]) {
    await t.step(gzip ? "gzip" : "plain", async () => {
      const gw = gateway({ maxBodyBytes: 10_000_000 });
      await gw.handle(push("/metrics/job/a", bigBody(["a", "b", "c"], 1)));
      const before = gw.store.render();
      const response = await gw.handle(
        new Request(BASE + "/metrics", { headers: { "accept-encoding": gzip ? "gzip" : "" } }),
      );
      const reader = response.body!.getReader();
      const chunks: Uint8Array[] = [(await reader.read()).value!];
      assert.equal(gw.store.readers, 1, "the scrape is still reading the store");
      // While the body is being sent: every family changes, a series goes, a family comes.
      const pushed = await gw.handle(push("/metrics/job/a", bigBody(["a", "b", "c"], 1) + "d 1\n"));
      assert.equal(pushed.status, 202);
      await gw.handle(new Request(BASE + "/metrics/job/a/i/0001", { method: "DELETE" }));
      for (let next; !(next = await reader.read()).done;) chunks.push(next.value!);
      const bytes = concatBytes(chunks);
      const text = new TextDecoder().decode(gzip ? gunzipSync(bytes) : bytes);
      assert.equal(text, before);
      assert.ok(chunks.length > 3, `sent in ${chunks.length} chunks`);
      assert.equal(gw.store.readers, 0);
      assert.match(await scrape(gw), /^a\{i="0000",job="a"\} 2$/m);
    });
  }
});

Deno.test("a scrape abandoned by its client closes its read of the store", async () => {
  const gw = gateway({ maxBodyBytes: 10_000_000 });
  await gw.handle(push("/metrics/job/a", bigBody(["a", "b"], 1)));
  const response = await gw.handle(new Request(BASE + "/metrics"));
  const reader = response.body!.getReader();
  await reader.read();
  assert.equal(gw.store.readers, 1);
  await reader.cancel();
  assert.equal(gw.store.readers, 0);
});

Deno.test("a push read by a template that fails a value check is refused whole", async () => {
  const gw = gateway();
  const body = (requests: number, count: number) =>
    "# TYPE requests_total counter\n" +
    `requests_total{code="200"} ${requests}\n` +
    "# TYPE latency histogram\n" +
    `latency_bucket{le="1"} 1\nlatency_bucket{le="+Inf"} 2\nlatency_sum 1.5\nlatency_count ${count}\n`;
  // Two pushes of the same series: the second makes a template, the third is read by it.
  for (let i = 0; i < 3; i++) {
    assert.equal((await gw.handle(push("/metrics/job/t", body(1, 2)))).status, 202);
  }
  const before = await scrape(gw);
  for (
    const [text, message] of [
      [body(-1, 2), 'line 2: counter requests_total{code="200",job="t"} has negative value -1'],
      [body(1, 3), 'histogram latency{job="t"} has _count 3 but 2 in its le="+Inf" bucket'],
    ]
  ) {
    const response = await gw.handle(push("/metrics/job/t", text));
    assert.equal(response.status, 400);
    assert.equal(await response.text(), message + "\n");
  }
  assert.equal(await scrape(gw), before);
  assert.match(before, /^requests_total\{code="200",job="t"\} 3$/m);
});

Deno.test("pushes to more than 1000 paths aggregate exactly across the caches' start-over", async () => {
  const gw = gateway();
  const body = "# TYPE runs_total counter\nruns_total 1\n";
  // Each pass over 1001 paths drops every path and its caches at the 1001st.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i <= 1000; i++) {
      const response = await gw.handle(push(`/metrics/job/j${i}`, body));
      assert.equal(response.status, 202);
    }
  }
  const response = await gw.handle(push("/metrics/job/j0", body));
  assert.equal(response.status, 202);
  const lines = (await scrape(gw)).split("\n").filter((line) => line.startsWith("runs_total"));
  assert.equal(lines.length, 1001);
  assert.ok(lines.includes('runs_total{job="j0"} 3'));
  assert.ok(lines.includes('runs_total{job="j1000"} 2'));
  assert.ok(lines.every((line) => line.endsWith(line.includes('"j0"') ? " 3" : " 2")));
});

Deno.test("a push that completes after shutdown stopped accepting is a 503 and changes nothing", async () => {
  let accepting = true;
  const gw = gateway({ isAccepting: () => accepting });
  assert.equal((await gw.handle(push("/metrics/job/a", "x 1\n"))).status, 202);
  accepting = false;
  for (
    const request of [
      push("/metrics/job/a", "x 1\n"),
      push("/", '{"type":"counter","name":"y","method":"inc"}'),
    ]
  ) {
    const response = await gw.handle(request);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("connection"), "close");
    assert.equal(await response.text(), "the gateway is shutting down; retry elsewhere or later\n");
  }
  assert.equal(await scrape(gw), '# TYPE x untyped\nx{job="a"} 1\n');
  assert.equal(selfMetric(gw, 'pag_pushes_total{outcome="rejected"}'), 2);
});

Deno.test("mutated protobuf and JSON bodies get 2xx or 400, and a refused one changes nothing (seeded)", async (t) => {
  // Delimited MetricFamily messages: gauge g{a="b"} 1, histogram h{x="y"} (count 3, sum 1.5,
  // le=1: 2, le=+Inf: 3) and counter c_total 2, as the Go client writes them.
  const protobuf = Uint8Array.from(
    ("1a0a0167180122130a060a0161120162120909000000000000f03f360a01681804222f0a060a01781201793a2508" +
      "0311000000000000f83f1a0b080211000000000000f03f1a0b080311000000000000f07f180a07635f746f74" +
      "616c1800220b1a09090000000000000040").match(/../g)!,
    (hex) => parseInt(hex, 16),
  );
  const json = new TextEncoder().encode(
    '[{"type":"histogram","name":"h2","method":"observe","value":0.3,"buckets":[0.1,1],' +
      '"labels":{"a":"b"}},{"type":"gauge","name":"g2","method":"set","value":2}]',
  );
  const cases: { name: string; base: Uint8Array; path: string; headers: Record<string, string> }[] =
    [
      {
        name: "protobuf",
        base: protobuf,
        path: "/metrics/job/f",
        headers: {
          "content-type":
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        },
      },
      { name: "JSON deltas", base: json, path: "/api/v1/deltas", headers: {} },
    ];
  for (const { name, base, path, headers } of cases) {
    await t.step(name, async () => {
      const gw = gateway({ maxBodyBytes: 1 << 20 });
      const valid = await gw.handle(push(path, base.slice(), { headers }));
      assert.ok(valid.status < 300, `the unmutated body is accepted: ${await valid.text()}`);
      const next = random(name.length);
      const statuses = new Set<number>();
      for (let i = 0; i < 2000; i++) {
        const body = [...base];
        for (let k = 1 + Math.floor(next() * 4); k > 0; k--) {
          const at = Math.floor(next() * body.length);
          const op = next();
          const byte = Math.floor(next() * 256);
          if (op < 0.5) body[at] = byte;
          else if (op < 0.75) body.splice(at, 1);
          else body.splice(at, 0, byte);
        }
        const before = gw.store.render();
        const response = await gw.handle(push(path, new Uint8Array(body), { headers }));
        statuses.add(response.status);
        if (response.status >= 300) {
          assert.equal(response.status, 400, `body ${i}: ${await response.text()}`);
          assert.equal(gw.store.render(), before, `body ${i} was refused but changed the store`);
        } else {
          await response.body?.cancel();
        }
      }
      assert.ok(statuses.has(400) && statuses.size > 1, [...statuses].join(", "));
    });
  }
});

Deno.test("refusals are plain text that no browser sniffs as anything else", async () => {
  const gw = gateway();
  const answers = [
    await gw.handle(push("/metrics/job/a", '<script>alert(1)</script>{a="1"} 1\n')),
    await gw.handle(new Request(BASE + "/nowhere")),
    await gw.handle(new Request(BASE + "/metrics", { method: "DELETE" })),
  ];
  for (const response of answers) {
    await response.body?.cancel();
    assert.ok(response.status >= 400, String(response.status));
    assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  }
});
