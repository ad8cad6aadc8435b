import assert from "node:assert/strict";
import {
  formatBound,
  formatValue,
  isInt64,
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
    // Go answers an error beyond the float64 range, and for a signed NaN.
    ["1e309", undefined],
    ["-1e400", undefined],
    ["9".repeat(400), undefined],
    ["1.7976931348623159e308", undefined],
    ["1.7976931348623157e308", 1.7976931348623157e308],
    ["1e-400", 0],
    ["-nan", undefined],
    ["+NaN", undefined],
    ["+Infinity", Infinity],
    ["-INF", -Infinity],
    // Go reads these, but expfmt refuses p, P and _ before it asks Go.
    ["0x1p3", undefined],
    ["0X1P-2", undefined],
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

Deno.test("formatBound() writes as Go's FormatFloat(v, 'g', -1, 64) and expfmt", () => {
  // [value, Go's text]
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "0"],
    [1, "1"],
    [-1, "-1"],
    [0.25, "0.25"],
    [1e-4, "0.0001"],
    [9.99e-5, "9.99e-05"],
    [1e-5, "1e-05"],
    [999999, "999999"],
    [999999.5, "999999.5"],
    [1e6, "1e+06"],
    [1234567, "1.234567e+06"],
    [123456789, "1.23456789e+08"],
    [1e21, "1e+21"],
    [1e100, "1e+100"],
    [-2.5e-7, "-2.5e-07"],
    [5e-324, "5e-324"],
    [Number.MAX_VALUE, "1.7976931348623157e+308"],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
    [NaN, "NaN"],
  ];
  for (const [value, text] of cases) {
    assert.equal(formatBound(value), text, `formatBound(${value})`);
  }
});

Deno.test("isInt64() reads what Go's ParseInt(s, 10, 64) reads", () => {
  const cases: [string, boolean][] = [
    ["0", true],
    ["+5", true],
    ["-5", true],
    ["007", true],
    ["9223372036854775807", true],
    ["-9223372036854775808", true],
    ["00009223372036854775807", true],
    ["9223372036854775808", false],
    ["-9223372036854775809", false],
    ["10000000000000000000", false],
    ["", false],
    ["+", false],
    ["-", false],
    ["+-1", false],
    ["1.5", false],
    ["1e3", false],
    ["0x10", false],
    ["1_000", false],
    [" 1", false],
  ];
  for (const [text, expected] of cases) assert.equal(isInt64(text), expected, `isInt64("${text}")`);
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
