// Measures what the store really holds per series and per family, beside what `store_bytes.ts`
// estimates (`pag_store_bytes`, the count `--maxStoreBytes` limits): the check behind its
// constants. Run with
//   deno run --allow-run --allow-read --v8-flags=--expose-gc bench/store_bytes.ts
// Each case runs in a process of its own: it fills a store, reads it whole once as plain text
// and once gzipped (so the pieces of both are kept, as a scraped store keeps them), and takes
// Deno.memoryUsage() heapUsed + external after forced garbage collections, before and after.

import { deflatePiece } from "../lib/expose/gzip.ts";
import { parseText } from "../lib/ingest/parse_text.ts";
import { Store } from "../lib/store/store.ts";

interface Case {
  /** What is counted: series, families or histogram series. */
  unit: string;
  count: number;
  /** The text of `n` units from the `from`th on. */
  body: (from: number, n: number) => string;
}

const key = (i: number) => `instance="i${i}",job="fill",kind="k1",source="host-7"`;
/** Long label values, as a hostile sender writes them: 8 labels of 4000 random letters. */
const longKey = (i: number) =>
  Array.from({ length: 8 }, (_, l) => `l${l}="${letters(4000, i * 8 + l)}"`).join(",");

function letters(n: number, seed: number): string {
  let s = "";
  let x = seed + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s += String.fromCharCode(97 + (x >> 16) % 26);
  }
  return s;
}

const CASES: Record<string, Case> = {
  series: {
    unit: "series",
    count: 100_000,
    body: (from, n) => lines(n, (i) => `events_total{${key(from + i)}} ${i}`),
  },
  families: {
    unit: "family",
    count: 100_000,
    body: (from, n) => lines(n, (i) => `metric_${from + i}_total{${key(1000)}} ${i}`),
  },
  histograms: {
    unit: "histogram series (12 buckets)",
    count: 20_000,
    body: (from, n) => {
      let text = "# TYPE h histogram\n";
      for (let i = 0; i < n; i++) {
        const k = key(from + i);
        for (const le of ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5"]) {
          text += `h_bucket{${k},le="${le}"} 1\n`;
        }
        text += `h_bucket{${k},le="5"} 1\nh_bucket{${k},le="10"} 1\nh_bucket{${k},le="+Inf"} 1\n`;
        text += `h_sum{${k}} 1\nh_count{${k}} 1\n`;
      }
      return text;
    },
  },
  long: {
    unit: "series with 32 KB of random labels",
    count: 2_000,
    body: (from, n) => lines(n, (i) => `long_total{${longKey(from + i)}} ${i}`),
  },
};

function lines(n: number, line: (i: number) => string): string {
  let text = "";
  for (let i = 0; i < n; i++) text += line(i) + "\n";
  return text;
}

function used(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
  for (let i = 0; i < 4; i++) gc();
  const memory = Deno.memoryUsage();
  return memory.heapUsed + memory.external;
}

function measure(name: string): void {
  const { count, body } = CASES[name];
  const store = new Store({ gaugeBehavior: "replace", seriesTTL: 3_600_000 });
  const before = used();
  const chunk = Math.max(1, Math.floor(20_000_000 / body(0, 1).length / 4));
  for (let from = 0; from < count; from += chunk) {
    store.apply(parseText(body(from, Math.min(chunk, count - from))));
  }
  for (const gzip of [false, true]) {
    const reader = store.read();
    for (let piece; (piece = reader.next()) !== undefined;) {
      if (gzip) piece.deflated ??= deflatePiece(piece.plain);
    }
  }
  const measured = (used() - before) / count;
  console.log(
    JSON.stringify({ measured, estimated: store.bytes / count, held: store.seriesCount }),
  );
}

if (import.meta.main) {
  if (Deno.args[0] !== undefined) {
    measure(Deno.args[0]);
  } else {
    for (const [name, { unit }] of Object.entries(CASES)) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--v8-flags=--expose-gc", import.meta.filename!, name],
        stderr: "inherit",
      }).output();
      const { measured, estimated } = JSON.parse(new TextDecoder().decode(output.stdout));
      console.log(
        `${unit}: measured ${Math.round(measured)} bytes, estimated ${Math.round(estimated)} ` +
          `(${(estimated / measured).toFixed(2)}x)`,
      );
    }
  }
}
