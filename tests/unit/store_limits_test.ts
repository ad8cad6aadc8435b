import assert from "node:assert/strict";
import { ParseError } from "../../lib/core/errors.ts";
import type { Push } from "../../lib/core/model.ts";
import { parseDeltas } from "../../lib/ingest/parse_json.ts";
import { parseText } from "../../lib/ingest/parse_text.ts";
import { NO_LABEL_LIMITS, PushBuilder, type PushLimits } from "../../lib/ingest/push_builder.ts";
import { SeriesCache, SeriesCacheBudget, targetBytes } from "../../lib/ingest/series_cache.ts";
import { Store } from "../../lib/store/store.ts";
import { familyBytes, seriesBytesOf } from "../../lib/core/store_bytes.ts";
import { random } from "../helpers/seeded.ts";

const long = (i: number, chars = 2000) => `big_total{v="${"x".repeat(chars)}${i}"} 1\n`;
const keyOf = (i: number, chars = 2000) => `v="${"x".repeat(chars)}${i}"`;

Deno.test("--maxStoreBytes refuses a push past the budget whole, never one of held series", () => {
  const one = seriesBytesOf("big_total", "untyped", keyOf(0), 0);
  const max = familyBytes("big_total", undefined) + 3 * one;
  const store = new Store({ gaugeBehavior: "replace", maxStoreBytes: max });
  store.apply(parseText(long(0) + long(1)));
  const held = store.bytes;
  const before = store.render();
  assert.throws(() => store.apply(parseText(long(2) + long(3))), {
    name: "PushError",
    reason: "bytes_limit",
    message: `the push would add ${2 * one} bytes to the ${held} the gateway holds, ` +
      `more than its limit of ${max} (--maxStoreBytes)`,
  });
  assert.equal(store.render(), before);
  assert.equal(store.bytes, held);
  store.apply(parseText(long(2)));
  assert.equal(store.bytes, max, "full to the byte");
  // Held series, of the shape they have: never refused, full as the store is.
  store.apply(parseText(long(0) + long(1) + long(2)));
  assert.throws(() => store.apply(parseText("small 1\n")), { reason: "bytes_limit" });
  // A longer HELP costs bytes too; the same HELP again costs none.
  assert.throws(() => store.apply(parseText("# HELP big_total Big.\n" + long(0))), {
    reason: "bytes_limit",
  });
  store.delete([["v", "x".repeat(2000) + "0"]]);
  store.apply(parseText("small 1\n"));
});

Deno.test("--maxFamilies refuses a push that would add families, whole", () => {
  const store = new Store({ gaugeBehavior: "replace", maxFamilies: 2 });
  store.apply(parseText("a 1\nb 1\n"));
  assert.throws(() => store.apply(parseText("a 1\nc 1\nd 1\n")), {
    name: "PushError",
    reason: "family_limit",
    message:
      "the push would add 2 families to the 2 the gateway holds, more than its limit of 2 (--maxFamilies)",
  });
  assert.throws(
    () => store.applyDeltas(parseDeltas('{"type":"counter","name":"e","method":"inc"}')),
    { reason: "family_limit" },
  );
  store.apply(parseText('a{x="1"} 1\nb 1\n'));
  assert.equal(store.render(), '# TYPE a untyped\na 1\na{x="1"} 1\n# TYPE b untyped\nb 2\n');
});

/** A histogram family `name` of series, each `[key, bounds]` with +Inf added. */
const histograms = (name: string, ...series: [string, string[]][]) =>
  `# TYPE ${name} histogram\n` +
  series.map(([key, bounds]) => histogram(name, bounds, key, false)).join("");

const histogram = (name: string, bounds: string[], key = "", typed = true) =>
  (typed ? `# TYPE ${name} histogram\n` : "") +
  bounds.map((le) => `${name}_bucket{${key}${key && ","}le="${le}"} 0\n`).join("") +
  `${name}_bucket{${key}${key && ","}le="+Inf"} 0\n` +
  `${name}_sum${key && `{${key}}`} 0\n${name}_count${key && `{${key}}`} 0\n`;

