// deno bench for remote write: capturing, encoding and compressing a 100k-series store, as one
// --remoteWriteInterval does. Run with `deno task bench`; figures are results, never asserted.

import { parseText } from "../lib/ingest/parse_text.ts";
import { batchSeries, RemoteWriteEncoder } from "../lib/expose/remote_write.ts";
import { snappyCompress } from "../lib/expose/snappy.ts";
import { Store } from "../lib/store/store.ts";
import { counterLines, typicalPush } from "./bodies.ts";

const store = new Store({ gaugeBehavior: "replace" });
store.apply(parseText(counterLines(100_000), [["job", "bench"]]));
for (let i = 0; i < 100; i++) store.apply(parseText(typicalPush(i), [["job", "typical"]]));
const encoder = new RemoteWriteEncoder([["replica", "r1"]]);

Deno.bench("remote write: capture, encode and compress a 100k-series store", () => {
  const families = store.capture();
  for (const batch of batchSeries(encoder.encode(families, Date.now()), 2000, 1 << 20)) {
    snappyCompress(batch.body);
  }
});
