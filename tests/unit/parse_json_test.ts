import assert from "node:assert/strict";
import { ParseError, PushError } from "../../lib/core/errors.ts";
import { DEFAULT_BUCKETS, parseDeltas } from "../../lib/ingest/parse_json.ts";
import { parseText } from "../../lib/ingest/parse_text.ts";
import { Store } from "../../lib/store/store.ts";

/** Applies each JSON body in turn to a fresh store (gauges under `sum`) and renders it. */
function aggregate(...bodies: unknown[]): string {
  const store = new Store({ gaugeBehavior: "sum" });
  for (const body of bodies) store.applyDeltas(parseDeltas(JSON.stringify(body)));
  return store.render();
}

Deno.test("parseDeltas() turns each method into its change", () => {
  assert.deepEqual(
    parseDeltas(JSON.stringify([
      { type: "counter", name: "c", method: "inc" },
      { type: "counter", name: "c", method: "inc", value: 0 }, // Go clients send 0 with inc
      { type: "counter", name: "c", method: "inc", value: 5 },
      { type: "gauge", name: "g", method: "dec", value: 3 },
      { type: "counter", name: "c", method: "add", value: 2.5 },
      { type: "gauge", name: "g", method: "dec", labels: { b: "2", a: "1" }, help: "G" },
      { type: "gauge", name: "g", method: "sub", value: 4 },
      { type: "gauge", name: "g", method: "set" },
    ])).map(({ name, key, op, value, help }) => [name, key, op, value, help]),
    [
      ["c", "", "add", 1, undefined],
      ["c", "", "add", 1, undefined],
      ["c", "", "add", 5, undefined],
      ["g", "", "add", -3, undefined],
      ["c", "", "add", 2.5, undefined],
      ["g", 'a="1",b="2"', "add", -1, "G"],
      ["g", "", "add", -4, undefined],
      ["g", "", "set", 0, undefined],
    ],
  );
});

Deno.test("counter inc and add sum up", () => {
  assert.equal(
    aggregate(
      { type: "counter", name: "hits", help: "Hits", method: "inc", labels: { page: "/" } },
      [{ type: "counter", name: "hits", method: "add", value: 4, labels: { page: "/" } }],
    ),
    '# HELP hits Hits\n# TYPE hits counter\nhits{page="/"} 5\n',
  );
});

Deno.test("gauge set replaces and inc, dec, add, sub change, whatever --gaugeBehavior says", () => {
  // The store sums gauges pushed as text; a delta's set still replaces.
  assert.equal(
    aggregate(
      { type: "gauge", name: "g", method: "set", value: 10 },
      { type: "gauge", name: "g", method: "set", value: 7 },
      { type: "gauge", name: "g", method: "inc" },
      { type: "gauge", name: "g", method: "dec" },
      { type: "gauge", name: "g", method: "dec" },
      { type: "gauge", name: "g", method: "add", value: 0.5 },
      { type: "gauge", name: "g", method: "sub", value: 2 },
      { type: "gauge", name: "new", method: "dec" },
    ),
    "# TYPE g gauge\ng 4.5\n# TYPE new gauge\nnew -1\n",
  );
});

Deno.test("histogram observe takes its buckets from the first delta", () => {
  assert.equal(
    aggregate(
      { type: "histogram", name: "h", method: "observe", value: 0.3, buckets: [0.1, 0.5, 1] },
      { type: "histogram", name: "h", method: "observe", value: 0.5, buckets: [5, 50] },
      { type: "histogram", name: "h", method: "observe", value: 7 },
    ),
    '# TYPE h histogram\nh_bucket{le="0.1"} 0\nh_bucket{le="0.5"} 2\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 3\nh_sum 7.8\nh_count 3\n',
  );
});

Deno.test("histogram observe without buckets gets Prometheus's default buckets", () => {
  const text = aggregate({ type: "histogram", name: "h", method: "observe", value: 0.2 });
  const bounds = [...text.matchAll(/le="([^"]+)"\} (\d+)/g)].map(([, le, n]) => [le, Number(n)]);
  assert.deepEqual(
    bounds,
    [...DEFAULT_BUCKETS, "+Inf"].map((
      b,
    ) => [String(b), b === "+Inf" || (b as number) >= 0.2 ? 1 : 0]),
  );
});

Deno.test("summary observe keeps _sum and _count", () => {
  assert.equal(
    aggregate(
      { type: "summary", name: "s", method: "observe", value: 2 },
      { type: "summary", name: "s", method: "observe", value: 3, labels: { a: "x" } },
      { type: "summary", name: "s", method: "observe", value: 5 },
    ),
    '# TYPE s summary\ns_sum 7\ns_count 2\ns_sum{a="x"} 3\ns_count{a="x"} 1\n',
  );
});

