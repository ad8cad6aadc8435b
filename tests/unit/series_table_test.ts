import assert from "node:assert/strict";
import { SeriesTable } from "../../lib/store/series_table.ts";

/** The keys of `table` with their values, in the table's render order. */
function rows(table: SeriesTable): [string, unknown][] {
  return table.sortedKeys().map((key) => [key, table.get(key)]);
}

Deno.test("SeriesTable.sorted() keeps the slots sorted by key as series come and go", () => {
  const table = new SeriesTable("counter", false);
  for (const key of ['x="3"', 'x="1"', 'x="2"']) table.add(key, Number(key.at(3)));
  const first = table.sorted();
  assert.deepEqual(rows(table), [['x="1"', 1], ['x="2"', 2], ['x="3"', 3]]);
  assert.equal(table.sorted(), first, "unchanged: the same array");

  assert.equal(table.removeWhere((key) => key === 'x="2"', () => {}), 1);
  assert.deepEqual([...first].map((slot) => table.keysBySlot[slot]), ['x="1"', undefined, 'x="3"']);
  assert.notEqual(table.sorted(), first, "a new array: a reader may still hold the old one");
  table.add('x="0"', 0);
  table.add("", 9);
  assert.deepEqual(rows(table), [["", 9], ['x="0"', 0], ['x="1"', 1], ['x="3"', 3]]);
  assert.equal(table.size, 4);
});

Deno.test("SeriesTable.add() gives removed slots to new series", () => {
  const table = new SeriesTable("gauge", false);
  const a = table.add("a", 1);
  table.add("b", 2);
  table.removeWhere((key) => key === "a", () => {});
  assert.equal(table.slotOf("a"), undefined);
  assert.equal(table.add("c", 3), a);
  assert.equal(table.keysBySlot.length, 2, "no slot more than the series held at once");
  assert.deepEqual(rows(table), [["b", 2], ["c", 3]]);
});

Deno.test("SeriesTable.removeWhere() calls `before` once, and only when it removes", () => {
  const table = new SeriesTable("summary", true);
  table.touch(table.add("a", { count: 1, sum: 2 }), 100);
  table.touch(table.add("b", { count: 3, sum: 4 }), 200);
  table.touch(table.add("c", { count: 5, sum: 6 }), 300);
  let calls = 0;
  assert.equal(table.removeWhere(() => false, () => calls++), 0);
  assert.equal(calls, 0);
  assert.equal(table.removeWhere((_, touched) => touched < 250, () => calls++), 2);
  assert.equal(calls, 1);
  assert.deepEqual(rows(table), [["c", { count: 5, sum: 6 }]]);
  assert.equal(table.touchedAt("c"), 300);
  assert.equal(table.touchedAt("a"), undefined);
});

Deno.test("SeriesTable keeps no touch times unless asked to", () => {
  const table = new SeriesTable("counter", false);
  table.touch(table.add("a", 1), 100);
  assert.equal(table.touchedAt("a"), undefined);
});

Deno.test("SeriesTable.sorted() merges keys added in any order among the kept ones", () => {
  const table = new SeriesTable("counter", false);
  const keys = Array.from({ length: 3000 }, (_, i) => `k="${(i * 7919) % 3000}"`);
  for (const [i, key] of keys.entries()) {
    table.add(key, i);
    if (i === 10 || i === 500) table.sorted();
    if (i % 100 === 0) table.settle(); // merges once enough keys wait
  }
  assert.deepEqual(table.sortedKeys(), keys.slice().sort());
  assert.equal(table.get('k="7"'), keys.indexOf('k="7"'));
});

Deno.test("SeriesTable.unsorted() makes the next sorted() sort every key", () => {
  const table = new SeriesTable("untyped", false);
  table.unsorted();
  for (const key of ["c", "a", "b"]) table.add(key, 1);
  assert.deepEqual(table.sortedKeys(), ["a", "b", "c"]);
});

Deno.test("SeriesTable.asciiKeys turns false with the first key outside ASCII", () => {
  const table = new SeriesTable("counter", false);
  table.add('x="a"', 1);
  assert.equal(table.asciiKeys, true);
  table.add('x="é"', 1);
  assert.equal(table.asciiKeys, false);
  table.removeWhere((key) => key === 'x="é"', () => {});
  assert.equal(table.asciiKeys, false, "removing the key alone does not look at the others");
});

Deno.test("SeriesTable.asciiKeys turns true again when a compaction finds only ASCII keys", () => {
  const table = new SeriesTable("counter", false);
  for (let i = 0; i < 2000; i++) table.add(i < 1990 ? `x="é${i}"` : `x="${i}"`, i);
  assert.equal(table.asciiKeys, false);
  table.removeWhere((key) => key.includes("é"), () => {});
  assert.equal(table.keysBySlot.length, 10, "compacted");
  assert.equal(table.asciiKeys, true);
});

Deno.test("SeriesTable compacts its slots once most are free, keeping every series", () => {
  const table = new SeriesTable("gauge", true);
  for (let i = 0; i < 4000; i++) table.touch(table.add(`i="${i}"`, i), 1000 + i);
  const keep = (i: number) => i % 10 === 3;
  table.removeWhere((key) => !keep(Number(key.slice(3, -1))), () => {});
  assert.equal(table.size, 400);
  assert.equal(table.keysBySlot.length, 400, "compacted: one slot per series");
  const order = table.sorted();
  assert.deepEqual([...order], Array.from({ length: 400 }, (_, i) => i), "slots in render order");
  for (let i = 0; i < 4000; i++) {
    const key = `i="${i}"`;
    assert.equal(table.get(key), keep(i) ? i : undefined);
    assert.equal(table.touchedAt(key), keep(i) ? 1000 + i : undefined);
  }
  table.add('i="x"', -1);
  assert.equal(table.slotOf('i="x"'), 400);
  assert.deepEqual(table.sortedKeys(), table.sortedKeys().slice().sort());
});

Deno.test("SeriesTable does not compact a small table or one mostly in use", () => {
  const small = new SeriesTable("counter", false);
  for (let i = 0; i < 1000; i++) small.add(`i="${i}"`, i);
  small.removeWhere((key) => key !== 'i="5"', () => {});
  assert.equal(small.keysBySlot.length, 1000);
  const big = new SeriesTable("counter", false);
  for (let i = 0; i < 4000; i++) big.add(`i="${i}"`, i);
  big.removeWhere((key) => key.endsWith('0"'), () => {});
  assert.equal(big.keysBySlot.length, 4000);
});
