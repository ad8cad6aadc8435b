// Scaling out on engines users run (docs/scaling.md), over real processes: three gateway
// replicas behind Debian's HAProxy with the shipped deploy/haproxy/haproxy.cfg, and a real
// Prometheus with the shipped recording rules.

import assert from "node:assert/strict";
import { type GatewayProcess, startGateway } from "../helpers/gateway_process.ts";
import { startHaproxy } from "../helpers/haproxy_process.ts";
import { startPrometheus } from "../helpers/prometheus_process.ts";
import { sampleValue } from "../helpers/self_metrics.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";

const RULES = new URL("../../deploy/prometheus/partial_sums.rules.yml", import.meta.url).pathname;

Deno.test("promtool check rules accepts the shipped partial-sums rules", async () => {
  const output = await new Deno.Command("promtool", { args: ["check", "rules", RULES] }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, text + new TextDecoder().decode(output.stderr));
  assert.ok(text.includes("SUCCESS: 4 rules found"), text);
});

/** Runs `work` on at most `concurrency` items at once. */
async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

async function post(url: string, body: string): Promise<number> {
  const response = await fetch(url, { method: "POST", body });
  await response.body?.cancel();
  return response.status;
}

async function scrape(gateway: GatewayProcess): Promise<string> {
  return await fetch(gateway.api + "/metrics").then((r) => r.text());
}

