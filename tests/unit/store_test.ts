import assert from "node:assert/strict";
import { PushError } from "../../lib/core/errors.ts";
import type { GaugeBehavior } from "../../lib/core/merge.ts";
import { formatValue, type Label } from "../../lib/core/model.ts";
import { parseDeltas } from "../../lib/ingest/parse_json.ts";
import { parseText } from "../../lib/ingest/parse_text.ts";
import { renderFamily, SCRATCH_BYTES } from "../../lib/expose/render.ts";
import { Store } from "../../lib/store/store.ts";
import type { TextPiece } from "../../lib/store/store_reader.ts";
import { random } from "../helpers/seeded.ts";

function storeWith(bodies: string[], gaugeBehavior: GaugeBehavior = "replace"): Store {
  const store = new Store({ gaugeBehavior });
  for (const body of bodies) store.apply(parseText(body));
  return store;
}

Deno.test("Store.apply() sums counters and untyped series per label set", () => {
  const store = storeWith([
    '# TYPE c counter\nc{b="2",a="1"} 1\nu 5\n',
    '# TYPE c counter\nc{a="1",b="2"} 2\nc{a="3"} 1\nu -2\n',
  ]);
  assert.equal(
    store.render(),
    '# TYPE c counter\nc{a="1",b="2"} 3\nc{a="3"} 1\n# TYPE u untyped\nu 3\n',
  );
  assert.equal(store.seriesCount, 3);
  assert.equal(store.familyCount, 2);
});

Deno.test("Store.apply() combines gauges by --gaugeBehavior", async (t) => {
  const pushes = ["# TYPE g gauge\ng 5\n", "# TYPE g gauge\ng 3\n", "# TYPE g gauge\ng 4\n"];
  const expected: Record<GaugeBehavior, string> = { replace: "4", sum: "12", max: "5", min: "3" };
  for (const [behavior, value] of Object.entries(expected)) {
    await t.step(behavior, () => {
      const store = storeWith(pushes, behavior as GaugeBehavior);
      assert.equal(store.render(), `# TYPE g gauge\ng ${value}\n`);
    });
  }
});

Deno.test("Store.apply() merges histograms with the union of bounds, le as a number", () => {
  const store = storeWith([
    '# TYPE h histogram\nh_bucket{le="1.0"} 5\nh_bucket{le="+Inf"} 5\nh_sum 2\nh_count 5\n',
    '# TYPE h histogram\nh_bucket{le="0.5"} 0\nh_bucket{le="1"} 0\nh_bucket{le="2"} 3\nh_bucket{le="+Inf"} 3\nh_sum 4\nh_count 3\n',
  ]);
  assert.equal(
    store.render(),
    '# TYPE h histogram\nh_bucket{le="0.5"} 0\nh_bucket{le="1"} 5\nh_bucket{le="2"} 8\nh_bucket{le="+Inf"} 8\nh_sum 6\nh_count 8\n',
  );
});

Deno.test("Store.apply() keeps only _sum and _count of summaries, from the first push on", () => {
  const store = storeWith([
    '# TYPE s summary\ns{quantile="0.9"} 7\ns_sum 10\ns_count 2\n',
    '# TYPE s summary\ns{quantile="0.9"} 1\ns_sum 1\ns_count 1\n',
  ]);
  assert.equal(store.render(), "# TYPE s summary\ns_sum 11\ns_count 3\n");
});

Deno.test("Store.apply() keeps the latest HELP", () => {
  const store = storeWith(["# HELP c old\n# TYPE c counter\nc 1\n", "# TYPE c counter\nc 1\n"]);
  assert.equal(store.render(), "# HELP c old\n# TYPE c counter\nc 2\n");
  store.apply(parseText("# HELP c new\n# TYPE c counter\nc 1\n"));
  assert.equal(store.render(), "# HELP c new\n# TYPE c counter\nc 3\n");
});

Deno.test("Store.apply() lets a sample without TYPE join a stored counter or gauge", () => {
  const store = storeWith(["# TYPE c counter\nc 1\n# TYPE g gauge\ng 1\n", "c 2\ng 7\n"]);
  assert.equal(store.render(), "# TYPE c counter\nc 3\n# TYPE g gauge\ng 7\n");
  assert.throws(() => store.apply(parseText("c -1\n")), {
    name: "PushError",
    message: "counter c has negative value -1",
  });
});

