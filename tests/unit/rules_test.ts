import assert from "node:assert/strict";
import { PushError } from "../../lib/core/errors.ts";
import {
  cumulativeStep,
  DEFAULT_STALE_AFTER,
  dropLabels,
  FAMILY_CACHE_NAME_CHARS,
  gaugeOver,
  parseRuleDuration,
  Rules,
  type RuleSpec,
} from "../../lib/core/rules.ts";
import { parseDeltas } from "../../lib/ingest/parse_json.ts";
import { parseText } from "../../lib/ingest/parse_text.ts";
import { decodeSnapshot, encodeSnapshot } from "../../lib/store/snapshot.ts";
import { Store } from "../../lib/store/store.ts";

function rule(spec: Partial<RuleSpec>): RuleSpec {
  return {
    line: 1,
    labels: [],
    action: "keep",
    input: "delta",
    sources: [],
    staleAfter: DEFAULT_STALE_AFTER,
    ...spec,
  };
}

function cumulative(spec: Partial<RuleSpec> = {}): RuleSpec {
  return rule({ input: "cumulative", sources: ["instance"], ...spec });
}

function storeWith(specs: RuleSpec[], options: { reject?: boolean; now?: () => number } = {}) {
  const store = new Store({ gaugeBehavior: "replace", now: options.now, maxSeries: 100 });
  store.rules = new Rules({ rules: specs, default: options.reject ? "reject" : "accept" });
  return store;
}

Deno.test("Rules.decide() takes the first rule whose metric and labels match", () => {
  const rules = new Rules({
    rules: [
      rule({ line: 1, metric: "http_.*_total", labels: [["job", "web"]] }),
      rule({ line: 2, metric: "http_.*" }),
      rule({ line: 3, labels: [["path", 'a"b']] }),
      rule({ line: 4, labels: [["zone", ""]] }),
    ],
    default: "accept",
  });
  const line = (name: string, key: string) => rules.decide(name, key)?.line;
  assert.equal(line("http_requests_total", 'job="web"'), 1);
  assert.equal(line("http_requests_total", 'a="1",job="web",z="2"'), 1);
  assert.equal(line("http_requests_total", 'job="webx"'), 2);
  assert.equal(line("xhttp_requests_total", 'job="web",zone="1"'), undefined); // anchored
  assert.equal(line("other", 'path="a\\"b",zone="1"'), 3);
  assert.equal(line("other", 'path="a"'), 4); // zone absent
  assert.equal(line("other", 'zone="eu"'), undefined);
});

Deno.test("dropLabels() removes the named labels from a canonical key", () => {
  assert.deepEqual(dropLabels('instance="a",job="x"', ["instance"]), {
    key: 'job="x"',
    found: true,
  });
  assert.deepEqual(dropLabels('a="q\\",b=\\"",instance="i",pod="p"', ["instance", "pod"]), {
    key: 'a="q\\",b=\\""',
    found: true,
  });
  assert.deepEqual(dropLabels('job="x"', ["instance"]), { key: 'job="x"', found: false });
  assert.deepEqual(dropLabels("", ["instance"]), { key: "", found: false });
});

Deno.test("cumulativeStep() gives new - last, the whole value on a first push or a reset", () => {
  assert.deepEqual(cumulativeStep("counter", undefined, 5), { delta: 5, reset: false });
  assert.deepEqual(cumulativeStep("counter", 5, 8), { delta: 3, reset: false });
  assert.deepEqual(cumulativeStep("counter", 8, 2), { delta: 2, reset: true });
  assert.deepEqual(cumulativeStep("summary", { count: 2, sum: 3 }, { count: 5, sum: 1 }), {
    delta: { count: 3, sum: -2 },
    reset: false,
  });
  const h = (counts: number[], sum: number) => ({
    bounds: [1, Infinity],
    counts,
    count: counts[1],
    sum,
  });
  assert.deepEqual(cumulativeStep("histogram", h([1, 2], 3), h([2, 5], 9)), {
    delta: h([1, 3], 6),
    reset: false,
  });
  // A bucket below the last one, even with a higher _count, is a reset.
  assert.deepEqual(cumulativeStep("histogram", h([3, 4], 3), h([2, 5], 9)), {
    delta: h([2, 5], 9),
    reset: true,
  });
});

