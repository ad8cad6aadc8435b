// Hostile senders against the store's limits, each over a real gateway process and real HTTP:
// one unauthenticated client must not exhaust the gateway's memory or block it for long
// (DESIGN.md, "Hostile senders"). Each case is one the issue "Survive hostile senders" reports.

import assert from "node:assert/strict";
import { type GatewayProcess, startGateway } from "../helpers/gateway_process.ts";
import { residentBytes } from "../helpers/process_memory.ts";
import { selfMetric } from "../helpers/self_metrics.ts";

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

async function push(
  gateway: GatewayProcess,
  path: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  const response = await fetch(gateway.api + path, {
    method: "POST",
    body: body as BodyInit,
    headers,
  });
  const text = await response.text();
  return { status: response.status, text, ms: performance.now() - started };
}

const FILLER = "x".repeat(3990);

/**
 * The body: 30 series of a counter, each with 63 labels of 4000 chars (7.6 MB, under
 * the default --maxBodyBytes), none seen in another round.
 */
function wideBody(round: number): string {
  let text = "# TYPE wide_total counter\n";
  for (let s = 0; s < 30; s++) {
    const labels = [];
    for (let l = 0; l < 63; l++) labels.push(`l${l}="${round}-${s}-${l}-${FILLER}"`);
    text += `wide_total{${labels.join(",")}} 1\n`;
  }
  return text;
}

Deno.test({
  name: "pushes of long labels stop at --maxStoreBytes with default flags, under 1 GiB resident",
  async fn() {
    await using gateway = await startGateway();
    const statuses: number[] = [];
    let refusal = "";
    for (let round = 0; round < 40 && statuses.filter((s) => s === 429).length < 3; round++) {
      const { status, text } = await push(gateway, "/metrics/job/wide", wideBody(round));
      statuses.push(status);
      if (status === 429) refusal = text;
      else assert.equal(status, 202, text);
    }
    const accepted = statuses.filter((s) => s === 202).length;
    // About 630 KB a series as counted: 256 MiB holds some 14 pushes of 30.
    assert.ok(statuses.includes(429), `no push refused in ${statuses.length}`);
    assert.ok(accepted >= 8, `only ${accepted} pushes taken before the budget: ${statuses}`);
    assert.match(refusal, /more than its limit of 268435456 \(--maxStoreBytes\)/);
    assert.ok(statuses.indexOf(429) === accepted, `refused, then taken: ${statuses}`);
    assert.ok(await selfMetric(gateway, "pag_store_bytes") <= 268435456);
    assert.equal(await selfMetric(gateway, 'pag_rejections_total{reason="bytes_limit"}'), 3);
    // The series held take pushes as ever: their shape does not change.
    assert.equal((await push(gateway, "/metrics/job/wide", wideBody(0))).status, 202);
    // A scrape renders and compresses the whole of it, which the store keeps until it changes.
    const scraped = await fetch(gateway.api + "/metrics", {
      headers: { "Accept-Encoding": "gzip" },
    });
    assert.equal(scraped.headers.get("content-encoding"), "gzip");
    const text = await scraped.text(); // fetch inflates it
    const lines = text.split("\n").filter((l) => l.startsWith("wide_total{"));
    assert.equal(lines.length, 30 * accepted);
    const pushedTwice = lines.filter((l) => l.startsWith('wide_total{job="wide",l0="0-'));
    assert.deepEqual(pushedTwice.map((l) => l.slice(-2)), Array(30).fill(" 2"));
    const resident = await residentBytes(gateway.child.pid);
    console.log(`${accepted} pushes held, resident ${(resident / MiB).toFixed(0)} MiB`);
    assert.ok(resident < GiB, `resident ${resident} bytes`);
  },
});