Deno.test("deltas and text pushes share the store and its type rules", () => {
  const store = new Store({ gaugeBehavior: "replace" });
  store.apply(
    parseText(
      '# TYPE jobs counter\njobs{q="a"} 5\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 0.5\nh_count 1\n',
    ),
  );
  store.applyDeltas(
    parseDeltas(
      '[{"type":"counter","name":"jobs","method":"inc","labels":{"q":"a"}},{"type":"histogram","name":"h","method":"observe","value":3,"buckets":[10]}]',
    ),
  );
  store.apply(parseText('jobs{q="a"} 1\n'));
  assert.equal(
    store.render(),
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\nh_count 2\n# TYPE jobs counter\njobs{q="a"} 7\n',
  );
  assert.throws(
    () => store.applyDeltas(parseDeltas('{"type":"gauge","name":"jobs","method":"set","value":1}')),
    {
      name: "PushError",
      message: 'metric "jobs" is a counter in the gateway, the push has it as gauge',
    },
  );
});

Deno.test("an array of deltas is applied all or nothing", () => {
  const store = new Store({ gaugeBehavior: "replace" });
  store.apply(parseText("# TYPE g gauge\ng 1\n"));
  const before = store.render();
  const body = JSON.stringify([
    { type: "counter", name: "fresh", method: "inc" },
    { type: "gauge", name: "g", method: "set", value: 9 },
    { type: "counter", name: "g", method: "inc" },
  ]);
  assert.throws(() => store.applyDeltas(parseDeltas(body)), {
    name: "PushError",
    message: 'delta 2: metric "g" is a gauge in an earlier delta',
  });
  const storeConflict = JSON.stringify([
    { type: "counter", name: "fresh", method: "inc" },
    { type: "summary", name: "g", method: "observe", value: 1 },
  ]);
  assert.throws(() => store.applyDeltas(parseDeltas(storeConflict)), {
    name: "PushError",
    message: 'metric "g" is a gauge in the gateway, the push has it as summary',
  });
  assert.equal(store.render(), before);
  assert.equal(store.seriesCount, 1);
});