Deno.test("gaugeOver() combines the sources' values by the gauge rule", () => {
  assert.equal(gaugeOver([1, 5, 3], "sum"), 9);
  assert.equal(gaugeOver([1, 5, 3], "max"), 5);
  assert.equal(gaugeOver([1, 5, 3], "min"), 1);
  assert.equal(gaugeOver([1, 5, 3], "replace"), 3);
  assert.equal(gaugeOver([], "sum"), undefined);
});

Deno.test("parseRuleDuration() reads durations and refuses anything else", () => {
  assert.equal(parseRuleDuration("15m"), 900_000);
  assert.equal(parseRuleDuration("1h30m"), 5_400_000);
  assert.equal(parseRuleDuration("2d"), 172_800_000);
  assert.equal(parseRuleDuration("500ms"), 500);
  assert.equal(parseRuleDuration("15"), undefined);
  assert.equal(parseRuleDuration("15 m"), undefined);
  assert.equal(parseRuleDuration(""), undefined);
});

Deno.test("Store.apply() with a cumulative rule adds each source's difference", () => {
  const store = storeWith([cumulative({ metric: "jobs_total" })]);
  const push = (instance: string, value: number) =>
    store.apply(
      parseText(`# TYPE jobs_total counter\njobs_total{instance="${instance}",job="w"} ${value}\n`),
    );
  push("a", 5);
  push("b", 2);
  push("a", 7);
  push("a", 7);
  push("b", 1); // b restarted: its 1 counts whole
  assert.equal(store.render(), '# TYPE jobs_total counter\njobs_total{job="w"} 10\n');
  assert.equal(store.sourceCount, 2);
  assert.equal(store.resetCount, 1);
  assert.equal(store.seriesCount, 1);
});

Deno.test("Store.apply() with cumulative histograms and summaries adds every bucket's difference", () => {
  const store = storeWith([cumulative()]);
  const push = (instance: string, b1: number, inf: number, sum: number) =>
    store.apply(parseText(
      `# TYPE h histogram\nh_bucket{instance="${instance}",le="1"} ${b1}\n` +
        `h_bucket{instance="${instance}",le="+Inf"} ${inf}\nh_sum{instance="${instance}"} ${sum}\n` +
        `h_count{instance="${instance}"} ${inf}\n# TYPE s summary\ns_sum{instance="${instance}"} ${sum}\n` +
        `s_count{instance="${instance}"} ${inf}\n`,
    ));
  push("a", 1, 2, 3);
  push("a", 2, 4, 5);
  push("b", 1, 1, 1);
  push("a", 0, 1, 0.5); // reset
  assert.equal(
    store.render(),
    "# TYPE h histogram\n" +
      'h_bucket{le="1"} 3\nh_bucket{le="+Inf"} 6\nh_sum 6.5\nh_count 6\n' +
      "# TYPE s summary\ns_sum 6.5\ns_count 6\n",
  );
  assert.equal(store.resetCount, 2);
});

Deno.test("Store.apply() sets a cumulative gauge to the gauge rule over live sources", () => {
  let now = 0;
  const store = storeWith(
    [cumulative({ metric: "queue", gauge: "sum", staleAfter: 60_000 })],
    { now: () => now },
  );
  const push = (instance: string, value: number) =>
    store.apply(parseText(`# TYPE queue gauge\nqueue{instance="${instance}"} ${value}\n`));
  push("a", 5);
  now = 30_000;
  push("b", 3);
  push("a", 4);
  assert.equal(store.render(), "# TYPE queue gauge\nqueue 7\n");
  now = 80_000; // b stale only at 90s; a pushed at 30s too
  assert.equal(store.render(), "# TYPE queue gauge\nqueue 7\n");
  now = 90_000;
  assert.equal(store.render(), "");
  assert.equal(store.staleSourceCount, 2);
  assert.equal(store.sourceCount, 0);
});

Deno.test("Store.apply() forgets a stale counter source but keeps the aggregate", () => {
  let now = 0;
  const store = storeWith([cumulative({ staleAfter: 10_000 })], { now: () => now });
  const push = (value: number) =>
    store.apply(parseText(`# TYPE c counter\nc{instance="a"} ${value}\n`));
  push(5);
  now = 10_000;
  push(7); // the source was stale: 7 counts whole
  assert.equal(store.render(), "# TYPE c counter\nc 12\n");
  assert.equal(store.staleSourceCount, 1);
});

