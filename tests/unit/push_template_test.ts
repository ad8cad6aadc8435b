import assert from "node:assert/strict";
import type { Label, Push } from "../../lib/core/model.ts";
import { parseOpenMetrics, parseText, parseTextBody } from "../../lib/ingest/parse_text.ts";
import { SeriesCache, SeriesCacheBudget } from "../../lib/ingest/series_cache.ts";
import { random } from "../helpers/seeded.ts";

/** What the API does first with a text body: read its bytes by a template of `cache`. */
function readByTemplate(cache: SeriesCache, text: string, openMetrics: boolean) {
  return cache.readByTemplate(new TextEncoder().encode(text), openMetrics);
}

const GROUPING: Label[] = [["job", "j"]];

/** A body of every type, with values that `round` changes as a sender's next push would. */
function body(round: number, eol = "\n"): string {
  const r = round + 1;
  return [
    "# HELP requests_total Requests.",
    "# TYPE requests_total counter",
    `requests_total{code="200",method="get"} ${3 * r}`,
    `requests_total{code="500",method="get"} ${r % 2}`,
    "# TYPE depth gauge",
    `depth{queue="a"} ${-1.5 * r}`,
    `depth{queue="b"} ${r % 3 === 0 ? "NaN" : "+Inf"}`,
    "# TYPE latency histogram",
    `latency_bucket{le="0.1"} ${r}`,
    `latency_bucket{le="1"} ${2 * r}`,
    `latency_bucket{le="+Inf"} ${3 * r}`,
    `latency_sum ${0.25 * r}`,
    `latency_count ${3 * r}`,
    "# TYPE rpc summary",
    `rpc{x="1",quantile="0.5"} ${0.1 * r}`,
    `rpc_sum{x="1"} ${2 * r}`,
    `rpc_count{x="1"} ${r}`,
    `rpc{x="1",quantile="0.9"} 1e-3`,
    `untyped_thing{a="b"} ${r}e2 1700000000000`,
    "",
  ].join(eol);
}

/** A push as plain data, so two pushes compare by value (`-0`, `NaN` and all). */
function plain(push: Push) {
  return push.map(({ name, type, help, keys, values }) => ({
    name,
    type,
    help,
    keys: [...keys],
    values: values.map((v) => typeof v === "number" ? v : structuredClone(v)),
  }));
}

/** What parsing gives: the push as plain data, or the error's class, message and reason. */
function outcome(parse: () => Push): unknown {
  try {
    return plain(parse());
  } catch (error) {
    const { name, message, reason } = error as Error & { reason?: string };
    return { name, message, reason };
  }
}

/** A cache that has seen `text` twice, so that it holds the text's template. */
function primed(text: string, parse = parseText): SeriesCache {
  const cache = new SeriesCache();
  parse(text, GROUPING, undefined, cache);
  parse(text, GROUPING, undefined, cache);
  return cache;
}

Deno.test("a body pushed again with new values is read by its template, as a full parse reads it", () => {
  for (const eol of ["\n", "\r\n"]) {
    const cache = primed(body(0, eol));
    for (let round = 1; round < 8; round++) {
      const text = body(round, eol);
      assert.ok(readByTemplate(cache, text, false) !== undefined, `round ${round} by template`);
      assert.deepEqual(
        outcome(() => parseText(text, GROUPING, undefined, cache)),
        outcome(() => parseText(text, GROUPING)),
      );
    }
  }
});

Deno.test("a template is kept only once a body's series were all seen before", () => {
  const cache = new SeriesCache();
  parseText(body(0), GROUPING, undefined, cache);
  assert.equal(readByTemplate(cache, body(1), false), undefined, "after one push");
  parseText(body(1), GROUPING, undefined, cache);
  assert.ok(readByTemplate(cache, body(2), false) !== undefined, "after two");
  assert.equal(readByTemplate(cache, body(2), true), undefined, "not for OpenMetrics");
});

/** An OpenMetrics body with an exemplar, timestamps, a `_created` and an info family. */
const om = (r: number) =>
  "# TYPE a counter\n" +
  `a_total{x="1"} ${r} 1700000000.5 # {trace="t"} 1\n` +
  `a_created{x="1"} 1700000000\n` +
  "# TYPE b info\n" +
  `b_info{v="1"} 1\n` +
  "# EOF\n";

Deno.test("an OpenMetrics template keeps exemplars, timestamps and # EOF as they were", () => {
  const cache = primed(om(1), parseOpenMetrics);
  for (let r = 2; r < 5; r++) {
    assert.ok(readByTemplate(cache, om(r), true) !== undefined);
    assert.deepEqual(
      outcome(() => parseOpenMetrics(om(r), GROUPING, undefined, cache)),
      outcome(() => parseOpenMetrics(om(r), GROUPING)),
    );
  }
  const without = om(2).replace("# EOF\n", "");
  assert.deepEqual(
    outcome(() => parseOpenMetrics(without, GROUPING, undefined, cache)),
    outcome(() => parseOpenMetrics(without, GROUPING)),
  );
});

