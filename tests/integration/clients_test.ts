// The client libraries people already use, unchanged, pushing to a real gateway process:
// Python's prometheus_client and Go's client_golang (both from Debian), prom-client (npm).
// Each test asserts the exact series a scrape shows afterwards.

import assert from "node:assert/strict";
// Test-only packages are pinned here and in tests/deno.lock, never in deno.json or deno.lock:
// Deno downloads every npm package of those at each start of the gateway.
// deno-lint-ignore no-import-prefix
import client from "npm:prom-client@15.1.3";
import { startGateway } from "../helpers/gateway_process.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

/** Debian's python3, which has python3-prometheus-client (a pyenv python on PATH may not). */
const PYTHON = "/usr/bin/python3";

async function run(command: string, args: string[], options: Deno.CommandOptions = {}) {
  const output = await new Deno.Command(command, { args, stdin: "null", ...options }).output();
  const decoder = new TextDecoder();
  const stderr = decoder.decode(output.stderr);
  assert.equal(output.code, 0, `${command} ${args.join(" ")} failed:\n${stderr}`);
  return decoder.decode(output.stdout);
}

const scrape = (api: string) => fetch(api + "/metrics").then((r) => r.text());

Deno.test("Python prometheus_client: push, pushadd and delete, with / and space in the grouping", async () => {
  await using gateway = await startGateway();
  const script = `
import sys
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client import push_to_gateway, pushadd_to_gateway, delete_from_gateway

gateway, action = sys.argv[1], sys.argv[2]
job = "nightly import"            # a space: the client sends it as +
grouping = {"shard": "eu/west 1"}  # a slash: the client sends it as shard@base64
registry = CollectorRegistry()
rows = Counter("rows", "Rows imported.", ["table"], registry=registry)
rows.labels("users").inc(3)
step = Histogram("step_seconds", "Step time.", buckets=[0.5, 1], registry=registry)
step.observe(0.7)
lag = Summary("lag_seconds", "Lag.", registry=registry)
lag.observe(2)
last = Gauge("last_run", "Last run.", registry=registry)
last.set(42)
if action == "push":
    push_to_gateway(gateway, job=job, registry=registry, grouping_key=grouping)
elif action == "pushadd":
    pushadd_to_gateway(gateway, job=job, registry=registry, grouping_key=grouping)
else:
    delete_from_gateway(gateway, job=job, grouping_key=grouping)
`;
  const gatewayAddress = new URL(gateway.api).host;
  await run(PYTHON, ["-c", script, gatewayAddress, "push"]);
  await run(PYTHON, ["-c", script, gatewayAddress, "pushadd"]);
  const labels = 'job="nightly import",shard="eu/west 1"';
  // rows_created, step_seconds_created and lag_seconds_created are dropped.
  assert.equal(
    await scrape(gateway.api),
    `# HELP lag_seconds Lag.
# TYPE lag_seconds summary
lag_seconds_sum{${labels}} 4
lag_seconds_count{${labels}} 2
# HELP last_run Last run.
# TYPE last_run gauge
last_run{${labels}} 42
# HELP rows_total Rows imported.
# TYPE rows_total counter
rows_total{${labels},table="users"} 6
# HELP step_seconds Step time.
# TYPE step_seconds histogram
step_seconds_bucket{${labels},le="0.5"} 0
step_seconds_bucket{${labels},le="1"} 2
step_seconds_bucket{${labels},le="+Inf"} 2
step_seconds_sum{${labels}} 1.4
step_seconds_count{${labels}} 2
`,
  );
  await run(PYTHON, ["-c", script, gatewayAddress, "delete"]);
  assert.equal(await scrape(gateway.api), "");
});

Deno.test("prom-client: pushAdd, push and delete, no Content-Type and / percent-encoded", async () => {
  await using gateway = await startGateway(["--logLevel", "debug"]);
  const registry = new client.Registry();
  const signups = new client.Counter({
    name: "signups_total",
    help: "Sign-ups.",
    labelNames: ["plan"],
    registers: [registry],
  });
  const latency = new client.Histogram({
    name: "page_seconds",
    help: "Page time.",
    buckets: [0.1, 1],
    registers: [registry],
  });
  const pushgateway = new client.Pushgateway(gateway.api, {}, registry);
  const target = { jobName: "web/shop", groupings: { instance: "pod 1" } };

  signups.inc({ plan: "pro" }, 2);
  latency.observe(0.05);
  await pushgateway.pushAdd(target);
  registry.resetMetrics(); // push increments, not totals
  signups.inc({ plan: "pro" });
  latency.observe(0.5);
  await pushgateway.push(target);

  const labels = 'instance="pod 1",job="web/shop"';
  assert.equal(
    await scrape(gateway.api),
    `# HELP page_seconds Page time.
# TYPE page_seconds histogram
page_seconds_bucket{${labels},le="0.1"} 1
page_seconds_bucket{${labels},le="1"} 2
page_seconds_bucket{${labels},le="+Inf"} 2
page_seconds_sum{${labels}} 0.55
page_seconds_count{${labels}} 2
# HELP signups_total Sign-ups.
# TYPE signups_total counter
signups_total{${labels},plan="pro"} 3
`,
  );
  await pushgateway.delete(target);
  assert.equal(await scrape(gateway.api), "");
});

Deno.test("client_golang push: Add, Push and Delete, in protobuf", async () => {
  await withTempDir(async (dir) => {
    const binary = `${dir}/pusher`;
    const source = new URL("./testdata/go_pusher/main.go", import.meta.url).pathname;
    // GOPATH mode against Debian's golang-github-prometheus-client-golang-dev; no network.
    await run("go", ["build", "-o", binary, source], {
      env: {
        GO111MODULE: "off",
        GOPATH: "/usr/share/gocode",
        GOCACHE: `${dir}/cache`,
        GOFLAGS: "",
      },
    });
    await using gateway = await startGateway(["--logLevel", "debug"]);
    await run(binary, [gateway.api, "add"]);
    await run(binary, [gateway.api, "push"]);
    const labels = 'job="go batch",region="eu/west"';
    assert.equal(
      await scrape(gateway.api),
      `# HELP go_job_bytes Job size.
# TYPE go_job_bytes summary
go_job_bytes_sum{${labels}} 600
go_job_bytes_count{${labels}} 2
# HELP go_job_seconds Job time.
# TYPE go_job_seconds histogram
go_job_seconds_bucket{${labels},le="0.1"} 0
go_job_seconds_bucket{${labels},le="1"} 2
go_job_seconds_bucket{${labels},le="+Inf"} 2
go_job_seconds_sum{${labels}} 1
go_job_seconds_count{${labels}} 2
# HELP go_jobs_total Jobs done.
# TYPE go_jobs_total counter
go_jobs_total{job="go batch",kind="resize",region="eu/west"} 8
# HELP go_queue Queue length.
# TYPE go_queue gauge
go_queue{${labels}} 7
`,
    );
    // The pushes arrived as protobuf, not as text.
    const accepted = gateway.lines.filter((l) => l.includes('msg="push accepted"'));
    assert.equal(accepted.length, 2);
    assert.ok(accepted.every((l) => l.includes("format=protobuf")), accepted.join("\n"));
    await run(binary, [gateway.api, "delete"]);
    assert.equal(await scrape(gateway.api), "");
  });
});