Deno.test("Store.apply() with rules drops, refuses and applies gauge rules per rule", () => {
  const store = storeWith([
    rule({ metric: "debug_.*", action: "drop" }),
    rule({ metric: "g", labels: [["kind", "max"]], gauge: "max" }),
    rule({ metric: "g|c" }),
  ], { reject: true });
  store.apply(parseText('# TYPE g gauge\ng{kind="max"} 5\ng{kind="other"} 5\ndebug_x 1\n'));
  store.apply(parseText('# TYPE g gauge\ng{kind="max"} 3\ng{kind="other"} 3\n'));
  assert.equal(store.render(), '# TYPE g gauge\ng{kind="max"} 5\ng{kind="other"} 3\n');
  const before = store.render();
  assert.throws(
    () => store.apply(parseText("# TYPE c counter\nc 1\n# TYPE x counter\nx 1\n")),
    new PushError(
      'metric "x" matches no rule of the rules file, whose default is reject',
      "rule_rejected",
    ),
  );
  assert.equal(store.render(), before); // all or nothing
  assert.throws(
    () => store.applyDeltas(parseDeltas('{"type":"counter","name":"y","method":"inc"}')),
    new PushError(
      'metric "y" matches no rule of the rules file, whose default is reject',
      "rule_rejected",
    ),
  );
  store.applyDeltas(parseDeltas('{"type":"counter","name":"debug_y","method":"inc"}'));
  assert.equal(store.render(), before);
});

Deno.test("Store.apply() refuses a cumulative series without its source labels", () => {
  const store = storeWith([cumulative({ line: 7, sources: ["instance", "pod"] })]);
  assert.throws(
    () => store.apply(parseText('c{job="x"} 1\n')),
    new PushError(
      'series c{job="x"} has none of the source labels (instance, pod) that its rule (line 7 of the rules file) needs to tell senders apart',
    ),
  );
  assert.equal(store.sourceCount, 0);
});

Deno.test("Store.apply() counts sources against --maxSeries and refuses the push whole", () => {
  const store = new Store({ gaugeBehavior: "replace", maxSeries: 4 });
  store.rules = new Rules({ rules: [cumulative()], default: "accept" });
  store.apply(parseText('c{instance="a"} 1\nd{instance="a"} 1\n')); // 2 aggregates + 2 sources
  assert.throws(
    () => store.apply(parseText('c{instance="b"} 1\n')),
    new PushError(
      "the push would add 1 series to the 4 the gateway holds, more than its limit of 4 (--maxSeries)",
      "series_limit",
    ),
  );
  assert.equal(store.sourceCount, 2);
});

Deno.test("Store.delete() removes the sources it matches and their gauge", () => {
  const store = storeWith([cumulative({ gauge: "sum" })]);
  store.apply(
    parseText('# TYPE g gauge\ng{instance="a"} 2\n# TYPE c counter\nc{instance="a"} 4\n'),
  );
  store.apply(parseText('# TYPE g gauge\ng{instance="b"} 3\n'));
  assert.equal(store.render(), "# TYPE c counter\nc 4\n# TYPE g gauge\ng 5\n");
  store.delete([["instance", "a"]]);
  assert.equal(store.render(), "# TYPE c counter\nc 4\n# TYPE g gauge\ng 3\n");
  assert.equal(store.sourceCount, 1);
  // A counter source that comes back counts whole again.
  store.apply(parseText('# TYPE c counter\nc{instance="a"} 5\n'));
  assert.equal(store.render(), "# TYPE c counter\nc 9\n# TYPE g gauge\ng 3\n");
});

Deno.test("encodeSnapshot() keeps the sources, so a restored store adds only the difference", async () => {
  const specs = [cumulative({ gauge: "sum", staleAfter: 120_000 })];
  const store = storeWith(specs);
  store.apply(
    parseText('# TYPE c counter\nc{instance="a",job="j"} 4\n# TYPE g gauge\ng{instance="a"} 2\n'),
  );
  store.apply(parseText('# TYPE g gauge\ng{instance="b"} 3\n'));
  const text = encodeSnapshot(store);
  const restored = storeWith(specs);
  assert.equal(await decodeSnapshot(text, restored), 5);
  assert.equal(restored.sourceCount, 3);
  restored.apply(parseText('# TYPE c counter\nc{instance="a",job="j"} 6\n'));
  restored.apply(parseText('# TYPE g gauge\ng{instance="b"} 1\n'));
  assert.equal(restored.render(), '# TYPE c counter\nc{job="j"} 6\n# TYPE g gauge\ng 3\n');
});