Deno.test({
  name: "refused pushes of long labels under --maxSeries leave the push caches bounded in bytes",
  async fn() {
    await using gateway = await startGateway(["--maxSeries", "10"]);
    let most = 0;
    for (let round = 0; round < 60; round++) {
      const { status, text } = await push(gateway, "/metrics/job/wide", wideBody(round));
      assert.equal(status, 429, text);
      assert.match(text, /\(--maxSeries\)/);
      if (round % 10 === 9) {
        const cached = await selfMetric(gateway, "pag_push_cache_bytes");
        assert.ok(cached <= 8 * MiB, `${cached} bytes cached`);
        most = Math.max(most, await residentBytes(gateway.child.pid));
      }
    }
    console.log(`60 pushes of 7.6 MB refused; resident at most ${(most / MiB).toFixed(0)} MiB`);
    // The caches take 8 MiB at most (the default), counted two bytes a char; a body in flight is 8 MiB.
    assert.ok(most < 512 * MiB, `resident ${most} bytes`);
    assert.equal((await fetch(gateway.lifecycle + "/-/healthy")).status, 200);
    assert.equal(await selfMetric(gateway, 'pag_rejections_total{reason="series_limit"}'), 60);
  },
});

Deno.test("a push that would add families past --maxFamilies (default 10000) is refused whole", async () => {
  await using gateway = await startGateway();
  const families = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => `f${from + i}_total 1\n`).join("");
  const over = await push(gateway, "/metrics/job/names", families(0, 10_001));
  assert.equal(over.status, 429, over.text);
  assert.equal(
    over.text,
    "line 10001: the push would add at least 10001 families to the 0 the gateway holds, more than its limit of 10000 (--maxFamilies)\n",
  );
  assert.equal((await push(gateway, "/metrics/job/names", families(0, 10_000))).status, 202);
  const one = await push(gateway, "/metrics/job/names", "another_total 1\n");
  assert.equal(one.status, 429, one.text);
  assert.match(one.text, /would add at least 1 families to the 10000 the gateway holds/);
  assert.equal((await push(gateway, "/metrics/job/other", families(5, 3))).status, 202);
  assert.equal(await selfMetric(gateway, "pag_families"), 10_000);
  assert.equal(await selfMetric(gateway, 'pag_rejections_total{reason="family_limit"}'), 2);
});

/** A histogram `h` of one series with `bounds` (and +Inf), every count 0, as text. */
function histogramBody(bounds: number[]): string {
  let text = "# TYPE h histogram\n";
  for (const le of bounds) text += `h_bucket{le="${le}"} 0\n`;
  return text + 'h_bucket{le="+Inf"} 0\nh_sum 0\nh_count 0\n';
}

Deno.test("a histogram past --maxBucketsPerSeries (default 256) is refused early, in any format", async (t) => {
  await using gateway = await startGateway();
  const many = histogramBody(Array.from({ length: 100_000 }, (_, i) => i));
  await t.step("100k new bounds in a text push: a 400 before the rest is read", async () => {
    const refused = await push(gateway, "/metrics/job/h", many);
    assert.equal(refused.status, 400, refused.text);
    // The same push where the limit lets it in: parsed, built and merged whole.
    await using wide = await startGateway([
      "--maxBucketsPerSeries",
      "1000000",
      "--maxSamplesPerPush",
      "1000000",
    ]);
    const taken = await push(wide, "/metrics/job/h", many);
    assert.equal(taken.status, 202, taken.text);
    assert.equal(
      refused.text,
      'line 258: histogram h{job="h"} has more than 256 buckets, the limit (--maxBucketsPerSeries)\n',
    );
    console.log(
      `100k buckets: taken in ${taken.ms.toFixed(0)} ms, refused in ${refused.ms.toFixed(0)} ms`,
    );
    assert.ok(refused.ms < taken.ms / 4, `refused in ${refused.ms} ms, taken in ${taken.ms} ms`);
  });
  await t.step(
    "bounds that pass the limit merged with the stored ones: a 400, nothing merged",
    async () => {
      const low = histogramBody(Array.from({ length: 200 }, (_, i) => i));
      const high = histogramBody(Array.from({ length: 200 }, (_, i) => 1000 + i));
      assert.equal((await push(gateway, "/metrics/job/h", low)).status, 202);
      const merged = await push(gateway, "/metrics/job/h", high);
      assert.equal(merged.status, 400);
      assert.equal(
        merged.text,
        'histogram h{job="h"} merged with the gateway\'s would have 401 buckets, more than the limit of 256 (--maxBucketsPerSeries)\n',
      );
      assert.equal((await push(gateway, "/metrics/job/h", low)).status, 202, "the same bounds");
    },
  );
  await t.step("JSON deltas and protobuf", async () => {
    const buckets = Array.from({ length: 300 }, (_, i) => i);
    const delta = JSON.stringify({ type: "histogram", name: "d", method: "observe", buckets });
    const json = await push(gateway, "/api/v1/deltas", delta);
    assert.equal(json.status, 400, json.text);
    assert.match(json.text, /more than the limit of 256 \(--maxBucketsPerSeries\)/);
    const protobuf = await push(gateway, "/metrics/job/p", histogramMessage("p", buckets), {
      "Content-Type":
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
    });
    assert.equal(protobuf.status, 400, protobuf.text);
    assert.match(protobuf.text, /histogram p\{job="p"\} has more than 256 buckets/);
  });
  assert.equal(await selfMetric(gateway, 'pag_rejections_total{reason="bucket_limit"}'), 4);
  const scrape = await (await fetch(gateway.api + "/metrics")).text();
  assert.equal(scrape.split("\n").filter((l) => l.startsWith("h_bucket")).length, 201);
});

