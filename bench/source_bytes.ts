// Measures what the store really holds per source series of cumulative input (`--rulesFile`,
// `input: cumulative`), beside what `sourceBytes` in `store/sources.ts` estimates (counted in
// `pag_store_bytes` and against `--maxStoreBytes`). Run with
//   deno run --v8-flags=--expose-gc bench/source_bytes.ts [counter|gauge]
// It pushes 100k counter (or gauge) series from 100k sources (one instance each) into one
// aggregate series, so nearly all the growth is the sources', and takes Deno.memoryUsage()
// heapUsed + external after forced garbage collections, before and after.

import { DEFAULT_STALE_AFTER, Rules } from "../lib/core/rules.ts";
import { parseText } from "../lib/ingest/parse_text.ts";
import { Store } from "../lib/store/store.ts";

const SOURCES = 100_000;
const TYPE = Deno.args[0] ?? "counter";
const BATCH = 1000;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

function used(): number {
  for (let i = 0; i < 4; i++) gc!();
  const memory = Deno.memoryUsage();
  return memory.heapUsed + memory.external;
}

const store = new Store({ gaugeBehavior: "replace" });
store.rules = new Rules({
  rules: [{
    line: 1,
    labels: [],
    action: "keep",
    input: "cumulative",
    sources: ["instance"],
    staleAfter: DEFAULT_STALE_AFTER,
  }],
  default: "accept",
});
const before = used();
for (let from = 0; from < SOURCES; from += BATCH) {
  let text = `# TYPE events_total ${TYPE}\n`;
  for (let i = from; i < from + BATCH; i++) {
    text += `events_total{instance="worker-${i}.pods.example",job="fill",kind="k1"} ${i}\n`;
  }
  store.apply(parseText(text));
}
const after = used();
console.log(
  `${SOURCES} ${TYPE} sources (keys of ${
    `instance="worker-${SOURCES}.pods.example",job="fill",kind="k1"`.length
  } chars): ` +
    `measured ${((after - before) / SOURCES).toFixed(0)} bytes per source, ` +
    `estimated ${(store.bytes / SOURCES).toFixed(0)} (pag_store_bytes / sources)`,
);
