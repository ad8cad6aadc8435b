import assert from "node:assert/strict";
import { parseDeltas } from "../../lib/ingest/parse_json.ts";
import { parseSnapshotText, parseText } from "../../lib/ingest/parse_text.ts";
import { Store } from "../../lib/store/store.ts";
import {
  FAMILY_BYTES,
  familyBytes,
  pushBytesAtMost,
  seriesBytes,
  seriesBytesAtMost,
  seriesBytesOf,
  stringBytes,
  utf8Bytes,
} from "../../lib/core/store_bytes.ts";
import { random } from "../helpers/seeded.ts";

Deno.test("utf8Bytes() counts what TextEncoder writes, lone surrogates included", () => {
  const texts = ["", "plain", "café", "日本語", "😀x", "a\uD800b", "\uDC00", "é\u0800\uFFFF"];
  for (const text of texts) {
    assert.equal(utf8Bytes(text), new TextEncoder().encode(text).length, JSON.stringify(text));
  }
});

Deno.test("stringBytes() counts one byte a Latin-1 char, two for any other text", () => {
  assert.equal(stringBytes("abc"), 3);
  assert.equal(stringBytes("café"), 4);
  assert.equal(stringBytes("日本"), 4);
  assert.equal(stringBytes("ab€"), 6);
});

Deno.test("seriesBytesAtMost() and the key's length bound seriesBytesOf() on both sides", () => {
  const next = random(7);
  const chars = ["a", "é", "€", "😀", '\\"', "\uD800"];
  for (let round = 0; round < 500; round++) {
    let key = "";
    for (let i = Math.floor(next() * 40); i > 0; i--) key += chars[Math.floor(next() * 6)];
    for (const type of ["counter", "histogram", "summary"] as const) {
      const buckets = type === "histogram" ? 1 + Math.floor(next() * 20) : 0;
      const exact = seriesBytesOf("metric_name", type, key, buckets);
      const least = seriesBytes(11, type, key.length, key.length, Math.min(buckets, 1));
      assert.ok(least <= exact, `${JSON.stringify(key)} ${type}: ${least} > ${exact}`);
      assert.ok(seriesBytesAtMost(11, type, key.length, buckets) >= exact);
    }
  }
});

Deno.test("seriesBytesOf() counts a histogram's key once per bucket line", () => {
  const key = 'job="' + "x".repeat(1000) + '"';
  const one = seriesBytesOf("h", "histogram", key, 1);
  const many = seriesBytesOf("h", "histogram", key, 101);
  // Each bucket writes the key again, in the text and its gzip copy.
  assert.ok(many - one >= 100 * key.length * 1.5, `${many - one}`);
});

Deno.test("Store.bytes counts what is held and gives all of it back", async (t) => {
  let now = 0;
  const store = new Store({ gaugeBehavior: "replace", seriesTTL: 1000, now: () => now });
  const pushes = [
    '# HELP c Requests.\n# TYPE c counter\nc{a="1"} 1\nc{a="2"} 1\n',
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    // Other bounds: the series widens.
    '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    '# TYPE s summary\ns{quantile="0.5",x="日本"} 1\ns_sum{x="日本"} 1\ns_count{x="日本"} 1\n',
    '# HELP c A much longer help text than before.\n# TYPE c counter\nc{a="1"} 1\n',
  ];
  let last = 0;
  for (const body of pushes) {
    store.apply(parseText(body));
    assert.ok(store.bytes > last, `a push that adds something costs bytes: ${body}`);
    last = store.bytes;
  }
  await t.step("pushes of held series of unchanged shape cost nothing", () => {
    store.apply(parseText('# TYPE c counter\nc{a="1"} 5\nc{a="2"} 5\n'));
    store.apply(
      parseText(
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      ),
    );
    assert.equal(store.bytes, last);
  });
  await t.step("a delta counts its new series, then nothing", () => {
    store.applyDeltas(parseDeltas('{"type":"histogram","name":"d","method":"observe","value":1}'));
    assert.ok(store.bytes > last);
    last = store.bytes;
    store.applyDeltas(parseDeltas('{"type":"histogram","name":"d","method":"observe","value":2}'));
    assert.equal(store.bytes, last);
  });
  await t.step("DELETE and expiry give the bytes back, to the last one", () => {
    store.delete([["a", "1"]]);
    assert.ok(store.bytes < last);
    now = 5000;
    store.expire();
    assert.equal(store.seriesCount, 0);
    assert.equal(store.bytes, 0);
  });
  await t.step("a snapshot's families count as pushed ones do", () => {
    const pushed = new Store({ gaugeBehavior: "replace" });
    for (const body of pushes) pushed.apply(parseText(body));
    const restored = new Store({ gaugeBehavior: "replace" });
    for (const family of parseSnapshotText(pushed.render())) {
      restored.restore({ ...family, touched: new Map() });
    }
    assert.equal(restored.bytes, pushed.bytes);
  });
});

Deno.test("a family of one series costs what the measured constants say", () => {
  const store = new Store({ gaugeBehavior: "replace" });
  store.apply(parseText("m_total 1\n"));
  assert.equal(
    store.bytes,
    familyBytes("m_total", undefined) + seriesBytesOf("m_total", "untyped", "", 0),
  );
  assert.ok(store.bytes > FAMILY_BYTES);
});

Deno.test("pushBytesAtMost() bounds what the store counts for a push of new series", () => {
  const push = parseText(
    '# TYPE h histogram\nh_bucket{k="€",le="1"} 1\nh_bucket{k="€",le="+Inf"} 1\nh_sum{k="€"} 1\nh_count{k="€"} 1\nc{x="é"} 1\n',
  );
  const store = new Store({ gaugeBehavior: "replace" });
  store.apply(push);
  let most = 0;
  for (const family of push) {
    most += familyBytes(family.name, family.help) + pushBytesAtMost(family);
    assert.equal(pushBytesAtMost(family), pushBytesAtMost({ ...family, bytes: undefined }));
  }
  assert.ok(store.bytes <= most, `${store.bytes} > ${most}`);
});