Deno.test("Store.apply() refuses a push whole and leaves the store byte-for-byte unchanged", async (t) => {
  const initial = [
    '# TYPE c counter\nc{a="1"} 1\n# TYPE g gauge\ng 2\n',
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
  ];
  // Each push is valid up to its last family, which the store must refuse.
  const cases: [string, string, string][] = [
    [
      "a type that differs from the store",
      '# TYPE c counter\nc{a="1"} 5\n# TYPE new counter\nnew 1\n# TYPE g counter\ng 1\n',
      'metric "g" is a gauge in the gateway, the push has it as counter',
    ],
    [
      "a histogram pushed as a gauge",
      "# TYPE c counter\nc 1\n# TYPE h gauge\nh 1\n",
      'metric "h" is a histogram in the gateway, the push has it as gauge',
    ],
    [
      "a new family that would write a stored sample name",
      "# TYPE c counter\nc 1\n# TYPE h_count gauge\nh_count 1\n",
      'metric "h_count" (gauge) would write samples named "h_count", which histogram "h" in the gateway already writes',
    ],
    [
      "an untyped sample joining a counter with a negative value",
      '# TYPE g gauge\ng 9\nc{a="1"} -1\n',
      'counter c{a="1"} has negative value -1',
    ],
  ];
  for (const [name, body, message] of cases) {
    await t.step(name, () => {
      const store = storeWith(initial);
      const before = store.render();
      const counts = [store.seriesCount, store.familyCount];
      assert.throws(() => store.apply(parseText(body)), (error) => {
        assert.ok(error instanceof PushError);
        assert.equal(error.message, message);
        return true;
      });
      assert.equal(store.render(), before);
      assert.deepEqual([store.seriesCount, store.familyCount], counts);
    });
  }
});

Deno.test("Store.apply() never modifies the push it is given", () => {
  const push = parseText(
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n',
  );
  const store = new Store({ gaugeBehavior: "replace" });
  store.apply(push);
  store.apply(push);
  assert.deepEqual(push[0].values[0], {
    bounds: [1, Infinity],
    counts: [1, 2],
    count: 2,
    sum: 1,
  });
  assert.match(store.render(), /h_bucket\{le="\+Inf"\} 4\n/);
});

Deno.test("Store.delete() removes the series that hold every given label", async (t) => {
  const body =
    '# TYPE c counter\nc{job="a",x="1"} 1\nc{job="a",x="2"} 1\nc{job="b"} 1\n# TYPE g gauge\ng{job="a"} 1\n';
  // [name, match, remaining rendering, removed]
  const cases: [string, Label[], string, number][] = [
    ["one label across families", [["job", "a"]], '# TYPE c counter\nc{job="b"} 1\n', 3],
    [
      "two labels",
      [["job", "a"], ["x", "2"]],
      '# TYPE c counter\nc{job="a",x="1"} 1\nc{job="b"} 1\n# TYPE g gauge\ng{job="a"} 1\n',
      1,
    ],
    [
      "an empty value matches the label's absence",
      [["job", "a"], ["x", ""]],
      '# TYPE c counter\nc{job="a",x="1"} 1\nc{job="a",x="2"} 1\nc{job="b"} 1\n',
      1,
    ],
    ["nothing matching", [["job", "z"]], body, 0],
  ];
  for (const [name, match, expected, removed] of cases) {
    await t.step(name, () => {
      const store = storeWith([body]);
      assert.equal(store.delete(match), removed);
      assert.equal(store.render(), expected);
      assert.equal(store.seriesCount, 4 - removed);
    });
  }
});

Deno.test("Store.delete() frees the sample names of a removed family", () => {
  const store = storeWith([
    '# TYPE h histogram\nh_bucket{job="a",le="+Inf"} 1\nh_sum{job="a"} 1\nh_count{job="a"} 1\n',
  ]);
  store.delete([["job", "a"]]);
  assert.equal(store.familyCount, 0);
  store.apply(parseText("# TYPE h_sum gauge\nh_sum 1\n"));
  assert.equal(store.render(), "# TYPE h_sum gauge\nh_sum 1\n");
});

