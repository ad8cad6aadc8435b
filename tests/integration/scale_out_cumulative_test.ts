// Cumulative input (--rulesFile, `input: cumulative`) on replicas behind Debian's HAProxy with the
// shipped deploy/haproxy/haproxy.cfg (docs/scaling.md): exact while each source keeps its owner;
// what a lost replica, and its return, do to the sum; and why partial sums (round robin) cannot
// take running totals at all.

import assert from "node:assert/strict";
import { type GatewayProcess, startGateway } from "../helpers/gateway_process.ts";
import { startHaproxy } from "../helpers/haproxy_process.ts";
import { freePort } from "../helpers/free_port.ts";
import { sampleValue, selfMetric } from "../helpers/self_metrics.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";

const RULES = `rules:
  - match: { metric: "work_.*" }
    input: cumulative
    sources: [instance]
`;

/** The running totals of one long-lived sender, and everything it counted in all its lives. */
class Sender {
  /** This life's running totals, as a client library's registry holds them. */
  life = { done: 0, fast: 0, count: 0, sum: 0 };
  /** Every life's counts together: what the sender really counted. */
  counted = { done: 0, fast: 0, count: 0, sum: 0 };
  round = 0;
  constructor(readonly index: number) {}
  get name(): string {
    return `w${this.index}`;
  }
  /** One round of work: done grows by index+1, one observation of 0.5 s or 2 s. */
  work(): void {
    this.round++;
    const fast = (this.round + this.index) % 2;
    for (const totals of [this.life, this.counted]) {
      totals.done += this.index + 1;
      totals.fast += fast;
      totals.count += 1;
      totals.sum += fast ? 0.5 : 2; // halves: every sum is exact in binary
    }
  }
  /** The process restarts: its registry starts again from 0. */
  restart(): void {
    this.life = { done: 0, fast: 0, count: 0, sum: 0 };
  }
  /** The push of this life's running totals; worker_round is no rule's: a gauge that replaces. */
  body(): string {
    const { done, fast, count, sum } = this.life;
    return `# TYPE work_done_total counter
work_done_total{kind="a"} ${done}
# TYPE work_seconds histogram
work_seconds_bucket{le="1"} ${fast}
work_seconds_bucket{le="+Inf"} ${count}
work_seconds_sum ${sum}
work_seconds_count ${count}
# TYPE worker_round gauge
worker_round ${this.round}
`;
  }
}

type Totals = Sender["life"];
const ZERO: Totals = { done: 0, fast: 0, count: 0, sum: 0 };
const add = (a: Totals, b: Totals): Totals => ({
  done: a.done + b.done,
  fast: a.fast + b.fast,
  count: a.count + b.count,
  sum: a.sum + b.sum,
});
const sub = (a: Totals, b: Totals): Totals => ({
  done: a.done - b.done,
  fast: a.fast - b.fast,
  count: a.count - b.count,
  sum: a.sum - b.sum,
});
const total = (list: Totals[]): Totals => list.reduce(add, ZERO);

async function post(url: string, body: string): Promise<number> {
  const response = await fetch(url, { method: "POST", body });
  await response.body?.cancel();
  return response.status;
}

/** What one replica holds: the aggregate (0 when absent) and which senders' groups it has. */
async function holdings(gateway: GatewayProcess): Promise<{ totals: Totals; groups: string[] }> {
  const text = await fetch(gateway.api + "/metrics").then((r) => r.text());
  const value = (series: string) => sampleValue(text, series) ?? 0;
  assert.ok(!text.includes('work_done_total{instance="'), "the source label is aggregated away");
  return {
    totals: {
      done: value('work_done_total{job="worker",kind="a"}'),
      fast: value('work_seconds_bucket{job="worker",le="1"}'),
      count: value('work_seconds_count{job="worker"}'),
      sum: value('work_seconds_sum{job="worker"}'),
    },
    groups: [...text.matchAll(/^worker_round\{instance="(w\d+)",job="worker"\} /gm)].map((m) =>
      m[1]
    ),
  };
}

/** The round each replica's worker_round gauge shows for `sender`, by replica index. */
async function roundsShown(gateways: GatewayProcess[], sender: Sender): Promise<number[]> {
  return await Promise.all(gateways.map(async (g) => {
    const text = await fetch(g.api + "/metrics").then((r) => r.text());
    return sampleValue(text, `worker_round{instance="${sender.name}",job="worker"}`) ?? 0;
  }));
}