Deno.test("--maxBucketsPerSeries refuses a histogram too wide alone or merged, whole", () => {
  const store = new Store({ gaugeBehavior: "replace", maxBucketsPerSeries: 4 });
  store.apply(parseText(histogram("h", ["1", "2"]) + histogram("g", ["1"])));
  const before = store.render();
  assert.throws(() => store.apply(parseText(histogram("g", ["5"]) + histogram("h", ["3", "4"]))), {
    name: "PushError",
    reason: "bucket_limit",
    message:
      "histogram h merged with the gateway's would have 5 buckets, more than the limit of 4 (--maxBucketsPerSeries)",
  });
  assert.equal(store.render(), before, "g is not merged either");
  assert.throws(() => store.apply(parseText(histogram("h", ["1", "2", "3", "4"], 'x="1"'))), {
    reason: "bucket_limit",
    message: 'histogram h{x="1"} has 5 buckets, more than the limit of 4 (--maxBucketsPerSeries)',
  });
  // The same bounds, or some of them, merge as ever.
  store.apply(parseText(histograms("h", ["", ["1", "2"]], ['x="1"', ["2"]])));
  store.apply(parseText(histogram("h", ["3"], 'x="1"')));
  const deltas = (buckets: number[]) =>
    parseDeltas(
      JSON.stringify({ type: "histogram", name: "d", method: "observe", value: 1, buckets }),
    );
  assert.throws(() => store.applyDeltas(deltas([1, 2, 3, 4])), { reason: "bucket_limit" });
  store.applyDeltas(deltas([1, 2, 3]));
});

Deno.test("PushBuilder refuses a histogram series past maxBuckets at its first extra bucket", () => {
  const limits: PushLimits = { ...NO_LABEL_LIMITS, maxBuckets: 3 };
  let body = "# TYPE h histogram\n";
  for (let le = 0; le < 100_000; le++) body += `h_bucket{le="${le}"} 0\n`;
  assert.throws(() => parseText(body, [], limits), {
    name: "ParseError",
    reason: "bucket_limit",
    message: "line 5: histogram h has more than 3 buckets, the limit (--maxBucketsPerSeries)",
  });
  parseText(histogram("h", ["1", "2"]), [], limits);
  assert.throws(
    () =>
      parseDeltas(
        '{"type":"histogram","name":"d","method":"observe","buckets":[1,2,3]}',
        limits,
      ),
    {
      reason: "bucket_limit",
      message:
        'histogram "d": 3 buckets and +Inf are more than the limit of 3 (--maxBucketsPerSeries)',
    },
  );
});

Deno.test("PushBuilder checks the path's labels against --maxLabelsPerSeries", () => {
  const limits = { maxLabels: 64, maxValueLength: 4096 };
  const grouping = Array.from({ length: 65 }, (_, i): [string, string] => [`l${i}`, "v"]);
  const message = "the path has 65 labels, more than the limit of 64 (--maxLabelsPerSeries)";
  assert.throws(() => new PushBuilder(grouping, limits), { reason: "label_limit", message });
  // A line without labels of its own is keyed by the path's alone: the case the check is for.
  assert.throws(() => parseText("x_total 1\n", grouping, limits), { message });
  new PushBuilder(grouping.slice(0, 64), limits);
});

/** A store with `held` series of family `c` and room for `room` more, and `bytes` bytes. */
function storeWith(held: number, limits: { series?: number; bytes?: number; families?: number }) {
  const store = new Store({
    gaugeBehavior: "replace",
    maxSeries: limits.series,
    maxStoreBytes: limits.bytes,
    maxFamilies: limits.families,
  });
  let body = "";
  for (let i = 0; i < held; i++) body += `c{i="${i}"} 1\n`;
  if (held > 0) store.apply(parseText(body));
  return store;
}

Deno.test("a push that cannot fit the store is refused while parsed, with the store's reason", () => {
  const store = storeWith(10, { series: 10 });
  let body = "";
  for (let i = 0; i < 100_000; i++) body += `c{i="${i}"} 1\n`;
  assert.throws(() => parseText(body, [], { ...NO_LABEL_LIMITS, room: store }), {
    name: "ParseError",
    reason: "series_limit",
    message:
      "line 11: the push would add at least 1 series to the 10 the gateway holds, more than its limit of 10 (--maxSeries)",
  });
  const families = storeWith(1, { families: 1 });
  assert.throws(() => parseText("c 1\nd 1\n", [], { ...NO_LABEL_LIMITS, room: families }), {
    reason: "family_limit",
    message:
      "line 2: the push would add at least 1 families to the 1 the gateway holds, more than its limit of 1 (--maxFamilies)",
  });
});

