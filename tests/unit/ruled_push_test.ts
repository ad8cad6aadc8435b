import assert from "node:assert/strict";
import { DEFAULT_STALE_AFTER, Rules } from "../../lib/core/rules.ts";
import type { GaugeBehavior } from "../../lib/core/merge.ts";
import { parseText } from "../../lib/ingest/parse_text.ts";
import { entriesByTarget } from "../../lib/store/ruled_push.ts";
import { Store } from "../../lib/store/store.ts";

function workerStore(gauge?: GaugeBehavior): Store {
  const store = new Store({ gaugeBehavior: "replace" });
  store.rules = new Rules({
    rules: [{
      line: 1,
      labels: [["job", "worker"]],
      action: "keep",
      input: "cumulative",
      sources: ["instance"],
      staleAfter: DEFAULT_STALE_AFTER,
      gauge,
    }],
    default: "accept",
  });
  return store;
}

/** `# TYPE g3 gauge` and, for each k, a series of instance a (1) and one of instance b (2). */
function pairs(count: number): string {
  const lines = ["# TYPE g3 gauge"];
  for (let i = 0; i < count; i++) {
    lines.push(`g3{instance="a",job="worker",k="${i}"} 1`);
    lines.push(`g3{instance="b",job="worker",k="${i}"} 2`);
  }
  return lines.join("\n") + "\n";
}

Deno.test("entriesByTarget() groups the entries of shared targets in push order", () => {
  const target = Int32Array.from([0, 1, 0, 2, 1, 0]);
  const groups = entriesByTarget([0, 1, 2, 3, 4, 5], target, new Set([0, 1]));
  assert.deepEqual([...groups], [[0, [0, 2, 5]], [1, [1, 4]]]);
  assert.deepEqual([...entriesByTarget([5, 3], target, new Set([0]))], [[0, [5]]]);
});

Deno.test("a push of 50k pairs of gauge sources sums each pair, twice over", () => {
  const store = workerStore("sum");
  const body = pairs(50_000);
  for (let round = 0; round < 2; round++) {
    store.apply(parseText(body));
    assert.equal(store.seriesCount, 50_000);
    assert.equal(store.sourceCount, 100_000);
    const lines = store.render().split("\n");
    assert.equal(lines[0], "# TYPE g3 gauge");
    assert.equal(lines.length, 50_002);
    const values = new Set(lines.slice(1, -1).map((line) => line.split(" ")[1]));
    assert.deepEqual([...values], ["3"]);
    assert.ok(lines.includes('g3{job="worker",k="49999"} 3'));
  }
});

Deno.test("a push of 50k pairs of gauge sources under replace keeps each pair's last", () => {
  const store = workerStore();
  store.apply(parseText(pairs(50_000)));
  const lines = store.render().split("\n").slice(1, -1);
  assert.equal(lines.length, 50_000);
  assert.deepEqual([...new Set(lines.map((line) => line.split(" ")[1]))], ["2"]);
});

Deno.test("a cumulative gauge pushed again without TYPE keeps its value, as without rules", () => {
  for (const gauge of ["sum", undefined] as const) {
    const store = workerStore(gauge);
    const plain = new Store({ gaugeBehavior: "replace" });
    for (const body of ["# TYPE gg gauge\ngg 5\n", "gg 5\n", "gg 5\n", "gg 7\n"]) {
      const push = parseText(body, [["instance", "a"], ["job", "worker"]]);
      store.apply(push);
      plain.apply(push);
    }
    assert.equal(plain.render(), '# TYPE gg gauge\ngg{instance="a",job="worker"} 7\n');
    assert.equal(store.render(), '# TYPE gg gauge\ngg{job="worker"} 7\n');
    assert.equal(store.sourceCount, 1);
    assert.equal(store.resetCount, 0);
  }
});

Deno.test("a sample without TYPE joins a cumulative gauge of two sources as one of them", () => {
  const store = workerStore("sum");
  store.apply(parseText("# TYPE gg gauge\ngg 5\n", [["instance", "a"], ["job", "worker"]]));
  store.apply(parseText("# TYPE gg gauge\ngg 2\n", [["instance", "b"], ["job", "worker"]]));
  store.apply(parseText("gg 5\n", [["instance", "a"], ["job", "worker"]]));
  store.apply(parseText("gg 3\n", [["instance", "b"], ["job", "worker"]]));
  assert.equal(store.render(), '# TYPE gg gauge\ngg{job="worker"} 8\n');
  assert.equal(store.sourceCount, 2);
});