Deno.test("cumulative input, one owner per group: exact in place; a lost replica's and a returning replica's groups counted again", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    // gw3 on fixed ports with a snapshot, so that it comes back where HAProxy expects it.
    const gw3Ports = ["--apiListen", `127.0.0.1:${freePort()}`];
    gw3Ports.push("--lifecycleListen", `127.0.0.1:${freePort()}`);
    const gw3Args = [
      "--rulesFile",
      `${dir}/rules.yaml`,
      "--persistenceFile",
      `${dir}/gw3.snapshot`,
      ...gw3Ports,
    ];
    const gateways = [
      await startGateway(["--rulesFile", `${dir}/rules.yaml`]),
      await startGateway(["--rulesFile", `${dir}/rules.yaml`]),
      await startGateway(gw3Args),
    ];
    try {
      await using haproxy = await startHaproxy(dir, gateways);
      const senders = Array.from({ length: 12 }, (_, i) => new Sender(i));
      // Each sender pushes to its own group path, which holds its source label: the path is
      // what HAProxy hashes, so the source stays on one replica.
      const pushRound = () =>
        Promise.all(senders.map(async (s) => {
          s.work();
          const url = `${haproxy.url}/metrics/job/worker/instance/${s.name}`;
          assert.equal(await post(url, s.body()), 202, s.name);
        }));
      const restarting = senders[5];
      for (let round = 1; round <= 6; round++) {
        if (round === 4) restarting.restart(); // totals drop: a reset
        await pushRound();
      }

      // In place: each group on exactly one replica, whose aggregate is exactly the sum of what
      // its senders counted, the restarted one's two lives included.
      const before = await Promise.all(gateways.map(holdings));
      const owner = new Map<string, number>();
      for (const [index, { groups }] of before.entries()) {
        for (const group of groups) {
          assert.equal(owner.get(group), undefined, `${group} on two replicas`);
          owner.set(group, index);
        }
      }
      assert.equal(owner.size, senders.length);
      const ownedBy = (index: number) => senders.filter((s) => owner.get(s.name) === index);
      for (const [index, held] of before.entries()) {
        assert.deepEqual(
          held.totals,
          total(ownedBy(index).map((s) => s.counted)),
          `gw${index + 1}`,
        );
        // Two source series per sender (the counter, the histogram), on its owner only.
        assert.equal(
          await selfMetric(gateways[index], "pag_sources"),
          2 * ownedBy(index).length,
        );
        assert.equal(
          await selfMetric(gateways[index], "pag_source_resets_total"),
          owner.get(restarting.name) === index ? 2 : 0, // the counter and the histogram
        );
      }
      assert.deepEqual(
        total(before.map((h) => h.totals)),
        total(senders.map((s) => s.counted)),
      );
      const moved = ownedBy(2);
      const stayed = senders.filter((s) => owner.get(s.name) !== 2);
      // HAProxy's hashing of these 12 paths is fixed: gw3 owns some, not all.
      assert.ok(moved.length > 0 && stayed.length > 0, `gw3 owns ${moved.length}`);
      const movedLifeAtStop = total(moved.map((s) => s.life));
      const countedAtStop = total(senders.map((s) => s.counted));

      // gw3 is lost (SIGTERM: it writes its snapshot); HAProxy moves its groups.
      assert.equal((await gateways[2].stop()).code, 0);
      await waitUntil(
        () => `HAProxy marks gw3 down:\n${haproxy.log()}`,
        () => haproxy.log().includes("Server gateways/gw3 is DOWN"),
        { timeoutMs: 30_000 },
      );
      for (let round = 1; round <= 2; round++) await pushRound();
      const live = gateways.slice(0, 2);
      const during = await Promise.all(live.map(holdings));
      const movedTo = new Map<string, number>();
      for (const [index, held] of during.entries()) {
        for (const group of held.groups) {
          const was = owner.get(group)!;
          // Only gw3's groups moved; each lives on one replica (gauges: the latest round).
          if (was === 2) movedTo.set(group, index);
          else assert.equal(was, index, `${group} stayed`);
        }
      }
      assert.equal(movedTo.size, moved.length);
      for (const [index, held] of during.entries()) {
        // The new owner has never seen a moved source: its first push counts whole, that is
        // the source's running total of this life; the others' sources add their differences.
        const mine = ownedBy(index).map((s) => s.counted);
        const adopted = moved.filter((s) => movedTo.get(s.name) === index).map((s) => s.life);
        assert.deepEqual(held.totals, total([...mine, ...adopted]), `gw${index + 1} during`);
      }
      // The sum of the live replicas' values is what was counted, but for lives that ended
      // before the move (gone with gw3): gw3 is no longer scraped, its part left the sum.
      assert.deepEqual(
        total(during.map((h) => h.totals)),
        total([...stayed.map((s) => s.counted), ...moved.map((s) => s.life)]),
      );
      // Added up per replica, as rate() inside a sum sees it, the move counts the moved
      // sources' totals of before it a second time: that is the double count.
      const increases = total(during.map((h, i) => sub(h.totals, before[i].totals)));
      const countedSince = sub(total(senders.map((s) => s.counted)), countedAtStop);
      assert.deepEqual(increases, add(countedSince, movedLifeAtStop));
      console.log(
        `gw3 lost: ${moved.length} of ${senders.length} sources moved; the sum of the increases ` +
          `counted ${movedLifeAtStop.done} of work_done_total (${countedAtStop.done} so far) twice`,
      );
      const lifeAtReturn = new Map(moved.map((s) => [s.name, { ...s.life }]));
      const movedLifeAtReturn = total([...lifeAtReturn.values()]);

      // gw3 comes back with its snapshot: its groups move back to it.
      gateways[2] = await startGateway(gw3Args);
      const downAt = haproxy.log().lastIndexOf("Server gateways/gw3 is DOWN");
      await waitUntil(
        () => `HAProxy marks gw3 up:\n${haproxy.log()}`,
        () => haproxy.log().indexOf("Server gateways/gw3 is UP", downAt) !== -1,
        { timeoutMs: 30_000 },
      );
      for (let round = 1; round <= 2; round++) await pushRound();
      const after = await Promise.all(gateways.map(holdings));
      // gw3 kept its sources' last values: it adds only what they counted since it stopped, so
      // its own part is exact again.
      assert.deepEqual(after[2].totals, total(moved.map((s) => s.counted)));
      assert.deepEqual(after[2].groups.sort(), moved.map((s) => s.name).sort());
      for (const sender of moved) {
        // The latest round on gw3; the temporary owner still shows the round it last had.
        const shown = await roundsShown(gateways, sender);
        assert.equal(shown[2], sender.round);
        assert.equal(shown[movedTo.get(sender.name)!], sender.round - 2);
      }
      // The temporary owners keep what they counted for the moved sources (an aggregate never
      // goes down when a source leaves): the sum over the replicas counts that twice, for good.
      for (const index of [0, 1]) {
        const adopted = moved.filter((s) => movedTo.get(s.name) === index);
        assert.deepEqual(
          after[index].totals,
          total([
            ...ownedBy(index).map((s) => s.counted),
            ...adopted.map((s) => lifeAtReturn.get(s.name)!),
          ]),
          `gw${index + 1} after`,
        );
      }
      assert.deepEqual(
        total(after.map((h) => h.totals)),
        add(total(senders.map((s) => s.counted)), movedLifeAtReturn),
      );
      console.log(
        `gw3 back: the sum over the replicas counts ${movedLifeAtReturn.done} of ` +
          `work_done_total twice (${total(senders.map((s) => s.counted)).done} counted)`,
      );
    } finally {
      for (const gateway of gateways) await gateway.stop("SIGKILL");
    }
  });
});