Deno.test("the early refusal refuses only pushes the store refuses, for the same reason (seeded)", () => {
  const next = random(11);
  let refused = 0;
  for (let round = 0; round < 300; round++) {
    const held = Math.floor(next() * 20);
    const limits = {
      series: next() < 0.7 ? held + Math.floor(next() * 5) : undefined,
      bytes: next() < 0.5 ? 1400 + Math.floor(next() * 5000) : undefined,
      families: next() < 0.3 ? 1 + Math.floor(next() * 3) : undefined,
    };
    let store: Store;
    try {
      store = storeWith(held, limits);
    } catch {
      continue; // the held series alone pass the limits
    }
    let body = "";
    const lines = 1 + Math.floor(next() * 12);
    for (let i = 0; i < lines; i++) {
      const family = ["c", "d", "e_created", "f"][Math.floor(next() * 4)];
      body += `${family}{i="${Math.floor(next() * 30)}${"x".repeat(next() * 50)}"} 1\n`;
    }
    let push: Push;
    try {
      push = parseText(body);
    } catch {
      continue; // a series twice: not a push to check limits with
    }
    let early: ParseError | undefined;
    try {
      const read = parseText(body, [], { ...NO_LABEL_LIMITS, room: store });
      assert.deepEqual(read, push, "a push that fits is read as ever");
    } catch (error) {
      if (!(error instanceof ParseError)) throw error;
      early = error;
    }
    if (early === undefined) continue;
    refused++;
    assert.throws(() => store.apply(push), `refused early, accepted late: ${body}`);
    // Early, the limit that is plain first; the store may name another it checks first, but
    // the early one alone refuses the push too.
    const limit =
      ({ series_limit: "series", bytes_limit: "bytes", family_limit: "families" } as const)[
        early.reason as "series_limit"
      ];
    assert.ok(limit !== undefined, early.message);
    assert.throws(() => storeWith(held, { [limit]: limits[limit] }).apply(parseText(body)), {
      reason: early.reason,
    });
  }
  assert.ok(refused > 30, `only ${refused} pushes refused early`);
});

Deno.test("SeriesCacheBudget counts bytes: long texts, paths, and entries too big to keep", () => {
  const budget = new SeriesCacheBudget(64 * 1024);
  const cache = new SeriesCache(budget);
  const raw = `m{v="${"x".repeat(4000)}"}`;
  cache.set(raw, { name: "m", mode: "value", key: raw.slice(2, -1), le: NaN });
  assert.ok(budget.used > 4 * 4000, `${budget.used}`);
  assert.equal(cache.size, 1);
  // More than a quarter of the budget: not kept, nothing spent.
  const used = budget.used;
  cache.set("m" + "x".repeat(9000), { name: "m", mode: "value", key: "", le: NaN });
  assert.equal(budget.used, used);
  assert.equal(cache.size, 1);
  const path = "/job/" + "j".repeat(20_000);
  assert.ok(targetBytes(path, [["job", "j".repeat(20_000)]]) > 4 * 20_000);
  // A holder that spends past the limit empties every holder, the paths' one too.
  let cleared = false;
  budget.spend({ clear: () => cleared = true }, 50 * 1024);
  assert.equal(cache.size, 0);
  assert.ok(!cleared, "the spender is emptied only at the next start-over");
  budget.spend(cache, 32 * 1024);
  assert.ok(cleared);
});

Deno.test("a piece of scrape text stays near 1 Mi chars however long its lines", () => {
  const store = new Store({ gaugeBehavior: "replace" });
  // Keys outside ASCII, and histograms, are rendered as strings: the case the bound is for.
  const value = "é".repeat(40_000);
  let body = "# TYPE g gauge\n";
  for (let i = 0; i < 64; i++) body += `g{i="${i}",v="${value}"} 1\n`;
  body += histograms(
    "h",
    ...Array.from(
      { length: 16 },
      (_, i): [string, string[]] => [`i="${i}",v="${value}"`, ["1", "2", "3"]],
    ),
  );
  store.apply(parseText(body));
  const line = new TextEncoder().encode(`h_bucket{i="10",v="${value}",le="+Inf"} 0\n`).length;
  const reader = store.read();
  let pieces = 0;
  for (let piece; (piece = reader.next()) !== undefined; pieces++) {
    // 1 Mi chars, 2 bytes each here, and the series that passes it.
    assert.ok(piece.plain.length <= 2 * (1 << 20) + 5 * line, `${piece.plain.length} bytes`);
  }
  assert.ok(pieces > 3, `${pieces} pieces`);
  assert.equal(new TextDecoder().decode(concat(store)), store.render());
});

function concat(store: Store): Uint8Array {
  const reader = store.read();
  const parts: Uint8Array[] = [];
  for (let piece; (piece = reader.next()) !== undefined;) parts.push(piece.plain);
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) whole.set(part, at), at += part.length;
  return whole;
}