Deno.test("Store.render() sorts families and series whatever the push order", () => {
  const a = storeWith(['b{x="2"} 1\nb{x="1"} 1\na 1\n']);
  const b = storeWith(['a 1\nb{x="1"} 1\n', 'b{x="2"} 1\n']);
  assert.equal(a.render(), b.render());
  assert.equal(a.render(), '# TYPE a untyped\na 1\n# TYPE b untyped\nb{x="1"} 1\nb{x="2"} 1\n');
});

/** Every piece of a read, in order. */
function readAll(store: Store): TextPiece[] {
  const reader = store.read();
  const pieces: TextPiece[] = [];
  for (let piece; (piece = reader.next()) !== undefined;) pieces.push(piece);
  return pieces;
}

const decoder = new TextDecoder();
const textOf = (pieces: TextPiece[]) => pieces.map((piece) => decoder.decode(piece.plain)).join("");

Deno.test("Store.read() gives large families in pieces of whole lines, kept until a change", () => {
  // 10000 series span three pieces of 4096 lines; zero-padded label values sort as the numbers
  // do. Some values are not ASCII, so their UTF-8 is longer than their text.
  const ids = Array.from({ length: 10_000 }, (_, i) => String(i).padStart(5, "0"));
  let body = "# HELP c Counts.\n# TYPE c counter\n";
  let expected = body;
  for (const [i, id] of ids.entries()) {
    const labels = i % 1000 === 7 ? `id="${id}",v="é🙂"` : `id="${id}"`;
    body += `c{${labels}} ${i}\n`;
    expected += `c{${labels}} ${i}\n`;
  }
  body += "# TYPE h histogram\n";
  expected += "# TYPE h histogram\n";
  for (const id of ids.slice(0, 1100)) {
    body += `h_bucket{id="${id}",le="1"} 1\nh_bucket{id="${id}",le="+Inf"} 2\n`;
    body += `h_sum{id="${id}"} 0.5\nh_count{id="${id}"} 2\n`;
    expected += `h_bucket{id="${id}",le="1"} 1\nh_bucket{id="${id}",le="+Inf"} 2\n`;
    expected += `h_sum{id="${id}"} 0.5\nh_count{id="${id}"} 2\n`;
  }
  body += "# TYPE s summary\n";
  expected += "# TYPE s summary\n";
  for (const id of ids.slice(0, 1100)) {
    body += `s{id="${id}",quantile="0.5"} 1\ns_sum{id="${id}"} 7\ns_count{id="${id}"} 3\n`;
    expected += `s_sum{id="${id}"} 7\ns_count{id="${id}"} 3\n`;
  }
  body += "u 1.5\n";
  expected += "# TYPE u untyped\nu 1.5\n";
  const store = storeWith([body]);

  const pieces = readAll(store);
  assert.equal(textOf(pieces), expected);
  assert.equal(pieces.length, 3 + 2 + 1 + 1);
  for (const piece of pieces) assert.equal(piece.plain.at(-1), 10, "every piece ends a line");
  assert.equal(store.render(), expected);

  // Unchanged families keep their pieces; a changed one renders again.
  const reader = store.read();
  const again = [];
  for (let piece; (piece = reader.next()) !== undefined;) again.push(piece);
  assert.ok(again.every((piece, i) => piece === pieces[i]));
  assert.equal(reader.rendered, 0);
  store.apply(parseText('# TYPE c counter\nc{id="00000"} 5\n'));
  const changed = readAll(store);
  assert.notEqual(changed[0], pieces[0]);
  assert.equal(changed[3], pieces[3], "the histogram was not rendered again");
  assert.match(
    decoder.decode(changed[0].plain),
    /^# HELP c Counts\.\n# TYPE c counter\nc\{id="00000"\} 5\n/,
  );
  assert.equal(store.readers, 0, "reads that reached the end are closed");
});