Deno.test("values a template cannot take fall back to the full parse and its exact error", () => {
  const cache = primed(body(0));
  const cases: [string, string][] = [
    ["a negative counter", body(0).replace('method="get"} 3', 'method="get"} -3')],
    ["a NaN counter", body(0).replace('method="get"} 3', 'method="get"} NaN')],
    ["a _count unlike +Inf", body(0).replace("latency_count 3", "latency_count 4")],
    ["falling buckets", body(0).replace('le="1"} 2', 'le="1"} 0')],
    ["a negative summary count", body(0).replace('rpc_count{x="1"} 1', 'rpc_count{x="1"} -1')],
    ["a hex value", body(0).replace('queue="a"} -1.5', 'queue="a"} 0x1')],
    ["no value", body(0).replace('queue="a"} -1.5', 'queue="a"} ')],
    ["a quantile without a number", body(0).replace("1e-3", "fast")],
  ];
  for (const [what, text] of cases) {
    const expected = outcome(() => parseText(text, GROUPING));
    assert.ok(!Array.isArray(expected), `${what}: the full parse refuses it`);
    assert.deepEqual(outcome(() => parseText(text, GROUPING, undefined, cache)), expected, what);
  }
});

Deno.test("a value written right after a name makes no template, so it cannot join the name", () => {
  // The parser reads `x-1` as `x` = -1 (as Go's expfmt does) but `x1` as the series `x1`:
  // a template made of the first would misread the second as `x` = 1.
  const cases: [string, string][] = [
    ["x-1 1700000000000\n", "x1 1700000000000\n"],
    ["a-1\n", "a1\n"],
    ["a+1\n", "aNaN\n"],
    ['b{c="d"}-1\n', 'b{c="d"}1\n'],
  ];
  for (const [first, next] of cases) {
    const cache = primed(first);
    assert.deepEqual(
      outcome(() => parseText(next, GROUPING, undefined, cache)),
      outcome(() => parseText(next, GROUPING)),
      `${JSON.stringify(first)} then ${JSON.stringify(next)}`,
    );
  }
  // After a `}` the value starts anew whatever it is, so that template is kept and used.
  const cache = primed('b{c="d"}-1\n');
  assert.ok(readByTemplate(cache, 'b{c="d"}5\n', false) !== undefined);
});

Deno.test("a template shares no state between the pushes it reads", () => {
  const cache = primed(body(0));
  const first = parseText(body(1), GROUPING, undefined, cache);
  const copy = plain(first);
  parseText(body(2), GROUPING, undefined, cache);
  assert.deepEqual(plain(first), copy);
});

Deno.test("templates draw on the series cache budget, which empties every cache when spent", () => {
  const budget = new SeriesCacheBudget(32 * 1024);
  const cache = new SeriesCache(budget);
  parseText(body(0), GROUPING, undefined, cache);
  const entries = budget.used;
  assert.ok(entries > 14 * 100, `the entries cost bytes, not one each: ${entries}`);
  parseText(body(0), GROUPING, undefined, cache);
  assert.ok(readByTemplate(cache, body(1), false) !== undefined);
  assert.equal(cache.size, 15, "the series texts of 14 lines, and a template");
  const used = budget.used;
  assert.ok(used - entries > 2 * body(0).length, `a template costs its body twice: ${used}`);
  // Another sender's cache spends the rest: this cache, never used again, is emptied too.
  const other = new SeriesCache(budget);
  for (let i = 0; budget.used >= used; i++) {
    other.set(`s${i}`, { name: "s", mode: "value", key: "", le: NaN });
  }
  assert.equal(cache.size, 0);
  assert.equal(readByTemplate(cache, body(1), false), undefined);
  assert.equal(other.size, 1);

  // reset() empties every cache at once, as the API does when it drops its push paths.
  budget.reset();
  assert.equal(other.size, 0);
  assert.equal(budget.used, 0);
});

