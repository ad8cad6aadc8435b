// Run by retention_test.ts with --v8-flags=--expose-gc: pushes bodies of 1 MB each (a long
// comment and a few series of new families and groupings) through the API handler, then prints
// how much the heap grew. The gateway keeps names, HELP, keys and cache entries from these
// bodies; if any of them were a view into its body, every body would stay in memory.

import { createApiHandler } from "../../../lib/http/api.ts";
import { SelfMetrics } from "../../../lib/http/self_metrics.ts";
import { Store } from "../../../lib/store/store.ts";
import { createSilentLogger } from "../../helpers/silent_logger.ts";

const gc = (globalThis as unknown as { gc: () => void }).gc;
const handle = createApiHandler({
  store: new Store({ gaugeBehavior: "replace" }),
  metrics: new SelfMetrics(),
  logger: createSilentLogger(),
  cors: { allowAll: false, origins: new Set() },
  authUsers: new Map(),
  maxBodyBytes: 4 << 20,
  labelLimits: { maxLabels: 64, maxValueLength: 4096 },
});
const filler = "# " + "x".repeat(1 << 20) + "\n";
gc();
const before = Deno.memoryUsage().heapUsed;
for (let i = 0; i < 100; i++) {
  const body = filler +
    `# HELP family_number_${i} Help text long enough to be a slice.\n` +
    `# TYPE family_number_${i} counter\n` +
    `family_number_${i}{label="a value long enough to be a slice"} 1\n` +
    `family_number_${i}{label="another value long enough"} 2\n`;
  for (let repeat = 0; repeat < 3; repeat++) {
    const response = await handle(
      new Request(`http://gateway.test/metrics/job/retention/instance/i${i}`, {
        method: "POST",
        body,
      }),
    );
    if (response.status !== 202) throw new Error(`push ${i}: ${response.status}`);
  }
}
gc();
console.log(Deno.memoryUsage().heapUsed - before);