Deno.test("Store.apply() decides each series of one family by its own rule", () => {
  const store = storeWith([
    cumulative({ labels: [["job", "worker"]] }),
    rule({ labels: [["job", "noise"]], action: "drop" }),
  ]);
  const body = (total: number) =>
    parseText(
      `# TYPE c counter\nc{instance="a",job="worker"} ${total}\nc{instance="b",job="worker"} 1\n` +
        `c{job="batch"} 2\nc{job="noise"} 9\n`,
    );
  store.apply(body(5));
  store.apply(body(8));
  assert.equal(store.render(), '# TYPE c counter\nc{job="batch"} 4\nc{job="worker"} 9\n');
});

Deno.test("Store.apply() keeps no rule decision past a reload, also for a template's keys", () => {
  const store = storeWith([cumulative()]);
  // A template read gives the same frozen keys array push after push.
  const keys = Object.freeze(['instance="a"']);
  const push = (value: number) => {
    const [family] = parseText(`# TYPE c counter\nc{instance="a"} ${value}\n`);
    store.apply([{ ...family, keys }]);
  };
  push(5);
  push(7); // +2
  store.rules = new Rules({ rules: [], default: "accept" }); // now increments
  push(7); // +7
  store.rules = new Rules({ rules: [rule({ action: "drop" })], default: "accept" });
  push(100);
  assert.equal(store.render(), '# TYPE c counter\nc 7\nc{instance="a"} 7\n');
});

Deno.test("Store.apply() sets a cumulative gauge fed by two sources of one push", () => {
  const store = storeWith([cumulative({ gauge: "sum" })]);
  const push = (body: string) => store.apply(parseText(`# TYPE q gauge\n${body}`));
  push('q{instance="a"} 5\n');
  push('q{instance="b"} 1\nq{instance="c"} 2\n');
  push('q{instance="b"} 3\nq{instance="c"} 4\n');
  assert.equal(store.render(), "# TYPE q gauge\nq 12\n");
});

Deno.test("a snapshot keeps 20k sources of one group, read back in small pieces", async () => {
  const specs = [cumulative({ staleAfter: 3_600_000 })];
  const store = storeWith(specs);
  store.rules = new Rules({ rules: specs, default: "accept" });
  const big = new Store({ gaugeBehavior: "replace" });
  big.rules = store.rules;
  let text = "# TYPE c counter\n";
  for (let i = 0; i < 20_000; i++) text += `c{instance="i${i}"} ${i}\n`;
  big.apply(parseText(text));
  const snapshot = encodeSnapshot(big);
  const restored = new Store({ gaugeBehavior: "replace" });
  restored.rules = store.rules;
  assert.equal(await decodeSnapshot(snapshot, restored, { pieceLines: 1000 }), 20_001);
  assert.equal(restored.sourceCount, 20_000);
  restored.apply(parseText('c{instance="i7"} 10\n')); // +3
  assert.equal(restored.render(), `# TYPE c counter\nc ${(19_999 * 20_000) / 2 + 3}\n`);
});

Deno.test("Rules.candidates() keeps at most 1 MiB of family names, and no long one", () => {
  const rules = new Rules({ rules: [rule({ metric: "web_.*" })], default: "reject" });
  const long = "x_" + "a".repeat(FAMILY_CACHE_NAME_CHARS);
  assert.deepEqual(rules.candidates(long), []);
  assert.equal(rules.cachedNames, 0);
  assert.equal(rules.cachedChars, 0);
  // Names of 1009 chars: 1039 fit in 1 MiB, the 1040th clears the cache.
  const name = (i: number) => `web_${String(i).padStart(4, "0")}_` + "a".repeat(1000);
  let most = 0;
  for (let i = 0; i < 3000; i++) {
    assert.equal(rules.candidates(name(i)).length, 1);
    most = Math.max(most, rules.cachedChars);
  }
  assert.equal(most, 1039 * 1009);
  assert.equal(rules.cachedNames, 3000 - 2 * 1039);
  assert.equal(rules.cachedChars, (3000 - 2 * 1039) * 1009);
  assert.equal(rules.decide(name(2999), "")?.line, 1); // a kept name decides as before
});
