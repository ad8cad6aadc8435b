// deno bench for the hot paths: parse, merge into a large store, render a large store.
// Run with `deno task bench`; figures are results, never asserted.

import { parseText, parseTextBody } from "../lib/ingest/parse_text.ts";
import { SeriesCache } from "../lib/ingest/series_cache.ts";
import { deflatePiece, GzipSum } from "../lib/expose/gzip.ts";
import { Store } from "../lib/store/store.ts";
import { counterLines, typicalPush } from "./bodies.ts";

const typical = typicalPush();
const large = counterLines(100_000);

Deno.bench("parseText() a 110-sample push", { group: "parse", baseline: true }, () => {
  parseText(typical, [["job", "bench"]]);
});

// A sender's later pushes: the same series with new values, read from the body's bytes by its
// template, as the API reads them.
const rounds = Array.from({ length: 16 }, (_, round) => typicalPush(0, round));
const roundBodies = rounds.map((text) => new TextEncoder().encode(text));
const decoder = new TextDecoder();
const decode = (body: Uint8Array) => decoder.decode(body);
const templateCache = new SeriesCache();
const readBody = (i: number) =>
  parseTextBody(roundBodies[i], decode, false, [["job", "bench"]], undefined, templateCache);
let round = 0;
Deno.bench(
  "parseTextBody() the same series with new values (template)",
  { group: "parse" },
  () => {
    readBody(round++ % rounds.length);
  },
);

// The same series in a body that differs beyond its values each time (here a comment), so
// that no template fits: parsed in full with the series cache, and a template made.
const changed = rounds.map((body, i) => new TextEncoder().encode(`# push ${i}\n${body}`));
const seriesCache = new SeriesCache();
Deno.bench(
  "parseTextBody() the same series, body changed beyond values (series cache)",
  { group: "parse" },
  () => {
    const body = changed[round++ % changed.length];
    parseTextBody(body, decode, false, [["job", "bench"]], undefined, seriesCache);
  },
);

Deno.bench("parseText() a 100k-line body", { group: "parse" }, () => {
  parseText(large);
});

const full = new Store({ gaugeBehavior: "replace" });
full.apply(parseText(large));
const typicalParsed = parseText(typical, [["job", "bench"]]);

Deno.bench(
  "Store.apply() a 110-sample push into a store of 100k series",
  { group: "merge" },
  () => {
    full.apply(typicalParsed);
  },
);

Deno.bench(
  "parse (template) + apply a 110-sample push into a store of 100k series",
  { group: "merge" },
  () => {
    full.apply(readBody(round++ % rounds.length));
  },
);

const rendered = new Store({ gaugeBehavior: "replace" });
rendered.apply(parseText(large));

/** Reads the whole store as a scrape does: every piece, compressed for gzip if `gzip`. */
function scrape(gzip: boolean): void {
  const reader = rendered.read();
  const sum = new GzipSum();
  for (let piece; (piece = reader.next()) !== undefined;) {
    if (!gzip) continue;
    sum.add(piece.plain);
    piece.deflated ??= deflatePiece(piece.plain);
  }
  if (gzip) sum.trailer();
}

Deno.bench("read 100k series after a change", { group: "render", baseline: true }, () => {
  rendered.apply(
    parseText('# TYPE events_total counter\nevents_total{source="host-1",kind="k0"} 1\n'),
  );
  scrape(false);
});

let added = 0;
Deno.bench("read 100k series after a new one", { group: "render" }, () => {
  rendered.apply(
    parseText(`# TYPE events_total counter\nevents_total{source="new",kind="n${added++}"} 1\n`),
  );
  scrape(false);
});

// Series that came in no particular order, as from many senders: sorting them all again is
// several times slower than sorting series that came in runs, as the ones above did.
const shuffled = new Store({ gaugeBehavior: "replace" });
{
  const lines = large.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
  let seed = 1;
  for (let i = lines.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [lines[i], lines[j]] = [lines[j], lines[i]];
  }
  shuffled.apply(parseText("# TYPE events_total counter\n" + lines.join("\n") + "\n"));
  shuffled.render();
}

let shuffledAdded = 0;
Deno.bench("read 100k series that came in no order, after a new one", { group: "render" }, () => {
  shuffled.apply(
    parseText(
      `# TYPE events_total counter\nevents_total{source="new",kind="n${shuffledAdded++}"} 1\n`,
    ),
  );
  const reader = shuffled.read();
  while (reader.next() !== undefined);
});

Deno.bench("read 100k series, unchanged", { group: "render" }, () => {
  scrape(false);
});

Deno.bench("read and gzip 100k series after a change (as the scrape)", { group: "render" }, () => {
  rendered.apply(
    parseText('# TYPE events_total counter\nevents_total{source="host-1",kind="k0"} 2\n'),
  );
  scrape(true);
});

Deno.bench("read and gzip 100k series, unchanged (CRC-32 only)", { group: "render" }, () => {
  scrape(true);
});