Deno.test("Store.read() writes every value as formatValue() does", () => {
  const values = [
    0,
    -0,
    7,
    10,
    99,
    2147483647,
    2147483648,
    -1,
    -2147483648,
    0.1,
    1 / 3,
    -2.5e-8,
    1e21,
    1.5e300,
    -1.7976931348623157e308,
    Number.MAX_SAFE_INTEGER,
    NaN,
    Infinity,
    -Infinity,
  ];
  // A gauge under "replace" keeps what was pushed; its value is written as the text parser
  // read it, and formatValue() gives the shortest text that reads back the same.
  // The series without labels sorts first.
  let body = "# TYPE g gauge\ng 12345\n";
  for (const [i, value] of values.entries()) {
    body += `g{i="${String(i).padStart(2, "0")}"} ${formatValue(value)}\n`;
  }
  const expected = body;
  assert.equal(storeWith([body]).render(), expected);
});

Deno.test("Store.read() ends a piece early for long lines, and writes a line of any length", () => {
  // 1000 lines of about 2 KB fill a few pieces well short of 4096 lines; one line is longer
  // than all of them together.
  let body = "# TYPE c counter\n";
  for (let i = 0; i < 1000; i++) {
    body += `c{i="${String(i).padStart(4, "0")}",v="${"x".repeat(2000)}"} ${i}\n`;
  }
  body += `c{i="9999",v="${"y".repeat(3_000_000)}"} 1.5\n`;
  const store = storeWith([body]);
  const pieces = readAll(store);
  assert.ok(pieces.length >= 4, `${pieces.length} pieces`);
  for (const piece of pieces) assert.equal(piece.plain.at(-1), 10, "every piece ends a line");
  assert.equal(textOf(pieces), body);
});

Deno.test("Store.read() loses no byte where a line ends at the end of its buffer", () => {
  // Lines of 522 bytes nearly fill the buffer; then a key whose length changes from step to step
  // makes the line after it, whose value has the most chars formatValue() writes (25), end at
  // every offset from 32 bytes before the buffer's end to 31 after it.
  const name = "m";
  const value = -1.2345678901234567e-6;
  const valueLine = `m{c="v"} ${formatValue(value)}\n`;
  assert.equal(formatValue(value).length, 25);
  const filler = Array.from(
    { length: 2000 },
    (_, i) => `a="${String(i).padStart(4, "0")}${"x".repeat(500)}"`,
  );
  const fillerLine = `m{${filler[0]}} 1\n`.length;
  const header = `# TYPE ${name} gauge\n`;
  const fullLines = Math.floor((SCRATCH_BYTES - header.length) / fillerLine) - 1;
  const left = SCRATCH_BYTES - header.length - fullLines * fillerLine;
  for (let offset = -32; offset < 32; offset++) {
    // m{b="…"} 1\n takes the rest but for the value's line, and `offset` bytes more.
    const stretch = left - valueLine.length + offset - `m{b=""} 1\n`.length;
    const keys = [
      ...filler.slice(0, fullLines),
      `b="${"y".repeat(stretch)}"`,
      'c="v"',
      'd="after"',
    ];
    const values = [...keys.slice(0, -3).map(() => 1), 1, value, 2];
    const store = new Store({ gaugeBehavior: "replace" });
    store.apply([{ name, type: "gauge", help: undefined, keys, values }]);
    const pieces = readAll(store);
    for (const piece of pieces) assert.equal(piece.plain.at(-1), 10, `offset ${offset}`);
    const series = new Map(keys.map((key, i) => [key, values[i]]));
    assert.equal(
      textOf(pieces),
      renderFamily({ name, type: "gauge", help: undefined, series }),
      `offset ${offset}`,
    );
  }
});

Deno.test("Store.read() writes the header of a numeric family with no series", () => {
  // The parsers never make one; the store's API does not refuse it.
  const store = new Store({ gaugeBehavior: "replace" });
  store.apply([{ name: "e", type: "counter", help: "None yet.", keys: [], values: [] }]);
  assert.equal(store.render(), "# HELP e None yet.\n# TYPE e counter\n");
});

