// The remote-write encoder: WriteRequest bytes against the schema, classic series, sorted
// labels, stale markers for series that left, and bounded batches.

import assert from "node:assert/strict";
import {
  batchSeries,
  encodeSeries,
  labelsOfKey,
  RemoteWriteEncoder,
  type WritableFamily,
} from "../../lib/expose/remote_write.ts";
import { labelKey } from "../../lib/core/model.ts";
import { snappyCompress } from "../../lib/expose/snappy.ts";
import { decodeSnappyWriteRequest, decodeWriteRequest } from "../helpers/write_request.ts";

const T = 1_764_320_000_123; // a timestamp past 2^32 ms, as every real one is

function samplesOf(encoder: RemoteWriteEncoder, families: WritableFamily[], t = T) {
  const [batch] = batchSeries(encoder.encode(families, t), 1e9, 1e9);
  return batch === undefined ? [] : decodeWriteRequest(batch.body);
}

Deno.test("labelsOfKey() reads back the labels labelKey() writes, escapes included", () => {
  const labels: [string, string][] = [["a", 'x"y'], ["b", "c\\d\ne"], ["c", "grüße ✓"]];
  assert.deepEqual(labelsOfKey(labelKey(labels)), labels);
  assert.deepEqual(labelsOfKey(""), []);
});

Deno.test("encodeSeries() writes a TimeSeries entry that decodes to its labels and sample", () => {
  const { bytes } = encodeSeries([["__name__", "up"], ["job", "x"]], -1.5, T);
  assert.deepEqual(decodeWriteRequest(bytes), [{
    labels: { __name__: "up", job: "x" },
    order: ["__name__", "job"],
    value: -1.5,
    timestamp: T,
    stale: false,
  }]);
  // The stale marker is Prometheus' StaleNaN, bit for bit, not any NaN.
  const [stale] = decodeWriteRequest(encodeSeries([["__name__", "up"]], "stale", T).bytes);
  assert.equal(stale.stale, true);
  assert.ok(Number.isNaN(stale.value));
  const [nan] = decodeWriteRequest(encodeSeries([["__name__", "up"]], NaN, T).bytes);
  assert.equal(nan.stale, false, "a pushed NaN is no stale marker");
});

Deno.test("encodeSeries() writes UTF-8 as TextEncoder does, lone surrogates as U+FFFD", () => {
  for (const value of ["grüße ✓", "emoji 😀 ok", "lone \ud800 x", "end \udc00", "ascii"]) {
    const [sample] = decodeWriteRequest(encodeSeries([["v", value]], 1, T).bytes);
    assert.equal(sample.labels.v, new TextDecoder().decode(new TextEncoder().encode(value)));
  }
});

Deno.test("RemoteWriteEncoder.encode() writes classic series with sorted and external labels", () => {
  const encoder = new RemoteWriteEncoder([["Zone", "z"], ["job", "external"], ["replica", "r1"]]);
  const samples = samplesOf(encoder, [
    {
      name: "lat_seconds",
      type: "histogram",
      keys: [labelKey([["job", "a"]])],
      values: [{ bounds: [0.5, Infinity], counts: [1, 3], count: 3, sum: 2.5 }],
    },
    { name: "rpc", type: "summary", keys: [""], values: [{ count: 2, sum: 4 }] },
    { name: "reqs_total", type: "counter", keys: [labelKey([["code", "200"]])], values: [7] },
  ]);
  const shown = samples.map((s) => [s.order.map((n) => `${n}=${s.labels[n]}`).join(","), s.value]);
  assert.deepEqual(shown, [
    ["Zone=z,__name__=lat_seconds_bucket,job=a,le=0.5,replica=r1", 1],
    ["Zone=z,__name__=lat_seconds_bucket,job=a,le=+Inf,replica=r1", 3],
    ["Zone=z,__name__=lat_seconds_sum,job=a,replica=r1", 2.5],
    ["Zone=z,__name__=lat_seconds_count,job=a,replica=r1", 3],
    ["Zone=z,__name__=rpc_sum,job=external,replica=r1", 4],
    ["Zone=z,__name__=rpc_count,job=external,replica=r1", 2],
    ["Zone=z,__name__=reqs_total,code=200,job=external,replica=r1", 7],
  ]);
  assert.ok(samples.every((s) => s.timestamp === T && !s.stale));
});

Deno.test("RemoteWriteEncoder.encode() sends a stale marker once for each series that left", () => {
  const encoder = new RemoteWriteEncoder([]);
  const gauge = (keys: string[]): WritableFamily => ({
    name: "g",
    type: "gauge",
    keys,
    values: keys.map(() => 1),
  });
  const h = (bounds: number[]): WritableFamily => ({
    name: "h",
    type: "histogram",
    keys: [""],
    values: [{ bounds, counts: bounds.map(() => 0), count: 0, sum: 0 }],
  });
  samplesOf(encoder, [gauge(['a="1"', 'a="2"']), h([1, Infinity])]);
  const second = samplesOf(encoder, [gauge(['a="2"']), h([2, Infinity])], T + 1);
  const stale = second.filter((s) => s.stale).map((s) => s.labels);
  assert.deepEqual(stale, [
    { __name__: "g", a: "1" },
    { __name__: "h_bucket", le: "1" },
  ]);
  // Only once: the third interval sends no marker for what the second already ended.
  const third = samplesOf(encoder, [], T + 2);
  assert.deepEqual(third.filter((s) => s.stale).map((s) => s.labels.__name__), [
    "g",
    "h_bucket",
    "h_bucket",
    "h_sum",
    "h_count",
  ]);
  assert.deepEqual(samplesOf(encoder, [], T + 3), []);
});

Deno.test("batchSeries() cuts at the sample and byte bounds, a larger series alone", () => {
  const series = Array.from({ length: 5 }, (_, i) => encodeSeries([["__name__", `m${i}`]], i, T));
  const size = series[0].bytes.length;
  assert.deepEqual([...batchSeries(series, 2, 1e9)].map((b) => b.samples), [2, 2, 1]);
  assert.deepEqual([...batchSeries(series, 100, size * 3)].map((b) => b.samples), [3, 2]);
  assert.deepEqual([...batchSeries(series, 100, 1)].map((b) => b.samples), [1, 1, 1, 1, 1]);
  const all = [...batchSeries(series, 2, 1e9)].flatMap((b) => decodeWriteRequest(b.body));
  assert.deepEqual(all.map((s) => s.value), [0, 1, 2, 3, 4]);
});

Deno.test("snappyCompress() gives a block that the receiver's snappy reads back", () => {
  const { bytes } = encodeSeries([["__name__", "x".repeat(1000)]], 1, T);
  const compressed = snappyCompress(bytes);
  assert.ok(compressed.length < bytes.length / 5);
  assert.equal(decodeSnappyWriteRequest(compressed)[0].labels.__name__, "x".repeat(1000));
});