Deno.test("cumulative input, partial sums: a source's running totals spread over the replicas are counted again on each", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    await using gw1 = await startGateway(["--rulesFile", `${dir}/rules.yaml`]);
    await using gw2 = await startGateway(["--rulesFile", `${dir}/rules.yaml`]);
    await using gw3 = await startGateway(["--rulesFile", `${dir}/rules.yaml`]);
    const gateways = [gw1, gw2, gw3];
    await using haproxy = await startHaproxy(dir, gateways, "roundrobin");
    // One sender, nine pushes of its running total (1, 3, 6, … 45), one after another: round
    // robin gives each replica every third.
    const pushed: number[] = [];
    for (let round = 1; round <= 9; round++) {
      pushed.push((pushed.at(-1) ?? 0) + round);
      const body = `# TYPE work_done_total counter\nwork_done_total ${pushed.at(-1)}\n`;
      assert.equal(await post(`${haproxy.url}/metrics/job/worker/instance/w0`, body), 202);
    }
    // Each replica counts its first push from this source whole and then its own differences:
    // it ends at the last total it was sent, so the sum is the last three totals, not 45.
    const parts = await Promise.all(gateways.map(async (g) => {
      const text = await fetch(g.api + "/metrics").then((r) => r.text());
      return sampleValue(text, 'work_done_total{job="worker"}');
    }));
    assert.deepEqual(parts.toSorted((a, b) => a! - b!), [28, 36, 45]);
    assert.equal(parts.reduce((a, b) => a! + b!), 109);
  });
});