Deno.test("a read shows the store as it was when it began, whatever changes meanwhile", () => {
  // Families a, b and c of 5000 series each: two pieces each.
  const bodyOf = (name: string, value: number) => {
    let body = `# TYPE ${name} counter\n`;
    for (let i = 0; i < 5000; i++) body += `${name}{i="${String(i).padStart(4, "0")}"} ${value}\n`;
    return body;
  };
  const store = storeWith([bodyOf("a", 1), bodyOf("b", 1), bodyOf("c", 1)]);
  const before = store.render();
  // Adding 0 to a and c drops their pieces: the read renders a's first piece, and its
  // second and c's pieces are left to render when a and c change. b's pieces are kept.
  store.apply(parseText(bodyOf("a", 0) + bodyOf("c", 0)));

  const reader = store.read();
  const pieces = [reader.next()!];
  assert.equal(reader.rendered, 1, "the read rendered a's first piece");
  // While the read is in a: a and b take new values, c loses a series, d is new.
  store.apply(parseText(bodyOf("a", 1) + bodyOf("b", 1) + "d 1\n"));
  store.delete([["i", "0001"]]);
  for (let piece; (piece = reader.next()) !== undefined;) pieces.push(piece);
  assert.equal(textOf(pieces), before);
  assert.equal(store.readers, 0);

  const after = store.render();
  assert.match(after, /^a\{i="0000"\} 2$/m);
  assert.match(after, /^b\{i="4999"\} 2$/m);
  assert.doesNotMatch(after, /\{i="0001"\}/);
  assert.match(after, /^d 1$/m);
});

Deno.test("a DELETE of most of a family during a read leaves the read and the store whole", () => {
  let body = "# TYPE c counter\n";
  for (let i = 0; i < 10_000; i++) {
    body += `c{job="${i % 10 === 0 ? "kept" : "gone"}",i="${i}"} ${i}\n`;
  }
  const store = storeWith([body]);
  const before = store.render();
  store.apply(parseText('# TYPE c counter\nc{job="kept",i="0"} 0\n')); // c renders again
  const reader = store.read();
  const pieces = [reader.next()!];
  assert.equal(store.delete([["job", "gone"]]), 9000);
  store.apply(parseText('# TYPE c counter\nc{job="new",i="1"} 1\nc{job="kept",i="10"} 5\n'));
  for (let piece; (piece = reader.next()) !== undefined;) pieces.push(piece);
  assert.equal(textOf(pieces), before);

  const rows: [string, number][] = [['i="1",job="new"', 1]];
  for (let i = 0; i < 10_000; i += 10) rows.push([`i="${i}",job="kept"`, i === 10 ? 15 : i]);
  rows.sort(([a], [b]) => a < b ? -1 : 1);
  const expected = rows.map(([key, value]) => `c{${key}} ${value}\n`).join("");
  assert.equal(store.render(), "# TYPE c counter\n" + expected);
  assert.equal(store.seriesCount, 1001);
});

