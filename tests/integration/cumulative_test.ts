// Cumulative input (`--rulesFile`) with real, unchanged clients that push running totals:
// prom-client processes (one restarted: a reset), Python's push_to_gateway in a loop, Go's
// client_golang, a gateway restart between two pushes, and Prometheus scraping the result.

import assert from "node:assert/strict";
// Test-only, pinned in tests/deno.lock: not in deno.json, whose imports the gateway downloads.
// deno-lint-ignore no-import-prefix
import client from "npm:prom-client@15.1.3";
import { startGateway } from "../helpers/gateway_process.ts";
import { type PrometheusProcess, startPrometheus } from "../helpers/prometheus_process.ts";
import { sampleValue, selfMetric } from "../helpers/self_metrics.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";

/** Debian's python3, which has python3-prometheus-client (a pyenv python on PATH may not). */
const PYTHON = "/usr/bin/python3";
const PUSHER = new URL("./testdata/prom_client_pusher.ts", import.meta.url).pathname;
const LOCK = new URL("../deno.lock", import.meta.url).pathname;
/**
 * Go's build cache, kept between runs: building client_golang from nothing takes most of a
 * minute on a loaded machine, from the cache a second. Go locks its cache for concurrent builds.
 */
const GO_CACHE = "/tmp/pag-test-gocache";

const RULES = `rules:
  - match: { job: workers }
    input: cumulative
    sources: [instance]
    gauge: sum
`;

async function run(command: string, args: string[], options: Deno.CommandOptions = {}) {
  const output = await new Deno.Command(command, { args, stdin: "null", ...options }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `${command} ${args.join(" ")} failed:\n${stderr}`);
  return new TextDecoder().decode(output.stdout);
}

async function scrape(api: string): Promise<string> {
  return await (await fetch(api + "/metrics")).text();
}

/**
 * The text with the value of the `name` line replaced by SUM, and that value: a sum of float
 * differences is exact only to rounding.
 */
function splitSum(text: string, name: string): [string, number] {
  let value = NaN;
  const replaced = text.replace(
    new RegExp(`^(${name}(?:\\{[^}]*\\})?) (\\S+)$`, "m"),
    (_, series, v) => {
      value = Number(v);
      return `${series} SUM`;
    },
  );
  return [replaced, value];
}

/** Runs the prom-client pusher as its own process; what it counted. */
async function promClientProcess(gateway: string, instance: string, rounds: number, step: number) {
  const out = await run(Deno.execPath(), [
    "run",
    `--lock=${LOCK}`,
    "--allow-net",
    "--allow-env",
    "--allow-read",
    PUSHER,
    gateway,
    instance,
    String(rounds),
    String(step),
  ]);
  return JSON.parse(out) as { counted: number; observed: number; busy: number };
}

Deno.test("cumulative: three prom-client processes push running totals, one restarted", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    await using gateway = await startGateway(["--rulesFile", `${dir}/rules.yaml`]);
    // b runs twice: its second run starts again at 0 and pushes 1, below the 24 it had: a reset.
    const [a, b, c] = await Promise.all([
      promClientProcess(gateway.api, "a", 12, 2),
      promClientProcess(gateway.api, "b", 6, 4).then(async (first) => {
        const second = await promClientProcess(gateway.api, "b", 6, 1);
        return {
          counted: first.counted + second.counted,
          observed: first.observed + second.observed,
          busy: second.busy,
        };
      }),
      promClientProcess(gateway.api, "c", 9, 3),
    ]);
    const counted = a.counted + b.counted + c.counted;
    const observed = a.observed + b.observed + c.observed;
    assert.equal(counted, 24 + 24 + 6 + 27);
    const slow = Math.ceil(12 / 2) + Math.ceil(6 / 2) * 2 + Math.ceil(9 / 2); // 0.5 s each
    const [text, sum] = splitSum(await scrape(gateway.api), "worker_job_seconds_sum");
    assert.ok(Math.abs(sum - ((observed - slow) * 0.05 + slow * 0.5)) < 1e-9, `sum ${sum}`);
    assert.equal(
      text,
      `# HELP worker_busy Busy threads.
# TYPE worker_busy gauge
worker_busy{job="workers"} ${a.busy + b.busy + c.busy}
# HELP worker_job_seconds Job time.
# TYPE worker_job_seconds histogram
worker_job_seconds_bucket{job="workers",le="0.1"} ${observed - slow}
worker_job_seconds_bucket{job="workers",le="1"} ${observed}
worker_job_seconds_bucket{job="workers",le="+Inf"} ${observed}
worker_job_seconds_sum{job="workers"} SUM
worker_job_seconds_count{job="workers"} ${observed}
# HELP worker_jobs_total Jobs done.
# TYPE worker_jobs_total counter
worker_jobs_total{job="workers",kind="resize"} ${counted}
`,
    );
    // b's restart was seen in the counter, the histogram's buckets and its _count.
    assert.ok(await selfMetric(gateway, "pag_source_resets_total") >= 2);
    assert.equal(await selfMetric(gateway, "pag_sources"), 9); // 3 sources × 3 series
  });
});

