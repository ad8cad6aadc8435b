import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import {
  DEFAULT_STALE_AFTER,
  MAX_STALE_AFTER,
  parseRuleDuration,
  Rules,
  type RuleSpec,
} from "../../lib/core/rules.ts";
import { parseText } from "../../lib/ingest/parse_text.ts";
import { decodeSnapshot, encodeSnapshot } from "../../lib/store/snapshot.ts";
import { type Source, sourceBytes, SourceTable } from "../../lib/store/sources.ts";
import { Store } from "../../lib/store/store.ts";

function cumulative(spec: Partial<RuleSpec> = {}): RuleSpec {
  return {
    line: 1,
    labels: [],
    action: "keep",
    input: "cumulative",
    sources: ["instance"],
    staleAfter: DEFAULT_STALE_AFTER,
    ...spec,
  };
}

function storeWith(spec: RuleSpec, now?: () => number): Store {
  const store = new Store({ gaugeBehavior: "replace", now, maxSeries: 100 });
  store.rules = new Rules({ rules: [spec], default: "accept" });
  return store;
}

function counterSource(key: string, value: number): Source {
  return {
    family: "c",
    type: "counter",
    key,
    aggregate: "",
    labels: ["instance"],
    value,
    touched: 0,
    staleAfter: 1000,
    gauge: "sum",
    bytes: sourceBytes("c", key, "", value),
  };
}

Deno.test("SourceTable.set() replacing the only source of a family keeps it findable", () => {
  const table = new SourceTable();
  const first = counterSource('instance="a"', 1);
  table.set(first);
  const second = counterSource('instance="a"', 2);
  table.set(second);
  assert.equal(table.get("c", 'instance="a"'), second);
  assert.deepEqual([...table.values()], [second]);
  assert.equal(table.size, 1);
  assert.equal(table.bytes, second.bytes);
  assert.deepEqual(table.removeWhere(() => true), [second]);
  assert.equal(table.size, 0);
  assert.equal(table.bytes, 0);
});

Deno.test("a restarted store counts two pushes of one source by their differences", async () => {
  const spec = cumulative();
  const store = storeWith(spec);
  store.apply(parseText('# TYPE c counter\nc{instance="a"} 100\n'));
  const restored = storeWith(cumulative());
  assert.equal(await decodeSnapshot(encodeSnapshot(store), restored), 2);
  for (const value of [101, 102, 103]) {
    restored.apply(parseText(`# TYPE c counter\nc{instance="a"} ${value}\n`));
  }
  assert.equal(restored.render(), "# TYPE c counter\nc 103\n");
  assert.equal(restored.sourceCount, 1);
  assert.equal(restored.seriesCount, 1);
  assert.equal(restored.captureSources().length, 1);
  // The next snapshot keeps the source: a second restart still counts only the difference.
  const again = storeWith(cumulative());
  assert.equal(await decodeSnapshot(encodeSnapshot(restored), again), 2);
  again.apply(parseText('# TYPE c counter\nc{instance="a"} 110\n'));
  assert.equal(again.render(), "# TYPE c counter\nc 110\n");
});

Deno.test("a reload of the same rules keeps each source's last value: two pushes count their differences", () => {
  const store = storeWith(cumulative());
  store.apply(parseText('# TYPE c counter\nc{instance="a"} 100\n'));
  store.rules = new Rules({ rules: [cumulative()], default: "accept" });
  store.apply(parseText('# TYPE c counter\nc{instance="a"} 110\n'));
  store.apply(parseText('# TYPE c counter\nc{instance="a"} 120\n'));
  assert.equal(store.render(), "# TYPE c counter\nc 120\n");
  assert.equal(store.sourceCount, 1);
  assert.equal(store.captureSources().length, 1);
  const bytes = store.bytes;
  store.delete([["instance", "a"]]);
  assert.equal(store.sourceCount, 0);
  assert.ok(store.bytes < bytes, "the source's bytes are given back");
});

Deno.test("a reload that changes staleAfter replaces the source, still counted once", () => {
  const store = storeWith(cumulative());
  store.apply(parseText('# TYPE c counter\nc{instance="a"} 100\n'));
  store.rules = new Rules({ rules: [cumulative({ staleAfter: 60_000 })], default: "accept" });
  store.apply(parseText('# TYPE c counter\nc{instance="a"} 110\n'));
  store.apply(parseText('# TYPE c counter\nc{instance="a"} 120\n'));
  assert.equal(store.render(), "# TYPE c counter\nc 120\n");
  assert.equal(store.sourceCount, 1);
  assert.equal(store.captureSources()[0].staleAfter, 60_000);
});

