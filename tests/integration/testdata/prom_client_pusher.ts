// A long-lived prom-client process for tests/integration/cumulative_test.ts: counts, then
// pushes its running totals with push() every interval, never resetting its registry, as an
// unchanged worker does. Prints what it counted, as JSON, once its last push is answered.
//
// deno run -A prom_client_pusher.ts <gateway> <instance> <rounds> <step>

// Test-only, pinned in tests/deno.lock: not in deno.json, whose imports the gateway downloads.
// deno-lint-ignore no-import-prefix
import client from "npm:prom-client@15.1.3";

const [gateway, instance, rounds, step] = Deno.args;
const registry = new client.Registry();
const jobs = new client.Counter({
  name: "worker_jobs_total",
  help: "Jobs done.",
  labelNames: ["kind"],
  registers: [registry],
});
const seconds = new client.Histogram({
  name: "worker_job_seconds",
  help: "Job time.",
  buckets: [0.1, 1],
  registers: [registry],
});
const busy = new client.Gauge({
  name: "worker_busy",
  help: "Busy threads.",
  registers: [registry],
});
const pushgateway = new client.Pushgateway(gateway, {}, registry);
let counted = 0;
let observed = 0;
for (let round = 1; round <= Number(rounds); round++) {
  jobs.inc({ kind: "resize" }, Number(step));
  counted += Number(step);
  seconds.observe(round % 2 === 0 ? 0.05 : 0.5);
  observed++;
  busy.set(round);
  await pushgateway.push({ jobName: "workers", groupings: { instance } });
  await new Promise((resolve) => setTimeout(resolve, 20)); // the push interval
}
console.log(JSON.stringify({ counted, observed, busy: Number(rounds) }));