Deno.test("cumulative: Python push_to_gateway loops and Go Push() loops, each counted once", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    const binary = `${dir}/go_cumulative`;
    const source = new URL("./testdata/go_cumulative/main.go", import.meta.url).pathname;
    // GOPATH mode against Debian's golang-github-prometheus-client-golang-dev; no network.
    await run("go", ["build", "-o", binary, source], {
      env: {
        GO111MODULE: "off",
        GOPATH: "/usr/share/gocode",
        GOCACHE: GO_CACHE,
        GOFLAGS: "",
      },
    });
    await using gateway = await startGateway(["--rulesFile", `${dir}/rules.yaml`]);
    const python = `
import sys, time
from prometheus_client import CollectorRegistry, Counter, push_to_gateway
gateway, instance, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
registry = CollectorRegistry()
rows = Counter("py_rows", "Rows imported.", registry=registry)
for i in range(1, rounds + 1):
    rows.inc(i)
    push_to_gateway(gateway, job="workers", registry=registry, grouping_key={"instance": instance})
    time.sleep(0.02)
`;
    const host = new URL(gateway.api).host;
    await Promise.all([
      run(PYTHON, ["-c", python, host, "py-1", "10"]),
      run(PYTHON, ["-c", python, host, "py-2", "7"]),
      run(binary, [gateway.api, "go-1", "8"]),
      run(binary, [gateway.api, "go-2", "5"]),
    ]);
    const text = await scrape(gateway.api);
    const triangle = (n: number) => n * (n + 1) / 2;
    const line = (series: string) => text.split("\n").find((l) => l.startsWith(series + " "));
    // Python's rows_created and Go's job label and grouping: one aggregate series each.
    assert.equal(
      line('py_rows_total{job="workers"}'),
      `py_rows_total{job="workers"} ${triangle(10) + triangle(7)}`,
    );
    assert.equal(
      line('go_worker_jobs_total{job="workers"}'),
      `go_worker_jobs_total{job="workers"} ${triangle(8) + triangle(5)}`,
    );
    assert.equal(
      line('go_worker_job_seconds_count{job="workers"}'),
      'go_worker_job_seconds_count{job="workers"} 13',
    );
    assert.equal(
      line('go_worker_job_seconds_bucket{job="workers",le="1"}'),
      'go_worker_job_seconds_bucket{job="workers",le="1"} 13',
    );
    assert.equal(line("py_rows_created"), undefined);
    assert.equal(await selfMetric(gateway, "pag_source_resets_total"), 0);
  });
});

Deno.test("cumulative: a gateway restart between two pushes adds only the difference", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    const args = ["--rulesFile", `${dir}/rules.yaml`, "--persistenceFile", `${dir}/snapshot`];
    const registry = new client.Registry();
    const jobs = new client.Counter({ name: "jobs_total", help: "Jobs.", registers: [registry] });
    const target = { jobName: "workers", groupings: { instance: "long-lived" } };
    {
      await using first = await startGateway(args);
      jobs.inc(5);
      await new client.Pushgateway(first.api, {}, registry).push(target);
      jobs.inc(2);
      await new client.Pushgateway(first.api, {}, registry).push(target);
      assert.equal((await first.stop()).code, 0); // SIGTERM: the last snapshot is written
    }
    await using second = await startGateway(args);
    assert.equal(await selfMetric(second, "pag_sources"), 1);
    jobs.inc(4);
    await new client.Pushgateway(second.api, {}, registry).push(target); // 11 in all: +4
    assert.equal(
      await scrape(second.api),
      '# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total{job="workers"} 11\n',
    );
  });
});