Deno.test("a restarted cumulative gauge sums its live sources once, and they go stale", async () => {
  let now = 0;
  const spec = cumulative({ sources: ["pod"], gauge: "sum", staleAfter: 60_000 });
  const store = storeWith(spec, () => now);
  store.apply(parseText('# TYPE q gauge\nq{pod="a"} 5\n'));
  const restored = storeWith({ ...spec }, () => now);
  await decodeSnapshot(encodeSnapshot(store), restored);
  for (let i = 0; i < 3; i++) restored.apply(parseText('# TYPE q gauge\nq{pod="a"} 5\n'));
  restored.apply(parseText('# TYPE q gauge\nq{pod="b"} 2\n'));
  assert.equal(restored.render(), "# TYPE q gauge\nq 7\n");
  assert.equal(restored.sourceCount, 2);
  now = 60_000;
  assert.equal(restored.render(), "");
  assert.equal(restored.sourceCount, 0);
  assert.equal(restored.staleSourceCount, 2);
});

Deno.test("parseRuleDuration() gives whole milliseconds", () => {
  assert.equal(parseRuleDuration("1.001m"), 60_060);
  assert.equal(parseRuleDuration("1.0005s"), 1001);
  assert.equal(parseRuleDuration("0.1h"), 360_000);
  assert.equal(parseRuleDuration("1.5ms"), 2);
});

Deno.test("a snapshot of sources with a fractional staleAfter is read back", async () => {
  for (const staleAfter of [60_059.99999999999, 1000.5, 365 * 86_400_000]) {
    const store = storeWith(cumulative({ staleAfter }));
    store.apply(parseText('# TYPE c counter\nc{instance="a"} 4\n'));
    const text = encodeSnapshot(store);
    assert.match(text, new RegExp(`pag-source staleAfter=${Math.round(staleAfter)} gauge=`));
    const restored = storeWith(cumulative());
    assert.equal(await decodeSnapshot(text, restored), 2);
    assert.equal(restored.captureSources()[0].staleAfter, Math.round(staleAfter));
  }
});

Deno.test("a snapshot an older build wrote with a fractional or huge staleAfter is read back", async () => {
  const store = storeWith(cumulative());
  store.apply(parseText('# TYPE c counter\nc{instance="a"} 4\n'));
  const good = encodeSnapshot(store);
  for (
    const [written, read] of [
      ["60059.99999999999", 60_060],
      ["8640000000000000", MAX_STALE_AFTER],
      ["1e+21", MAX_STALE_AFTER],
      ["Infinity", MAX_STALE_AFTER],
    ] as const
  ) {
    const text = rechecksum(
      good.replace(`staleAfter=${DEFAULT_STALE_AFTER}`, `staleAfter=${written}`),
    );
    const restored = storeWith(cumulative());
    assert.equal(await decodeSnapshot(text, restored), 2);
    assert.equal(restored.captureSources()[0].staleAfter, read);
  }
});

/** `text` with its last line's checksum made right again. */
function rechecksum(text: string): string {
  const body = text.slice(0, text.lastIndexOf("# end of snapshot: "));
  const crc = crc32(new TextEncoder().encode(body)).toString(16).padStart(8, "0");
  const series = /# end of snapshot: (\d+) series/.exec(text)![1];
  return `${body}# end of snapshot: ${series} series, crc32 ${crc}\n`;
}

Deno.test("removing only counter sources, by DELETE or staleness, is a change to snapshot", () => {
  let now = 0;
  const store = storeWith(cumulative({ staleAfter: 10_000 }), () => now);
  store.apply(parseText('# TYPE c counter\nc{instance="a",job="x"} 4\n'));
  store.apply(parseText('# TYPE c counter\nc{instance="b",job="y"} 4\n'));
  let changes = store.changes;
  assert.equal(store.delete([["instance", "a"]]), 0); // the aggregate holds no instance label
  assert.equal(store.sourceCount, 1);
  assert.ok(store.changes > changes, "DELETE of a source");
  changes = store.changes;
  now = 10_000;
  assert.equal(store.expire(), 0);
  assert.equal(store.sourceCount, 0);
  assert.ok(store.changes > changes, "a stale source");
  changes = store.changes;
  assert.equal(store.delete([["instance", "b"]]), 0);
  assert.equal(store.changes, changes); // nothing removed, nothing changed
});