/** A delimited protobuf MetricFamily: histogram `name` of one series with `bounds` and +Inf. */
function histogramMessage(name: string, bounds: number[]): Uint8Array {
  const bytes: number[] = [];
  const varint = (out: number[], n: number) => {
    for (; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) | 128);
    out.push(n);
  };
  const field = (out: number[], number: number, body: number[]) => {
    varint(out, number * 8 + 2);
    varint(out, body.length);
    out.push(...body);
  };
  const double = (out: number[], number: number, value: number) => {
    varint(out, number * 8 + 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    out.push(...b);
  };
  const histogram: number[] = [];
  for (const bound of bounds) {
    const bucket: number[] = [];
    double(bucket, 2, bound);
    field(histogram, 3, bucket);
  }
  const metric: number[] = [];
  field(metric, 7, histogram);
  const family: number[] = [];
  field(family, 1, [...new TextEncoder().encode(name)]);
  family.push(3 * 8, 4); // type: HISTOGRAM
  field(family, 4, metric);
  varint(bytes, family.length);
  bytes.push(...family);
  return new Uint8Array(bytes);
}

Deno.test("path labels past --maxLabelsPerSeries are refused on a line without labels", async () => {
  await using gateway = await startGateway();
  let path = "/metrics/job/x";
  for (let i = 1; i < 5500; i++) path += `/l${i}/v`;
  const refused = await push(gateway, path, "x_total 1\n");
  assert.equal(refused.status, 400, refused.text);
  assert.equal(
    refused.text,
    "the path has 5500 labels, more than the limit of 64 (--maxLabelsPerSeries)\n",
  );
  assert.equal(await selfMetric(gateway, 'pag_rejections_total{reason="label_limit"}'), 1);
  assert.equal(await (await fetch(gateway.api + "/metrics")).text(), "");
});

Deno.test("with the store full, an 8 MiB push of new series is refused before it is read whole", async () => {
  const series = 524_000;
  // 16 bytes a line: 8,384,000 bytes, under the default --maxBodyBytes.
  const body = (name: string) => {
    const lines = new Array<string>(series);
    for (let i = 0; i < series; i++) lines[i] = `${name}{i="${String(i).padStart(6, "0")}"} 1\n`;
    return lines.join("");
  };
  // Pushes this large need --maxSamplesPerPush raised: the default refuses them at 100k.
  await using gateway = await startGateway([
    "--maxSeries",
    String(series),
    "--maxSamplesPerPush",
    "1000000",
  ]);
  const taken = await push(gateway, "/metrics", body("a"));
  assert.equal(taken.status, 202, taken.text);
  const refused = await push(gateway, "/metrics", body("b"));
  assert.equal(refused.status, 429);
  console.log(
    `8 MiB push: taken in ${taken.ms.toFixed(0)} ms, refused in ${refused.ms.toFixed(0)} ms`,
  );
  assert.ok(refused.ms < taken.ms / 4, `refused in ${refused.ms} ms, taken in ${taken.ms} ms`);
  assert.equal(
    refused.text,
    `line 1: the push would add at least 1 series to the ${series} the gateway holds, more than its limit of ${series} (--maxSeries)\n`,
  );
});
