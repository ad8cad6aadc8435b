import assert from "node:assert/strict";
import { mergeGauge, mergeHistogram, mergeValue } from "../../lib/core/merge.ts";
import type { HistogramValue } from "../../lib/core/model.ts";

/** A histogram from `{bound: cumulative count}` pairs; count is the +Inf count. */
function histogram(buckets: [number, number][], sum = 0): HistogramValue {
  return {
    bounds: buckets.map(([b]) => b),
    counts: buckets.map(([, c]) => c),
    count: buckets.at(-1)![1],
    sum,
  };
}

Deno.test("mergeHistogram() adds bucket by bucket when the bounds agree", () => {
  const stored = histogram([[1, 2], [Infinity, 3]], 1.5);
  const pushed = histogram([[1, 1], [Infinity, 4]], 2);
  assert.deepEqual(mergeHistogram(stored, pushed), histogram([[1, 3], [Infinity, 7]], 3.5));
  assert.deepEqual(pushed, histogram([[1, 1], [Infinity, 4]], 2), "the pushed value is untouched");
});

Deno.test("mergeHistogram() takes the union of differing bounds", async (t) => {
  // [name, stored, pushed, expected]; each bucket list is [bound, cumulative count]
  const cases: [string, [number, number][], [number, number][], [number, number][]][] = [
    [
      "the example of DESIGN.md",
      [[1, 5], [Infinity, 5]],
      [[0.5, 0], [2, 3], [Infinity, 3]],
      [[0.5, 0], [1, 5], [2, 8], [Infinity, 8]],
    ],
    [
      "disjoint bounds",
      [[1, 1], [3, 2], [Infinity, 2]],
      [[2, 4], [4, 6], [Infinity, 7]],
      [[1, 1], [2, 5], [3, 6], [4, 8], [Infinity, 9]],
    ],
    ["only +Inf on one side", [[Infinity, 4]], [[1, 1], [Infinity, 2]], [[1, 1], [Infinity, 6]]],
    [
      "negative bounds",
      [[-1, 1], [Infinity, 2]],
      [[0, 3], [Infinity, 3]],
      [[-1, 1], [0, 4], [Infinity, 5]],
    ],
  ];
  for (const [name, a, b, expected] of cases) {
    await t.step(name, () => {
      const merged = mergeHistogram(histogram(a), histogram(b));
      assert.deepEqual(merged, histogram(expected));
      for (let i = 1; i < merged.counts.length; i++) {
        assert.ok(merged.counts[i] >= merged.counts[i - 1], "the result stays cumulative");
      }
    });
  }
});

Deno.test("mergeGauge() follows each --gaugeBehavior", () => {
  assert.equal(mergeGauge(5, 3, "replace"), 3);
  assert.equal(mergeGauge(5, 3, "sum"), 8);
  assert.equal(mergeGauge(5, 3, "max"), 5);
  assert.equal(mergeGauge(5, 7, "max"), 7);
  assert.equal(mergeGauge(5, 3, "min"), 3);
  assert.equal(mergeGauge(5, 7, "min"), 5);
  assert.equal(mergeGauge(5, NaN, "max"), 5, "a NaN push does not win under max");
  assert.equal(mergeGauge(NaN, 2, "min"), 2, "a stored NaN is replaced under min");
});

Deno.test("mergeValue() sums counters, untyped and summaries", () => {
  assert.equal(mergeValue("counter", 2, 3, "replace"), 5);
  assert.equal(mergeValue("untyped", 2, -3, "replace"), -1);
  assert.equal(mergeValue("gauge", 2, 3, "replace"), 3);
  assert.deepEqual(
    mergeValue("summary", { count: 2, sum: 1 }, { count: 3, sum: 4 }, "replace"),
    { count: 5, sum: 5 },
  );
});
