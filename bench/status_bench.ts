// deno bench for the status page's JSON API over a store of 1M series: each request through the
// API handler (routing, the read, JSON), as the server spends it. Also the cost of recording a
// push for the page. Run with `deno task bench`; figures are results, never asserted.

import { createApiHandler } from "../lib/http/api.ts";
import { SelfMetrics } from "../lib/http/self_metrics.ts";
import { StatusLog } from "../lib/http/status_log.ts";
import type { Label, PushFamily } from "../lib/core/model.ts";
import { Store } from "../lib/store/store.ts";

const logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A store of `families` families of `perFamily` counter series each. */
function storeOf(families: number, perFamily: number): Store {
  const store = new Store({ gaugeBehavior: "replace" });
  for (let f = 0; f < families; f++) {
    const keys: string[] = [];
    for (let s = 0; s < perFamily; s++) keys.push(`instance="host-${s}",job="bench"`);
    const family: PushFamily = {
      name: `bench_family_${String(f).padStart(6, "0")}_total`,
      type: "counter",
      help: `Family ${f} of the benchmark.`,
      keys,
      values: keys.map(() => 1),
    };
    store.apply([family]);
  }
  return store;
}

/** The API handler over `store`, with a status log full of targets and refusals. */
function handlerOf(store: Store) {
  const statusLog = new StatusLog();
  // Fill the targets' bytes: about 9k targets of two labels.
  for (let i = 0; i < 20_000; i++) {
    statusLog.pushed([["job", "bench"], ["instance", `host-${i}.example.com`]], 100);
  }
  for (let i = 0; i < 200; i++) {
    statusLog.refused(
      { remoteAddress: "192.0.2.1:40000", method: "POST", path: `/metrics/job/bench/i/${i}` },
      "parse",
      400,
      `line 1: invalid value "x" for metric "m${i}"`,
    );
  }
  const handle = createApiHandler({
    store,
    metrics: new SelfMetrics(),
    logger,
    cors: { allowAll: true, origins: new Set() },
    authUsers: new Map(),
    maxBodyBytes: 1 << 20,
    labelLimits: { maxLabels: 64, maxValueLength: 4096 },
    statusLog,
    status: { limits: { maxSeries: 1_000_000, maxFamilies: 100_000 } },
  });
  return async (path: string) => {
    const response = await handle(new Request("http://bench" + path));
    if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
    await response.arrayBuffer();
  };
}

// The default --maxFamilies: 10k families of 100 series.
const wide = handlerOf(storeOf(10_000, 100));
// Many families (with --maxFamilies raised): 100k families of 10 series.
const manyStore = storeOf(100_000, 10);
const many = handlerOf(manyStore);

for (const [name, get] of [["10k×100", wide], ["100k×10", many]] as const) {
  const group = `1M series as ${name}`;
  Deno.bench(
    `GET /api/v1/status (${name})`,
    { group, baseline: true },
    () => get("/api/v1/status"),
  );
  Deno.bench(
    `GET /api/v1/families, first page (${name})`,
    { group },
    () => get("/api/v1/families"),
  );
  Deno.bench(
    `GET /api/v1/families, last page (${name})`,
    { group },
    () => get("/api/v1/families?limit=100&offset=" + (name === "10k×100" ? 9_900 : 99_900)),
  );
  Deno.bench(
    `GET /api/v1/families?match= (${name})`,
    { group },
    () => get("/api/v1/families?match=FAMILY_00009"),
  );
}

Deno.bench(
  "GET /api/v1/targets, first page of 9k",
  { group: "log" },
  () => wide("/api/v1/targets"),
);
Deno.bench(
  "GET /api/v1/targets?match= over 9k",
  { group: "log" },
  () => wide("/api/v1/targets?match=host-1999"),
);
Deno.bench("GET /api/v1/rejections", { group: "log" }, () => wide("/api/v1/rejections"));
Deno.bench("GET / (the page)", { group: "log" }, () => wide("/"));

// After a family comes or goes, the store sorts the names again once: the first families
// request pays for it. Each run adds a family of its own.
let added = 0;
Deno.bench(
  "GET /api/v1/families after a new family (100k×10)",
  { group: "sort" },
  async (b) => {
    const extra: PushFamily = {
      name: `bench_extra_${added++}`,
      type: "counter",
      help: undefined,
      keys: [""],
      values: [1],
    };
    manyStore.apply([extra]);
    b.start();
    await many("/api/v1/families");
    b.end();
  },
);

// The push path's share: recording an accepted push.
const log = new StatusLog();
const known: Label[] = [["job", "bench"], ["instance", "host-1"]];
log.pushed(known, 1);
Deno.bench("StatusLog.pushed() a known target", { group: "record" }, () => {
  log.pushed(known, 110);
});
let n = 0;
Deno.bench("StatusLog.pushed() a new target, bound full", { group: "record" }, () => {
  log.pushed([["job", "bench"], ["instance", `new-${n++}`]], 110);
});