Deno.test("partial sums: round robin over three replicas, Prometheus' sum equals what was pushed", async () => {
  await using gw1 = await startGateway();
  await using gw2 = await startGateway();
  await using gw3 = await startGateway();
  const gateways = [gw1, gw2, gw3];
  await withTempDir(async (dir) => {
    await using haproxy = await startHaproxy(dir, gateways, "roundrobin");
    // 3000 pushes of one counter and one histogram, each a different increment.
    const pushes = Array.from({ length: 3000 }, (_, i) => i);
    let requests = 0;
    let observations = 0;
    let sum = 0;
    await forEachConcurrently(pushes, 16, async (i) => {
      const n = (i % 7) + 1;
      const body = `# TYPE requests_total counter
requests_total{code="200"} ${n}
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.25"} ${i % 2}
latency_seconds_bucket{le="+Inf"} 1
latency_seconds_sum ${n / 4}
latency_seconds_count 1
`;
      assert.equal(await post(`${haproxy.url}/metrics/job/scale`, body), 202);
      requests += n;
      observations += 1;
      sum += n / 4;
    });
    // Round robin: each replica holds a part, none the whole.
    const parts = await Promise.all(
      gateways.map(async (g) =>
        sampleValue(await scrape(g), 'requests_total{code="200",job="scale"}') ?? 0
      ),
    );
    assert.ok(parts.every((p) => p > 0 && p < requests), `parts ${parts}`);
    assert.equal(parts.reduce((a, b) => a + b), requests);

    const targets = gateways.map((g) => `"${new URL(g.api).host}"`).join(", ");
    // The scrape job of docs/scaling.md: each replica's series get gateway_replica; instance is
    // the same on every replica, so that only gateway_replica tells them apart.
    const config = `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["${dir}/rules.yml"]
scrape_configs:
  - job_name: aggregation-gateway
    honor_labels: true
    static_configs:
      - targets: [${targets}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: gateway_replica
      - target_label: instance
        replacement: aggregation-gateway
`;
    await Deno.writeTextFile(
      `${dir}/rules.yml`,
      (await Deno.readTextFile(RULES)).replace("interval: 15s", "interval: 1s"),
    );
    await using prometheus = await startPrometheus(dir, config);
    const expected = new Map([
      ['sum without (gateway_replica) (requests_total{gateway_replica!=""})', requests],
      ['sum without (gateway_replica) (latency_seconds_count{gateway_replica!=""})', observations],
      [
        'sum without (gateway_replica) (latency_seconds_bucket{le="0.25",gateway_replica!=""})',
        1500,
      ],
      ['sum without (gateway_replica) (latency_seconds_sum{gateway_replica!=""})', sum],
      ["gateway:requests_total:sum", requests],
      ['gateway:latency_seconds_bucket:sum{le="+Inf"}', observations],
    ]);
    const seen = new Map<string, string>();
    await waitUntil(
      () => `the sums, seen ${JSON.stringify([...seen])}:\n${prometheus.log()}`,
      async () => {
        for (const query of expected.keys()) {
          const result = await prometheus.query(query);
          seen.set(query, result.map((r) => `${JSON.stringify(r.metric)} ${r.value[1]}`).join(";"));
          if (
            result.length !== 1 || Number(result[0].value[1]) !== expected.get(query)
          ) return false;
        }
        return true;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const [counter] = await prometheus.query("gateway:requests_total:sum");
    assert.deepEqual(counter.metric, {
      __name__: "gateway:requests_total:sum",
      code: "200",
      instance: "aggregation-gateway",
      job: "scale",
    });
  });
});

/** Which replica holds each group's series: group name to the replica's index. */
async function owners(gateways: GatewayProcess[], groups: number): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>();
  for (const [index, gateway] of gateways.entries()) {
    const text = await scrape(gateway);
    for (const match of text.matchAll(/^owned_total\{group="(g\d+)",job="owned"\} /gm)) {
      found.set(match[1], [...found.get(match[1]) ?? [], index]);
    }
  }
  assert.equal(found.size, groups);
  return found;
}

Deno.test("one owner per group: HAProxy hashes the path, a stopped replica moves only its groups", async () => {
  const gateways = [await startGateway(), await startGateway(), await startGateway()];
  try {
    await withTempDir(async (dir) => {
      await using haproxy = await startHaproxy(dir, gateways);
      const groups = Array.from({ length: 300 }, (_, i) => `g${i}`);
      const body = (gauge: number) =>
        `# TYPE owned_total counter
owned_total 1
# TYPE level gauge
level ${gauge}
`;
      const pushAll = (round: number) =>
        forEachConcurrently(groups, 16, async (group) => {
          const n = Number(group.slice(1));
          const url = `${haproxy.url}/metrics/job/owned/group/${group}`;
          assert.equal(await post(url, body(n + round * 1000)), 202);
        });
      await pushAll(1);
      await pushAll(2);
      const before = await owners(gateways, groups.length);
      // Every series of a group lives on exactly one replica, and each replica owns some.
      for (const [group, on] of before) assert.equal(on.length, 1, `${group} on ${on}`);
      const shares = [0, 1, 2].map((i) => [...before.values()].filter(([o]) => o === i).length);
      assert.ok(shares.every((s) => s > 0), `shares ${shares}`);
      // Gauges replace, counters add, exactly, on the owner.
      for (const [group, [owner]] of before) {
        const text = await scrape(gateways[owner]);
        const labels = `{group="${group}",job="owned"}`;
        assert.equal(sampleValue(text, `owned_total${labels}`), 2);
        assert.equal(sampleValue(text, `level${labels}`), Number(group.slice(1)) + 2000);
      }

      // Stop the third replica; HAProxy's health checks take it out.
      await gateways[2].stop();
      await waitUntil(
        () => `HAProxy marks gw3 down:\n${haproxy.log()}`,
        () => haproxy.log().includes("Server gateways/gw3 is DOWN"),
        { timeoutMs: 30_000 },
      );
      await pushAll(3);

      const survivors = gateways.slice(0, 2);
      const after = await owners(survivors, groups.length);
      let moved = 0;
      for (const [group, [owner]] of before) {
        const [now] = after.get(group)!;
        assert.equal(after.get(group)!.length, 1, `${group} on one replica`);
        const labels = `{group="${group}",job="owned"}`;
        const text = await scrape(survivors[now]);
        assert.equal(sampleValue(text, `level${labels}`), Number(group.slice(1)) + 3000);
        if (owner === 2) {
          moved++;
          // It starts over on its new owner: only the push since the move.
          assert.equal(sampleValue(text, `owned_total${labels}`), 1);
        } else {
          // Untouched: same owner, every push counted once.
          assert.equal(now, owner, `${group} stayed on gw${owner + 1}`);
          assert.equal(sampleValue(text, `owned_total${labels}`), 3);
        }
      }
      const share = moved / groups.length;
      console.log(`groups moved when one of three replicas stopped: ${(share * 100).toFixed(1)}%`);
      assert.ok(share > 0.15 && share < 0.5, `moved ${share}, expected close to 1/3`);
    });
  } finally {
    for (const gateway of gateways) await gateway.stop("SIGKILL");
  }
});