const PINNED = new URL("../../deploy/haproxy/haproxy-pinned.cfg", import.meta.url).pathname;

Deno.test("cumulative input, one owner per group without failover (haproxy-pinned.cfg): a replica's restart loses and doubles nothing", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    const gw3Args = [
      "--rulesFile",
      `${dir}/rules.yaml`,
      "--persistenceFile",
      `${dir}/gw3.snapshot`,
      "--apiListen",
      `127.0.0.1:${freePort()}`,
      "--lifecycleListen",
      `127.0.0.1:${freePort()}`,
    ];
    const gateways = [
      await startGateway(["--rulesFile", `${dir}/rules.yaml`]),
      await startGateway(["--rulesFile", `${dir}/rules.yaml`]),
      await startGateway(gw3Args),
    ];
    try {
      await using haproxy = await startHaproxy(dir, gateways, undefined, PINNED);
      const senders = Array.from({ length: 12 }, (_, i) => new Sender(i));
      /** A round of work by every sender; the push statuses by sender. */
      const pushRound = () =>
        Promise.all(senders.map(async (s) => {
          s.work();
          return await post(`${haproxy.url}/metrics/job/worker/instance/${s.name}`, s.body());
        }));
      for (let round = 1; round <= 3; round++) {
        assert.deepEqual(await pushRound(), senders.map(() => 202));
      }
      const owner = new Map<string, number>();
      for (const [index, { groups }] of (await Promise.all(gateways.map(holdings))).entries()) {
        for (const group of groups) owner.set(group, index);
      }
      assert.equal(owner.size, senders.length);
      const onGw3 = senders.map((s) => owner.get(s.name) === 2);
      assert.ok(onGw3.includes(true) && onGw3.includes(false), `gw3 owns ${onGw3}`);

      // gw3 stops: its groups' pushes fail, nobody else takes them; the senders go on counting.
      assert.equal((await gateways[2].stop()).code, 0);
      for (let round = 1; round <= 2; round++) {
        assert.deepEqual(await pushRound(), onGw3.map((mine) => mine ? 503 : 202));
      }
      const live = await Promise.all(gateways.slice(0, 2).map(holdings));
      for (const [index, held] of live.entries()) {
        const mine = senders.filter((s) => owner.get(s.name) === index);
        assert.deepEqual(held.groups.sort(), mine.map((s) => s.name).sort());
        assert.deepEqual(held.totals, total(mine.map((s) => s.counted)));
      }

      // gw3 is back with its snapshot: the next push of each of its sources carries what the
      // sender counted while it was down, and gw3 adds only that.
      gateways[2] = await startGateway(gw3Args);
      await waitUntil("gw3 ready", async () => {
        const response = await fetch(gateways[2].lifecycle + "/-/ready");
        await response.body?.cancel();
        return response.status === 200;
      });
      assert.deepEqual(await pushRound(), senders.map(() => 202));
      const after = await Promise.all(gateways.map(holdings));
      for (const [index, held] of after.entries()) {
        const mine = senders.filter((s) => owner.get(s.name) === index);
        assert.deepEqual(held.groups.sort(), mine.map((s) => s.name).sort(), `gw${index + 1}`);
        assert.deepEqual(held.totals, total(mine.map((s) => s.counted)), `gw${index + 1}`);
        assert.equal(await selfMetric(gateways[index], "pag_sources"), 2 * mine.length);
      }
      assert.deepEqual(
        total(after.map((h) => h.totals)),
        total(senders.map((s) => s.counted)),
      );
      assert.equal(await selfMetric(gateways[2], "pag_source_resets_total"), 0);
    } finally {
      for (const gateway of gateways) await gateway.stop("SIGKILL");
    }
  });
});
