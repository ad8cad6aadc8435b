// A real Prometheus (Debian's) scrapes a real gateway, and promtool checks what it serves.

import assert from "node:assert/strict";
import { startGateway } from "../helpers/gateway_process.ts";
import { type QuerySample, startPrometheus } from "../helpers/prometheus_process.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";

/** A push of every metric type with special values and escapes in labels and HELP. */
const EVERYTHING = `# HELP requests_total Requests "served" with \\\\ and\\nnewline.
# TYPE requests_total counter
requests_total{path="/a\\"b\\\\c\\nd",code="200"} 3
# HELP temperature_celsius Temperature.
# TYPE temperature_celsius gauge
temperature_celsius{room="a"} NaN
temperature_celsius{room="b"} +Inf
temperature_celsius{room="c"} -Inf
temperature_celsius{room="d"} -1.5e-7
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.5"} 1
latency_seconds_bucket{le="+Inf"} 2
latency_seconds_sum 1.5
latency_seconds_count 2
# HELP rpc_seconds RPC time.
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 1
rpc_seconds_sum 4
rpc_seconds_count 2
# HELP things Untyped things.
things{kind="grüße ✓"} 1e21
`;

/** Runs `promtool check metrics` on `text`; returns its exit code and output. */
async function promtoolCheck(text: string): Promise<[number, string]> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const output = await child.output();
  const decoder = new TextDecoder();
  return [output.code, decoder.decode(output.stdout) + decoder.decode(output.stderr)];
}

Deno.test("promtool check metrics accepts the scrape after a push of every type", async () => {
  await using gateway = await startGateway();
  const pushed = await fetch(gateway.api + "/metrics/job/check", {
    method: "POST",
    body: EVERYTHING,
  });
  assert.equal(pushed.status, 202);
  const scrape = await (await fetch(gateway.api + "/metrics")).text();
  assert.ok(scrape.includes('requests_total{code="200",job="check",path="/a\\"b\\\\c\\nd"} 3\n'));
  assert.ok(scrape.includes('temperature_celsius{job="check",room="a"} NaN\n'));
  assert.deepEqual(await promtoolCheck(scrape), [0, ""]);
  // The gateway's own metrics pass too.
  const own = await (await fetch(gateway.lifecycle + "/metrics")).text();
  assert.deepEqual(await promtoolCheck(own), [0, ""]);
  // And promtool does fail on broken text, so the checks above can fail.
  const [code] = await promtoolCheck('broken{le="1",le="2"} 1\n');
  assert.notEqual(code, 0);
});

Deno.test("Prometheus scrapes the gateway: pushed values arrive and up is 1", async () => {
  await using gateway = await startGateway();
  const pushed = await fetch(gateway.api + "/metrics/job/check/instance/batch-1", {
    method: "POST",
    body: EVERYTHING,
  });
  assert.equal(pushed.status, 202);

  await withTempDir(async (dir) => {
    const target = new URL(gateway.api).host;
    await using prometheus = await startPrometheus(
      dir,
      `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: aggregation-gateway
    honor_labels: true
    static_configs:
      - targets: ["${target}"]
`,
    );
    let up: QuerySample[] = [];
    let requests: QuerySample[] = [];
    await waitUntil(() => `a scrape by Prometheus:\n${prometheus.log()}`, async () => {
      up = await prometheus.query('up{job="aggregation-gateway"}');
      requests = await prometheus.query('requests_total{job="check"}');
      return up.length === 1 && requests.length === 1;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.equal(up[0].value[1], "1");
    assert.deepEqual(requests[0].metric, {
      __name__: "requests_total",
      code: "200",
      instance: "batch-1",
      job: "check",
      path: '/a"b\\c\nd',
    });
    assert.equal(requests[0].value[1], "3");
    const buckets = await prometheus.query('latency_seconds_bucket{job="check"}');
    assert.deepEqual(
      buckets.map((s) => [s.metric.le, s.value[1]]).sort(),
      [["+Inf", "2"], ["0.5", "1"]],
    );
    const things = await prometheus.query("things");
    assert.equal(things[0].metric.kind, "grüße ✓");
    assert.equal(things[0].value[1], "1e+21");
    const nan = await prometheus.query('temperature_celsius{room="a"}');
    assert.equal(nan[0].value[1], "NaN");
  });
});
