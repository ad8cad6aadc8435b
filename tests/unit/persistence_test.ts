import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { parseDeltas } from "../../lib/ingest/parse_json.ts";
import { parseText } from "../../lib/ingest/parse_text.ts";
import { loadSnapshot, saveSnapshot } from "../../lib/app/persistence.ts";
import {
  decodeSnapshot,
  encodeSnapshot,
  SNAPSHOT_HEADER,
  SnapshotError,
} from "../../lib/store/snapshot.ts";
import { Store } from "../../lib/store/store.ts";
import { random } from "../helpers/seeded.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

/** A snapshot in version 1, which had no last line: errors in it name their line. */
function asVersion1(text: string): string {
  return text.replace(SNAPSHOT_HEADER, "# prom-aggregation-gateway snapshot 1")
    .replace(/# end of snapshot: .*\n$/, "");
}

/** A store with every type, special values, escapes and a stray _created family. */
function fullStore(now: () => number): Store {
  // A TTL makes the store keep touch times, which the snapshot then carries.
  const store = new Store({ gaugeBehavior: "replace", seriesTTL: 3_600_000, now });
  store.apply(parseText(`# HELP c_total Counts with \\\\ and \\n.
# TYPE c_total counter
c_total{path="/a\\"b\\\\c\\nd"} 3
# TYPE g gauge
g{v="nan"} NaN
g{v="inf"} +Inf
g{v="small"} -1.5e-300
# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="+Inf"} 2
h_sum 0.30000000000000004
h_count 2
# TYPE s summary
s_sum 4
s_count 2
orphan_created 1700000000
`));
  store.applyDeltas(parseDeltas('{"type":"histogram","name":"d","method":"observe","value":0.2}'));
  return store;
}

Deno.test("a snapshot restores the store exactly: values, types, HELP and touch times", async () => {
  let now = 1_700_000_000_000;
  const original = fullStore(() => now);
  now += 5000;
  original.apply(parseText('# TYPE g gauge\ng{v="nan"} 7\n'));
  const text = encodeSnapshot(original);
  assert.ok(text.startsWith(SNAPSHOT_HEADER + "\n"));
  assert.ok(text.includes('g{v="nan"} 7 1700000005000\n'), text);
  assert.ok(text.includes('g{v="inf"} +Inf 1700000000000\n'), text);

  const restored = new Store({ gaugeBehavior: "replace", seriesTTL: 3000, now: () => now });
  assert.equal(await decodeSnapshot(text, restored), original.seriesCount);
  assert.equal(encodeSnapshot(restored), text);
  // The touch times came back: everything but g{v="nan"} is 5 s idle, past a 3 s TTL.
  assert.equal(restored.render(), '# TYPE g gauge\ng{v="nan"} 7\n');
});

Deno.test("a damaged snapshot is refused whole, naming the problem", async (t) => {
  const good = asVersion1(encodeSnapshot(fullStore(() => 1)));
  const lineOf = (start: string) => good.split("\n").findIndex((l) => l.startsWith(start)) + 1;
  // [name, text, exact message]
  const cases: [string, string, string][] = [
    [
      "an empty file",
      "",
      'not a snapshot: the first line is not "# prom-aggregation-gateway snapshot 3"',
    ],
    [
      "a scrape, not a snapshot",
      "# TYPE a gauge\na 1\n",
      'not a snapshot: the first line is not "# prom-aggregation-gateway snapshot 3"',
    ],
    [
      "a future version",
      "# prom-aggregation-gateway snapshot 4\n",
      'unsupported snapshot version "4" (this gateway reads 1, 2 and 3)',
    ],
    ["a truncated file", good.slice(0, good.indexOf("h_sum")), "histogram h has no _count"],
    [
      "a corrupted value",
      good.replace("s_count 2 ", "s_count two "),
      `line ${lineOf("s_count")}: invalid value "two" for metric "s_count"`,
    ],
    [
      "a series twice",
      good + 'g{v="inf"} 1 1\n',
      `line ${good.split("\n").length}: series g{v="inf"} appears twice in the push`,
    ],
  ];
  for (const [name, text, message] of cases) {
    await t.step(name, async () => {
      const store = new Store({ gaugeBehavior: "replace" });
      await assert.rejects(decodeSnapshot(text, store), (error) => {
        assert.ok(error instanceof SnapshotError);
        assert.equal(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("saveSnapshot() replaces the file atomically and loadSnapshot() reads it", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/aggregate.prom`;
    const store = new Store({ gaugeBehavior: "replace" });
    assert.equal(await loadSnapshot(path, store), undefined, "no file: a fresh start");
    await assert.rejects(loadSnapshot(`${dir}/missing/aggregate.prom`, store), {
      name: "SnapshotError",
      message:
        `cannot keep snapshot ${dir}/missing/aggregate.prom: folder ${dir}/missing does not exist`,
    });
    store.apply(parseText("a 1\n"));
    const bytes = await saveSnapshot(path, store);
    store.apply(parseText("a 1\nb 2\n"));
    await saveSnapshot(path, store);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["aggregate.prom"],
      "no temporary left",
    );
    assert.ok(bytes > 0);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const loaded = new Store({ gaugeBehavior: "replace" });
    assert.equal(await loadSnapshot(path, loaded), 2);
    assert.equal(loaded.render(), "# TYPE a untyped\na 2\n# TYPE b untyped\nb 2\n");
  });
});

Deno.test("loadSnapshot() refuses an unreadable or non-UTF-8 file with its path", async () => {
  await withTempDir(async (dir) => {
    const binary = `${dir}/binary`;
    await Deno.writeFile(binary, new Uint8Array([0xff, 0xfe]));
    await assert.rejects(loadSnapshot(binary, new Store({ gaugeBehavior: "replace" })), {
      name: "SnapshotError",
      message: `cannot read snapshot ${binary}: it is not valid UTF-8`,
    });
    await assert.rejects(loadSnapshot(dir, new Store({ gaugeBehavior: "replace" })), (error) => {
      assert.ok(error instanceof SnapshotError);
      assert.ok(error.message.startsWith(`cannot read snapshot ${dir}: `), error.message);
      return true;
    });
  });
});

Deno.test("without --seriesTTL a snapshot stamps every sample with its own moment", () => {
  const store = new Store({ gaugeBehavior: "replace" });
  store.apply(
    parseText('a{x="1"} 1\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'),
  );
  const body = `${SNAPSHOT_HEADER}\n# TYPE a untyped\na{x="1"} 1 42\n` +
    '# TYPE h histogram\nh_bucket{le="+Inf"} 1 42\nh_sum 1 42\nh_count 1 42\n';
  const crc = crc32(body).toString(16).padStart(8, "0");
  assert.equal(encodeSnapshot(store, 42), `${body}# end of snapshot: 2 series, crc32 ${crc}\n`);
});

Deno.test("a large snapshot is read in pieces of whole series, pausing between them", async () => {
  // 45k counters, and histograms and summaries of 12k series each: several pieces, some of
  // them beginning inside a family.
  let body = "# HELP big_total A counter.\n# TYPE big_total counter\n";
  for (let i = 0; i < 45_000; i++) body += `big_total{i="${i}"} ${i}\n`;
  body += "# TYPE lat histogram\n";
  for (let i = 0; i < 12_000; i++) {
    body += `lat_bucket{i="${i}",le="1"} 1\nlat_bucket{i="${i}",le="+Inf"} 2\n`;
    body += `lat_sum{i="${i}"} 1.5\nlat_count{i="${i}"} 2\n`;
  }
  body += "# TYPE rpc summary\n";
  for (let i = 0; i < 12_000; i++) body += `rpc_sum{i="${i}"} 3\nrpc_count{i="${i}"} 1\n`;
  const original = new Store({ gaugeBehavior: "replace" });
  original.apply(parseText(body));
  const text = encodeSnapshot(original, 42);

  const restored = new Store({ gaugeBehavior: "replace" });
  let pauses = 0;
  const pause = () => {
    pauses++;
    return Promise.resolve();
  };
  assert.equal(await decodeSnapshot(text, restored, { pause }), 69_000);
  assert.ok(pauses >= 5, `${pauses} pieces`);
  assert.equal(encodeSnapshot(restored, 42), text);

  // An error deep in the file names its line in the file, not in its piece.
  const lines = asVersion1(text).split("\n");
  const bad = lines.findIndex((line) => line.startsWith('lat_sum{i="11000"}'));
  lines[bad] = lines[bad].replace(" 1.5 ", " x ");
  await assert.rejects(decodeSnapshot(lines.join("\n"), new Store({ gaugeBehavior: "replace" })), {
    name: "SnapshotError",
    message: `line ${bad + 1}: invalid value "x" for metric "lat_sum"`,
  });
  // A series written twice in different pieces is refused, and the store left empty.
  const twice = text + 'big_total{i="0"} 1 42\n';
  const store = new Store({ gaugeBehavior: "replace" });
  await assert.rejects(decodeSnapshot(twice, store, { pause }), SnapshotError);
  assert.equal(store.seriesCount, 0);
});

Deno.test("snapshots read in pieces of any size restore the same store (seeded)", async () => {
  const next = random(77);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const values = ["a b", "x{y}", 'q\\"u', "l\\nm", "h_count", "", "ü", "1"];
  for (let round = 0; round < 40; round++) {
    let body = "";
    const families = 1 + Math.floor(next() * 5);
    for (let f = 0; f < families; f++) {
      const type = pick(["counter", "gauge", "histogram", "summary", "untyped"]);
      const name = `f${f}_${type}`;
      if (next() < 0.5) body += `# HELP ${name} help {x} \\n ${f}\n`;
      body += `# TYPE ${name} ${type}\n`;
      const series = 1 + Math.floor(next() * 6);
      for (let s = 0; s < series; s++) {
        const labels = `k="${pick(values)}",s="${s}"`;
        if (type === "histogram") {
          body += `${name}_bucket{${labels},le="1"} 1\n${name}_bucket{${labels},le="+Inf"} 2\n`;
          body += `${name}_sum{${labels}} 0.5\n${name}_count{${labels}} 2\n`;
        } else if (type === "summary") {
          body += `${name}_sum{${labels}} 3\n${name}_count{${labels}} 1\n`;
        } else {
          body += `${name}{${labels}} ${s + 1}\n`;
        }
      }
    }
    const original = new Store({ gaugeBehavior: "replace" });
    original.apply(parseText(body));
    const text = encodeSnapshot(original, 7);
    for (const pieceLines of [1, 2, 3, 5, 8]) {
      const restored = new Store({ gaugeBehavior: "replace" });
      const count = await decodeSnapshot(text, restored, {
        pause: () => Promise.resolve(),
        pieceLines,
      });
      assert.equal(count, original.seriesCount, `round ${round}, pieces of ${pieceLines}`);
      assert.equal(encodeSnapshot(restored, 7), text, `round ${round}, pieces of ${pieceLines}`);
    }
  }
});

Deno.test("a snapshot edited to an upper-case TYPE reads the same in pieces", async () => {
  const text = [
    "# prom-aggregation-gateway snapshot 1",
    "# TYPE h HISTOGRAM",
    'h_bucket{a="1",le="1"} 1 7',
    'h_bucket{a="1",le="+Inf"} 1 7',
    'h_sum{a="1"} 0.5 7',
    'h_count{a="1"} 1 7',
    'h_bucket{a="2",le="+Inf"} 2 7',
    'h_sum{a="2"} 1 7',
    'h_count{a="2"} 2 7',
    "",
  ].join("\n");
  const whole = new Store({ gaugeBehavior: "replace" });
  await decodeSnapshot(text, whole);
  const pieces = new Store({ gaugeBehavior: "replace" });
  await decodeSnapshot(text, pieces, { pieceLines: 1, pause: () => Promise.resolve() });
  assert.equal(pieces.render(), whole.render());
  assert.equal(whole.seriesCount, 2);
});

Deno.test("decodeSnapshot() reads a snapshot fed in chunks of any size, split anywhere", async () => {
  // Multi-byte chars split between chunks, the header and the last line split too.
  const store = fullStore(() => 1_700_000_000_000);
  store.apply(parseText('# HELP u Ünïcödé \u{1f600}.\n# TYPE u gauge\nu{v="\u{1f600}é"} 1\n'));
  const text = encodeSnapshot(store);
  for (const chunkBytes of [1, 2, 3, 5, 7, 64, 255, 256, 257, 1000]) {
    // Keeps touch times as the original does, so it writes the same timestamps.
    const restored = new Store({
      gaugeBehavior: "replace",
      seriesTTL: 3_600_000,
      now: () => 1_700_000_000_000,
    });
    const series = await decodeSnapshot(text, restored, {
      chunkBytes,
      pieceLines: 3,
      pause: () => Promise.resolve(),
    });
    assert.equal(series, store.seriesCount, `chunks of ${chunkBytes}`);
    assert.equal(encodeSnapshot(restored), text, `chunks of ${chunkBytes}`);
  }
});

Deno.test("an empty store's snapshot is its two lines, and reads back empty", async () => {
  const text = encodeSnapshot(new Store({ gaugeBehavior: "replace" }));
  const crc = crc32(SNAPSHOT_HEADER + "\n").toString(16).padStart(8, "0");
  assert.equal(text, `${SNAPSHOT_HEADER}\n# end of snapshot: 0 series, crc32 ${crc}\n`);
  const store = new Store({ gaugeBehavior: "replace" });
  assert.equal(await decodeSnapshot(text, store), 0);
  assert.equal(store.familyCount, 0);
});