Deno.test("parseDeltas() refuses bad deltas with a message naming the delta and metric", async (t) => {
  // [name, body, exact message]
  const cases: [string, string, string][] = [
    ["a JSON string", '"inc"', "a delta must be a JSON object"],
    ["a number in an array", "[1]", "delta 0: a delta must be a JSON object"],
    [
      "a missing type",
      '{"name":"x","method":"inc"}',
      "type is missing; it must be one of counter, gauge, histogram, summary",
    ],
    [
      "an unknown type",
      '{"type":"untyped","name":"x","method":"inc"}',
      'type is "untyped"; it must be one of counter, gauge, histogram, summary',
    ],
    [
      "a type named like an Object property",
      '{"type":"toString","name":"x","method":"inc"}',
      'type is "toString"; it must be one of counter, gauge, histogram, summary',
    ],
    [
      "a type named constructor",
      '{"type":"constructor","name":"x","method":"inc"}',
      'type is "constructor"; it must be one of counter, gauge, histogram, summary',
    ],
    ["a missing name", '{"type":"counter","method":"inc"}', "invalid metric name (missing)"],
    [
      "an invalid name",
      '{"type":"counter","name":"a-b","method":"inc"}',
      'invalid metric name "a-b"',
    ],
    [
      "a missing method",
      '{"type":"counter","name":"x"}',
      'counter "x": method is missing; a counter has inc, add',
    ],
    [
      "an unknown method",
      '{"type":"gauge","name":"x","method":"mul"}',
      'gauge "x": method is "mul"; a gauge has set, inc, dec, add, sub',
    ],
    [
      "a method the type lacks",
      '{"type":"counter","name":"x","method":"set","value":1}',
      'counter "x": method is "set"; a counter has inc, add',
    ],
    [
      "observe on a gauge",
      '{"type":"gauge","name":"x","method":"observe"}',
      'gauge "x": method is "observe"; a gauge has set, inc, dec, add, sub',
    ],
    [
      "a negative counter add",
      '{"type":"counter","name":"x","method":"add","value":-2}',
      'counter "x": add of negative value -2; a counter never decreases',
    ],
    [
      "a negative counter inc",
      '{"type":"counter","name":"x","method":"inc","value":-5}',
      'counter "x": inc of negative value -5; a counter never decreases',
    ],
    [
      "a value too large for a float",
      '{"type":"summary","name":"x","method":"observe","value":1e999}',
      'summary "x": value is not a finite number',
    ],
    [
      "a string value",
      '{"type":"gauge","name":"x","method":"set","value":"5"}',
      'gauge "x": value must be a number, not "5"',
    ],
    [
      "a non-string help",
      '{"type":"gauge","name":"x","method":"set","help":5}',
      'gauge "x": help must be a string of Unicode text',
    ],
    [
      "labels as an array",
      '{"type":"gauge","name":"x","method":"set","labels":["a"]}',
      'gauge "x": labels must be an object of label names to string values',
    ],
    [
      "a numeric label value",
      '{"type":"gauge","name":"x","method":"set","labels":{"a":1}}',
      'gauge "x": label "a" must have a string value, not 1',
    ],
    [
      "an invalid label name",
      '{"type":"gauge","name":"x","method":"set","labels":{"a-b":"1"}}',
      'gauge "x": invalid label name "a-b"',
    ],
    [
      "a reserved label name",
      '{"type":"gauge","name":"x","method":"set","labels":{"__name__":"y"}}',
      'gauge "x": label name "__name__" is reserved: names starting with "__" are for Prometheus',
    ],
    [
      "a lone surrogate in help",
      '{"type":"gauge","name":"x","method":"set","help":"\\ud800"}',
      'gauge "x": help must be a string of Unicode text',
    ],
    [
      "a lone surrogate in a label",
      '{"type":"counter","name":"c","method":"inc","labels":{"a":"\\udfff"}}',
      'counter "c": label "a" has a value that is not Unicode text',
    ],
    [
      "le on a histogram",
      '{"type":"histogram","name":"h","method":"observe","labels":{"le":"1"}}',
      'histogram "h": label "le" is reserved for histogram buckets',
    ],
    [
      "quantile on a summary",
      '{"type":"summary","name":"s","method":"observe","labels":{"quantile":"1"}}',
      'summary "s": label "quantile" is reserved for summary quantiles',
    ],
    [
      "buckets not increasing",
      '{"type":"histogram","name":"h","method":"observe","buckets":[1,1]}',
      'histogram "h": buckets must increase, but 1 follows 1',
    ],
    [
      "buckets decreasing",
      '{"type":"histogram","name":"h","method":"observe","buckets":[2,1]}',
      'histogram "h": buckets must increase, but 1 follows 2',
    ],
    [
      "buckets with a string",
      '{"type":"histogram","name":"h","method":"observe","buckets":[1,"2"]}',
      'histogram "h": buckets must be an array of finite numbers',
    ],
    [
      "two families writing one sample name",
      '[{"type":"histogram","name":"h","method":"observe"},{"type":"gauge","name":"h_count","method":"set"}]',
      'metric "h_count" (gauge) and metric "h" both write samples named "h_count"',
    ],
    [
      "the index of the bad delta",
      '[{"type":"counter","name":"ok","method":"inc"},{"type":"counter","name":"x","method":"add","value":-1}]',
      'delta 1: counter "x": add of negative value -1; a counter never decreases',
    ],
  ];
  for (const [name, body, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseDeltas(body), (error) => {
        assert.ok(error instanceof PushError);
        assert.equal(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("parseDeltas() refuses invalid JSON as a parse error", () => {
  assert.throws(() => parseDeltas('{"type":'), (error) => {
    assert.ok(error instanceof ParseError);
    assert.match(error.message, /^invalid JSON: /);
    return true;
  });
});

Deno.test("histogram bounds of a delta are written as the text format's, as expfmt writes them", () => {
  assert.equal(
    aggregate({
      type: "histogram",
      name: "h",
      method: "observe",
      value: 2,
      buckets: [1e-5, 1e6, 123456789],
    }),
    `# TYPE h histogram
h_bucket{le="1e-05"} 0
h_bucket{le="1e+06"} 1
h_bucket{le="1.23456789e+08"} 1
h_bucket{le="+Inf"} 1
h_sum 2
h_count 1
`,
  );
});

Deno.test("parseDeltas() refuses a metric name longer than --maxLabelValueLength bytes", () => {
  const limits = { maxLabels: 8, maxValueLength: 5 };
  assert.throws(
    () => parseDeltas('{"type":"counter","name":"abcdef","method":"inc"}', limits),
    {
      name: "PushError",
      message:
        'metric name "abcdef" is 6 bytes long, more than the limit of 5 (--maxLabelValueLength)',
    },
  );
  assert.equal(parseDeltas('{"type":"counter","name":"abcde","method":"inc"}', limits).length, 1);
});