Deno.test("cumulative: after a restart and after a reload, two pushes of one source count once", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    const args = ["--rulesFile", `${dir}/rules.yaml`, "--persistenceFile", `${dir}/snapshot`];
    const push = async (gateway: { api: string }, total: number) => {
      const response = await fetch(`${gateway.api}/metrics/job/workers/instance/a`, {
        method: "POST",
        body: `# TYPE jobs_total counter\njobs_total ${total}\n`,
      });
      assert.equal(response.status, 202, await response.text());
    };
    const total = async (gateway: { api: string }) =>
      sampleValue(await scrape(gateway.api), 'jobs_total{job="workers"}');
    {
      await using first = await startGateway(args);
      await push(first, 100);
      assert.equal((await first.stop()).code, 0); // SIGTERM: the last snapshot is written
    }
    {
      await using second = await startGateway(args);
      for (const value of [101, 102, 103]) await push(second, value);
      assert.equal(await total(second), 103);
      assert.equal(await selfMetric(second, "pag_sources"), 1);
      assert.equal(await selfMetric(second, "pag_series"), 1);
      // A reload of the same file, then two pushes: still only the differences.
      const reload = await fetch(second.lifecycle + "/-/reload", { method: "POST" });
      assert.equal(reload.status, 200, await reload.text());
      await push(second, 110);
      await push(second, 120);
      assert.equal(await total(second), 120);
      assert.equal(await selfMetric(second, "pag_sources"), 1);
      assert.equal((await second.stop()).code, 0);
    }
    // The snapshot written after all that still holds the source.
    await using third = await startGateway(args);
    assert.equal(await selfMetric(third, "pag_sources"), 1);
    await push(third, 125);
    assert.equal(await total(third), 125);
  });
});

Deno.test("cumulative: a DELETE of a source is written to the snapshot, so a crash does not bring it back", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    const snapshot = `${dir}/snapshot`;
    const args = [
      ...["--rulesFile", `${dir}/rules.yaml`, "--persistenceFile", snapshot],
      ...["--persistenceInterval", "1s"],
    ];
    {
      await using first = await startGateway(args);
      const pushed = await fetch(`${first.api}/metrics/job/workers/instance/a`, {
        method: "POST",
        body: "# TYPE jobs_total counter\njobs_total 5\n",
      });
      assert.equal(pushed.status, 202, await pushed.text());
      const saved = async () =>
        (await Deno.readTextFile(snapshot).catch(() => "")).includes("# sources");
      await waitUntil("the source to be written", saved, { timeoutMs: 30_000 });
      const deleted = await fetch(`${first.api}/metrics/job/workers/instance/a`, {
        method: "DELETE",
      });
      assert.equal(deleted.status, 202, await deleted.text());
      assert.equal(await selfMetric(first, "pag_sources"), 0);
      await waitUntil("the DELETE to be written", async () => !(await saved()), {
        timeoutMs: 30_000,
      });
      assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL"); // no last snapshot
    }
    await using second = await startGateway(args);
    assert.equal(await selfMetric(second, "pag_sources"), 0);
  });
});

Deno.test("cumulative: Prometheus scrapes the aggregate and increase() sees every count", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    await using gateway = await startGateway(["--rulesFile", `${dir}/rules.yaml`]);
    await using prometheus = await startPrometheus(
      dir,
      `global: { scrape_interval: 1s }
scrape_configs:
  - job_name: aggregation-gateway
    honor_labels: true
    static_configs: [{ targets: ["${new URL(gateway.api).host}"] }]
`,
    );
    const registry = new client.Registry();
    const jobs = new client.Counter({ name: "jobs_total", help: "Jobs.", registers: [registry] });
    const pushgateway = new client.Pushgateway(gateway.api, {}, registry);
    const push = async (instance: string, amount: number) => {
      jobs.inc(amount);
      await pushgateway.push({ jobName: "workers", groupings: { instance } });
    };
    await push("a", 3); // the first value Prometheus sees
    await waitUntil(
      "Prometheus to scrape the first value",
      async () => (await query(prometheus, 'jobs_total{job="workers"}')) === 3,
    );
    // Running totals pushed again and again: without cumulative input each would count again.
    for (let i = 0; i < 5; i++) await push("a", 2);
    await push("b", 100); // a new source: its 113 counts whole, once
    await waitUntil(
      "Prometheus to scrape the last value",
      async () => (await query(prometheus, 'jobs_total{job="workers"}')) === 126,
    );
    // No reset ever reached Prometheus, so increase() is exactly last - first.
    assert.equal(await query(prometheus, 'resets(jobs_total{job="workers"}[5m])'), 0);
    assert.equal(
      await query(
        prometheus,
        'max_over_time(jobs_total{job="workers"}[5m]) - min_over_time(jobs_total{job="workers"}[5m])',
      ),
      123,
    );
    const increase = await query(prometheus, 'increase(jobs_total{job="workers"}[5m])');
    // increase() extrapolates to the window's edges, never below what was counted.
    assert.ok(
      increase !== undefined && increase >= 123 && increase < 123 * 2,
      `increase ${increase}`,
    );
  });
});

/** The one value of an instant query, or undefined when it has none. */
async function query(prometheus: PrometheusProcess, promql: string): Promise<number | undefined> {
  const result = await prometheus.query(promql);
  return result.length === 1 ? Number(result[0].value[1]) : undefined;
}
