import assert from "node:assert/strict";
import { createLifecycleHandler } from "../../lib/http/lifecycle.ts";
import { parseText } from "../../lib/ingest/parse_text.ts";
import { SelfMetrics } from "../../lib/http/self_metrics.ts";
import { Store } from "../../lib/store/store.ts";
import { VERSION } from "../../lib/core/version.ts";

function handler(ready: boolean) {
  return createLifecycleHandler({
    store: {
      seriesCount: 12,
      familyCount: 3,
      bytes: 4096,
      expiredCount: 5,
      scrapeBacklogBytes: 1024,
      scrapesCutOff: 2,
      expire: () => 0,
    },
    metrics: new SelfMetrics(1_700_000_000_000),
    isReady: () => ready,
  });
}

const get = (path: string, method = "GET") => new Request("http://gateway.test" + path, { method });

Deno.test("/healthy and /ready answer JSON as the Go gateway does", async () => {
  for (const path of ["/healthy", "/ready"]) {
    const response = handler(true)(get(path));
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      name: "prom-aggregation-gateway",
      alive: true,
      version: VERSION,
      commitSHA: "unknown",
    });
  }
});

Deno.test("/-/healthy and /-/ready answer as the Pushgateway does", async () => {
  const healthy = handler(true)(get("/-/healthy"));
  assert.equal(healthy.status, 200);
  assert.equal(await healthy.text(), "OK\n");
  assert.equal(handler(true)(get("/-/ready")).status, 200);
});

Deno.test("/ready and /-/ready are 503 until the gateway is ready; liveness is not", () => {
  assert.equal(handler(false)(get("/ready")).status, 503);
  assert.equal(handler(false)(get("/-/ready")).status, 503);
  assert.equal(handler(false)(get("/healthy")).status, 200);
  assert.equal(handler(false)(get("/-/healthy")).status, 200);
});

Deno.test("/metrics serves the gateway's own metrics", async () => {
  const response = handler(true)(get("/metrics"));
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await response.text();
  for (
    const line of [
      'pag_pushes_total{outcome="accepted"} 0',
      'pag_pushes_total{outcome="rejected"} 0',
      'pag_samples_total{outcome="accepted"} 0',
      "pag_series 12",
      "pag_families 3",
      "pag_store_bytes 4096",
      "pag_scrape_backlog_bytes 1024",
      "pag_scrapes_cut_off_total 2",
      "pag_push_cache_bytes 0",
      "# TYPE pag_http_request_duration_seconds histogram",
      "# TYPE pag_scrape_render_duration_seconds histogram",
      "process_start_time_seconds 1700000000",
    ]
  ) {
    assert.ok(text.split("\n").includes(line), `missing line: ${line}`);
  }
  assert.match(
    text,
    new RegExp(`^pag_build_info\\{commit="unknown",deno="[^"]+",version="${VERSION}"\\} 1$`, "m"),
  );
  assert.match(text, /^process_resident_memory_bytes [1-9]\d*$/m);
  assert.match(text, /^process_heap_bytes [1-9]\d*$/m);
});

Deno.test("the lifecycle listener answers 404 and 405", async () => {
  const missing = handler(true)(get("/nope"));
  assert.equal(missing.status, 404);
  assert.equal(await missing.text(), "not found: /nope\n");
  const wrong = handler(true)(get("/healthy", "POST"));
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET, HEAD");
});

Deno.test("/metrics drops expired series before it counts them", async () => {
  let now = 1_700_000_000_000;
  const store = new Store({ gaugeBehavior: "replace", seriesTTL: 1000, now: () => now });
  store.apply(parseText("a 1\nb 1\n"));
  const lifecycle = createLifecycleHandler({
    store,
    metrics: new SelfMetrics(now),
    isReady: () => true,
  });
  now += 5000; // past the TTL, before any timer or scrape expired them
  const text = await lifecycle(get("/metrics")).text();
  assert.match(text, /^pag_series 0$/m);
  assert.match(text, /^pag_series_expired_total 2$/m);
  assert.match(text, /^pag_store_bytes 0$/m, "expiry gives the bytes back");
});