/** Parses 3000 seeded changes of `base` with a primed cache and without, which must agree. */
function compareChanges(base: string, parse: typeof parseText, seed: number): void {
  const openMetrics = parse === parseOpenMetrics;
  assert.ok(readByTemplate(primed(base, parse), base, openMetrics) !== undefined, "a template");
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const tokens = [
    "0",
    "-0",
    "-1",
    "1e3",
    "+Inf",
    "-Inf",
    "Inf",
    "NaN",
    "nan",
    "1.5",
    ".5",
    "5.",
    "1e",
    "0x1",
    "007",
    "",
    "1_0",
    "123456789012345678",
    "1 2",
    "1\t2",
    "1\r",
    "1#",
  ];
  for (let i = 0; i < 3000; i++) {
    let text = base;
    const at = Math.floor(next() * text.length);
    switch (Math.floor(next() * 4)) {
      case 0: { // a value replaced by a token
        const values = [...text.matchAll(/[} ]([-+.\w]+)(?=[\n ])/g)];
        const value = pick(values);
        text = text.slice(0, value.index! + 1) + pick(tokens) +
          text.slice(value.index! + 1 + value[1].length);
        break;
      }
      case 1: // a char replaced
        text = text.slice(0, at) +
          pick([" ", "\n", "\t", "\r", "1", "x", "{", '"', "#", "_", "é", "\uFFFD"]) +
          text.slice(at + 1);
        break;
      case 2: // a char deleted
        text = text.slice(0, at) + text.slice(at + 1);
        break;
      default: // a char inserted
        text = text.slice(0, at) + pick([" ", "\n", "9", "-", ".", "e", "}", "🙂"]) +
          text.slice(at);
    }
    const cache = primed(base, parse);
    assert.deepEqual(
      outcome(() => parse(text, GROUPING, undefined, cache)),
      outcome(() => parse(text, GROUPING)),
      `case ${i}: ${JSON.stringify(text)}`,
    );
  }
}

Deno.test("any change to a templated body parses as the full parse does (seeded)", async (t) => {
  await t.step("text 0.0.4", () => compareChanges(body(0), parseText, 4242));
  await t.step("OpenMetrics", () => compareChanges(om(1), parseOpenMetrics, 4243));
  // Text that is not ASCII takes more bytes than chars: the template's byte offsets differ.
  const wide = body(0).replace('queue="a"', 'queue="é🙂中"').replace("Requests.", "Requêtes 🙂.");
  await t.step("text that is not ASCII", () => compareChanges(wide, parseText, 4244));
});

Deno.test("a template reads bytes: a body that is not valid UTF-8 never fits it", () => {
  const cache = primed(body(0));
  const encoder = new TextEncoder();
  const valid = encoder.encode(body(1));
  assert.ok(cache.readByTemplate(valid, false) !== undefined);
  // A value's digits replaced by invalid bytes, then a byte of a label turned invalid.
  const value = body(1).indexOf("} 6") + 2;
  for (const bad of [[0xff], [0xc3], [0xe2, 0x82]]) {
    const bytes = new Uint8Array([...valid.slice(0, value), ...bad, ...valid.slice(value + 1)]);
    assert.equal(cache.readByTemplate(bytes, false), undefined, `value ${bad}`);
  }
  const label = valid.slice();
  label[body(1).indexOf('"get"') + 1] = 0x80;
  assert.equal(cache.readByTemplate(label, false), undefined, "label");
  // A byte order mark: the decoder drops it, but the template does not have it.
  const marked = new Uint8Array([0xef, 0xbb, 0xbf, ...valid]);
  assert.equal(cache.readByTemplate(marked, false), undefined, "byte order mark");
});

Deno.test("parseTextBody() reads a body that begins with a byte order mark by its template", () => {
  const cache = primed(body(0));
  const size = cache.size;
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  for (const round of [1, 2, 3]) {
    const marked = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(body(round))]);
    assert.deepEqual(
      outcome(() => parseTextBody(marked, decode, false, GROUPING, undefined, cache)),
      outcome(() => parseText(body(round), GROUPING)),
    );
  }
  assert.equal(cache.size, size, "read by the template: no template made again");
});

Deno.test("parseText() with a cache tells a lone surrogate from U+FFFD, which UTF-8 cannot", () => {
  const cache = primed('x{a="\uFFFD"} 1\n');
  const text = 'x{a="\uD800"} 2\n';
  assert.deepEqual(
    outcome(() => parseText(text, GROUPING, undefined, cache)),
    outcome(() => parseText(text, GROUPING)),
  );
});

Deno.test("a sender whose bodies change beyond their values gets templates made rarely", () => {
  const cache = new SeriesCache();
  // A comment that changes with every push: each body makes a template that never fits.
  for (let i = 0; i < 5; i++) parseText(`# push ${i}\n${body(i)}`, GROUPING, undefined, cache);
  const chances = Array.from({ length: 32 }, () => cache.wantsTemplate());
  assert.equal(chances.filter(Boolean).length, 2, "one chance in 16");
  // Bodies that change only in their values get a template within 16 pushes; once one is
  // used, templates are made freely again.
  let pushes = 0;
  while (readByTemplate(cache, body(pushes), false) === undefined) {
    assert.ok(pushes < 17, `no template after ${pushes} pushes`);
    parseText(body(pushes++), GROUPING, undefined, cache);
  }
  assert.equal(cache.wantsTemplate(), true);
});
