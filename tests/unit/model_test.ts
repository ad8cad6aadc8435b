import assert from "node:assert/strict";
import {
  formatValue,
  isLabelName,
  isMetricName,
  labelKey,
  parseFloatStrict,
} from "../../lib/core/model.ts";

Deno.test("parseFloatStrict() reads what Go's ParseFloat reads and nothing else", () => {
  // [input, expected]; undefined means rejected
  const cases: [string, number | undefined][] = [
    ["0", 0],
    ["-1.5", -1.5],
    ["+2", 2],
    [".5", 0.5],
    ["5.", 5],
    ["1e3", 1000],
    ["1E-3", 0.001],
    ["-2.5e+2", -250],
    ["NaN", NaN],
    ["nan", NaN],
    ["+Inf", Infinity],
    ["-Inf", -Infinity],
    ["Inf", Infinity],
    ["infinity", Infinity],
    ["", undefined],
    ["+", undefined],
    [".", undefined],
    ["e5", undefined],
    ["1e", undefined],
    ["1e+", undefined],
    [" 1", undefined],
    ["1 ", undefined],
    ["0x10", undefined],
    ["1_000", undefined],
    ["Infinit", undefined],
    ["--1", undefined],
  ];
  for (const [input, expected] of cases) {
    assert.deepEqual(
      parseFloatStrict(input),
      expected,
      `parseFloatStrict(${JSON.stringify(input)})`,
    );
  }
});

Deno.test("formatValue() writes special values as Prometheus does", () => {
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(0.1), "0.1");
  assert.equal(formatValue(1e21), "1e+21");
  assert.equal(parseFloatStrict(formatValue(1e21)), 1e21);
  assert.equal(parseFloatStrict(formatValue(123.456e-30)), 123.456e-30);
});

Deno.test("isMetricName() and isLabelName() follow the data model", () => {
  assert.ok(isMetricName("a:b_c9"));
  assert.ok(isMetricName(":a"));
  assert.ok(!isMetricName("9a"));
  assert.ok(!isMetricName(""));
  assert.ok(!isMetricName("a-b"));
  assert.ok(isLabelName("_a9"));
  assert.ok(!isLabelName("a:b"));
  assert.ok(!isLabelName("é"));
});

Deno.test("labelKey() escapes values and drops empty ones", () => {
  const key = labelKey([["a", 'q"\\\nz'], ["b", ""], ["c", 'x,y="z"']]);
  assert.equal(key, 'a="q\\"\\\\\\nz",c="x,y=\\"z\\""');
  assert.equal(labelKey([]), "");
});