Deno.test("a HELP that changes during a read is in the next read, not this one", () => {
  const store = storeWith([
    "# HELP a A.\n# TYPE a counter\na 1\n# HELP b Old.\n# TYPE b counter\nb 1\n",
  ]);
  for (
    const change of [
      () => store.apply(parseText("# HELP b New.\n# TYPE b counter\nb 5\n")),
      () =>
        store.applyDeltas(
          parseDeltas('{"type":"counter","name":"b","help":"New.","method":"inc","value":1}'),
        ),
    ]
  ) {
    const before = store.render();
    store.apply(parseText("# TYPE b counter\nb 0\n")); // b is left to render in the read
    const reader = store.read();
    const pieces = [reader.next()!];
    change();
    for (let piece; (piece = reader.next()) !== undefined;) pieces.push(piece);
    assert.equal(textOf(pieces), before);
    assert.match(store.render(), /^# HELP b New\.$/m);
    store.apply(parseText("# HELP b Old.\n# TYPE b counter\nb 0\n"));
  }
});

Deno.test("a read stops holding each family's text once it has read it", () => {
  const store = storeWith(["a 1\nb 1\nc 1\n"]);
  const waiting = () => store.families().map((family) => family.text?.waiting);
  const reader = store.read();
  assert.deepEqual(waiting(), [1, 1, 1]);
  reader.next(); // a
  reader.next(); // b: a is read
  assert.deepEqual(waiting(), [0, 1, 1]);
  // A change to a, which the read has sent, does not render anything for it.
  store.apply(parseText("a 1\n"));
  assert.deepEqual(waiting(), [undefined, 1, 1]);
  reader.close();
  assert.deepEqual(waiting(), [undefined, 0, 0]);
  assert.equal(reader.next(), undefined, "a closed read gives nothing more");
});

Deno.test("series added and removed between reads keep the render sorted (seeded)", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const next = random(seed);
    const pick = (n: number) => Math.floor(next() * n);
    // `kept` is read now and then, `fresh` only at the end: the orders they keep up to date
    // differently must give the same text, and it must be sorted. `model` holds what both
    // should hold, in plain maps, for renderFamily() to write as the expected text.
    const kept = new Store({ gaugeBehavior: "sum" });
    const fresh = new Store({ gaugeBehavior: "sum" });
    const model = new Map<string, Map<string, number>>();
    const push = (body: string) => {
      kept.apply(parseText(body));
      fresh.apply(parseText(body));
      for (const family of parseText(body)) {
        if (!model.has(family.name)) model.set(family.name, new Map());
        const series = model.get(family.name)!;
        for (const [i, key] of family.keys.entries()) {
          series.set(key, (series.get(key) ?? 0) + (family.values[i] as number));
        }
      }
    };
    for (let step = 0; step < 150; step++) {
      const roll = next();
      if (roll < 0.04) {
        // Enough new series at once that the push merges them into the order itself.
        let body = "";
        for (let i = 0; i < 1500; i++) body += `a{x="${pick(30)}",big="${step}-${i}"} 1\n`;
        push(body);
      } else if (roll < 0.6) {
        const name = ["a", "b", "c"][pick(3)];
        const lines = new Set<string>();
        for (let i = pick(6); i >= 0; i--) {
          const y = pick(2) === 0 ? `,y="é${pick(3)}"` : "";
          lines.add(`${name}{x="${pick(30)}"${y}} 1\n`);
        }
        push([...lines].join(""));
      } else if (roll < 0.75) {
        const x = String(pick(30));
        const removed = kept.delete([["x", x]]);
        assert.equal(fresh.delete([["x", x]]), removed);
        let count = 0;
        for (const [name, series] of model) {
          for (const key of series.keys()) {
            if (key.startsWith(`x="${x}"`) || key.includes(`,x="${x}"`)) {
              series.delete(key);
              count++;
            }
          }
          if (series.size === 0) model.delete(name);
        }
        assert.equal(removed, count);
      } else if (roll < 0.85) {
        const x = pick(30);
        const delta =
          `{"type":"gauge","name":"d","labels":{"x":"${x}"},"method":"set","value":${step}}`;
        kept.applyDeltas(parseDeltas(delta));
        fresh.applyDeltas(parseDeltas(delta));
        if (!model.has("d")) model.set("d", new Map());
        model.get("d")!.set(`x="${x}"`, step);
      } else if (roll < 0.95) {
        kept.render();
      } else {
        const reader = kept.read(); // a read left open while the store changes
        reader.next();
        if (pick(2) === 0) reader.close();
      }
    }
    const text = kept.render();
    assert.equal(text, fresh.render(), `seed ${seed}`);
    const expected = [...model.keys()].sort().map((name) =>
      renderFamily({
        name,
        type: name === "d" ? "gauge" : "untyped",
        help: undefined,
        series: model.get(name)!,
      })
    ).join("");
    assert.equal(text, expected, `seed ${seed}`);
    const keys = new Map<string, string[]>();
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const name = line.slice(0, line.indexOf("{"));
      if (!keys.has(name)) keys.set(name, []);
      keys.get(name)!.push(line.slice(name.length + 1, line.lastIndexOf("}")));
    }
    let count = 0;
    for (const [name, familyKeys] of keys) {
      assert.deepEqual(familyKeys, [...new Set(familyKeys)].sort(), `seed ${seed}: ${name}`);
      count += familyKeys.length;
    }
    assert.equal(count, kept.seriesCount);
  }
});

Deno.test("a read closed early stops the store keeping its view", () => {
  const store = storeWith(['a{x="1"} 1\nb 1\n']);
  const reader = store.read();
  assert.equal(decoder.decode(reader.next()!.plain), '# TYPE a untyped\na{x="1"} 1\n');
  assert.equal(store.readers, 1);
  reader.close();
  reader.close();
  assert.equal(store.readers, 0, "closing twice counts once");
  store.apply(parseText("b 1\n"));
  assert.equal(store.render(), '# TYPE a untyped\na{x="1"} 1\n# TYPE b untyped\nb 2\n');
});

Deno.test("Store.delete() matches escaped values exactly, not by prefix or inside values", () => {
  const store = storeWith([
    'c{job="a"} 1\nc{job="ab"} 1\nc{job="a\\\\",x="1"} 1\nc{x="job=\\"a\\""} 1\nc{job="a",z="\\",job=\\"b"} 1\n',
  ]);
  assert.equal(store.delete([["job", "a"]]), 2);
  assert.equal(
    store.render(),
    '# TYPE c untyped\nc{job="a\\\\",x="1"} 1\nc{job="ab"} 1\nc{x="job=\\"a\\""} 1\n',
  );
  assert.equal(store.delete([["job", "a\\"]]), 1);
  assert.equal(store.delete([["job", "b"]]), 0, "a value that looks like a label is not one");
});

Deno.test("--maxSeries refuses a push that would add too many series, whole", () => {
  const store = new Store({ gaugeBehavior: "replace", maxSeries: 3 });
  store.apply(parseText('c{a="1"} 1\nc{a="2"} 1\n'));
  const before = store.render();
  assert.throws(() => store.apply(parseText('c{a="1"} 1\nc{a="3"} 1\nc{a="4"} 1\n')), {
    name: "PushError",
    message:
      "the push would add 2 series to the 2 the gateway holds, more than its limit of 3 (--maxSeries)",
  });
  assert.equal(store.render(), before);
  // Held series are never refused, and one new series still fits.
  store.apply(parseText('c{a="1"} 5\nc{a="2"} 5\n'));
  store.apply(parseText('c{a="3"} 1\n'));
  assert.equal(store.seriesCount, 3);
  assert.throws(
    () => store.applyDeltas(parseDeltas('{"type":"counter","name":"d","method":"inc"}')),
    {
      message:
        "the push would add 1 series to the 3 the gateway holds, more than its limit of 3 (--maxSeries)",
    },
  );
  store.delete([["a", "1"]]);
  store.applyDeltas(parseDeltas('{"type":"counter","name":"d","method":"inc"}'));
  assert.equal(store.seriesCount, 3);
});

Deno.test("--seriesTTL drops idle series and their families, at render and on expire()", () => {
  let now = 1_000_000;
  const store = new Store({ gaugeBehavior: "replace", seriesTTL: 60_000, now: () => now });
  store.apply(parseText('c{a="1"} 1\nc{a="2"} 1\ng 1\n'));
  now += 30_000;
  store.apply(parseText('c{a="1"} 1\n'));
  assert.equal(store.expire(), 0);
  now += 30_000; // c{a="2"} and g are 60 s idle
  assert.equal(store.render(), '# TYPE c untyped\nc{a="1"} 2\n');
  assert.equal(store.seriesCount, 1);
  assert.equal(store.familyCount, 1);
  assert.equal(store.expiredCount, 2);
  now += 30_000;
  assert.equal(store.expire(), 1);
  assert.equal(store.render(), "");
  // A returning series starts over: Prometheus sees a counter reset, which rate() handles.
  store.apply(parseText('c{a="1"} 1\n'));
  assert.equal(store.render(), '# TYPE c untyped\nc{a="1"} 1\n');
});

Deno.test("--seriesTTL makes room under --maxSeries before a push is refused", () => {
  let now = 0;
  const store = new Store({
    gaugeBehavior: "replace",
    maxSeries: 1,
    seriesTTL: 1000,
    now: () => now,
  });
  store.apply(parseText("a 1\n"));
  assert.throws(() => store.apply(parseText("b 1\n")), { name: "PushError" });
  now = 1000;
  store.apply(parseText("b 1\n"));
  assert.equal(store.render(), "# TYPE b untyped\nb 1\n");
});
