// Fault tests, each over a real gateway process and real sockets: shutdown and crash with
// persistence, concurrent pushers, a fuzz run, and a bounded soak under limits and expiry.

import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { decodeSnapshot } from "../../lib/store/snapshot.ts";
import { Store } from "../../lib/store/store.ts";
import { type GatewayProcess, runCommand, startGateway } from "../helpers/gateway_process.ts";
import { startRawPush } from "../helpers/raw_http.ts";
import { random } from "../helpers/seeded.ts";
import { sampleValue } from "../helpers/self_metrics.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";

const COUNTER_PUSH = "# TYPE pushes_total counter\npushes_total 1\n";

/**
 * Pushes `body` in a loop until `stop()` or until the gateway stops taking pushes; returns the
 * number of pushes answered 202, which are exactly the ones the gateway took.
 */
async function pushLoop(api: string, body: string, stop: () => boolean): Promise<number> {
  let accepted = 0;
  while (!stop()) {
    let status: number;
    try {
      const response = await fetch(api + "/metrics/job/faults", { method: "POST", body });
      status = response.status;
      await response.body?.cancel();
    } catch {
      return accepted; // the listener is gone
    }
    if (status === 202) accepted++;
    else if (status === 503) return accepted; // draining
    else throw new Error(`unexpected status ${status}`);
  }
  return accepted;
}

const scrape = (gateway: GatewayProcess) => fetch(gateway.api + "/metrics").then((r) => r.text());

Deno.test("SIGTERM with pushes in flight, then restart: every accepted push counted once", async () => {
  await withTempDir(async (dir) => {
    const flags = ["--persistenceFile", `${dir}/aggregate.prom`, "--persistenceInterval", "1h"];
    let accepted: number;
    {
      await using gateway = await startGateway(flags);
      let total = 0;
      const { promise: enough, resolve } = Promise.withResolvers<void>();
      const pushers = Array.from({ length: 4 }, () =>
        pushLoop(gateway.api, COUNTER_PUSH, () => {
          if (++total === 400) resolve();
          return false;
        }));
      await enough;
      const status = await gateway.stop("SIGTERM");
      accepted = (await Promise.all(pushers)).reduce((a, b) => a + b, 0);
      assert.equal(status.code, 0);
      assert.ok(accepted > 300, `only ${accepted} pushes accepted`);
    }
    await using restarted = await startGateway(flags);
    assert.equal(sampleValue(await scrape(restarted), 'pushes_total{job="faults"}'), accepted);
  });
});

Deno.test("kill -9, then restart: the aggregate equals the last snapshot written", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/aggregate.prom`;
    const flags = [
      "--persistenceFile",
      path,
      "--persistenceInterval",
      "100ms",
      "--logLevel",
      "debug",
    ];
    {
      await using gateway = await startGateway(flags);
      let stop = false;
      const pusher = pushLoop(gateway.api, COUNTER_PUSH, () => stop);
      // Wait for a few snapshots while pushes go on, then kill in the middle of it all.
      await gateway.waitForLine('msg="snapshot written"');
      await waitUntil(
        "three snapshots written",
        () => gateway.lines.filter((l) => l.includes('msg="snapshot written"')).length >= 3,
      );
      const status = await gateway.stop("SIGKILL");
      stop = true;
      await pusher;
      assert.equal(status.signal, "SIGKILL");
    }
    // The file on disk is a whole snapshot (the rename is atomic), whatever the kill hit.
    const expected = new Store({ gaugeBehavior: "replace" });
    await decodeSnapshot(await Deno.readTextFile(path), expected);
    const pushed = sampleValue(expected.render(), 'pushes_total{job="faults"}')!;
    assert.ok(pushed > 0);
    await using restarted = await startGateway(flags);
    assert.equal(await scrape(restarted), expected.render());
  });
});

Deno.test("a corrupt snapshot stops the start with a clear message and is left as it was", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/aggregate.prom`;
    const corrupt = "# prom-aggregation-gateway snapshot 1\n# TYPE c counter\nc -1 5\n";
    await Deno.writeTextFile(path, corrupt);
    const output = await runCommand([
      "--apiListen",
      "127.0.0.1:0",
      "--lifecycleListen",
      "127.0.0.1:0",
      "--persistenceFile",
      path,
    ]);
    assert.equal(output.code, 1);
    const lastLine = output.stderr.trimEnd().split("\n").at(-1);
    assert.equal(
      lastLine,
      `prom-aggregation-gateway: cannot load snapshot ${path}: line 3: counter c has negative value -1`,
    );
    assert.equal(await Deno.readTextFile(path), corrupt);
  });
});

Deno.test("concurrent pushers: 8 connections, 4000 pushes, the totals are exact", async () => {
  await using gateway = await startGateway();
  const body = COUNTER_PUSH +
    '# TYPE size_bytes histogram\nsize_bytes_bucket{le="100"} 1\nsize_bytes_bucket{le="+Inf"} 2\n' +
    "size_bytes_sum 150\nsize_bytes_count 2\n";
  const counts = await Promise.all(Array.from({ length: 8 }, () => {
    let left = 500;
    return pushLoop(gateway.api, body, () => left-- === 0);
  }));
  assert.deepEqual(counts, Array(8).fill(500));
  const text = await scrape(gateway);
  assert.equal(sampleValue(text, 'pushes_total{job="faults"}'), 4000);
  assert.equal(sampleValue(text, 'size_bytes_bucket{job="faults",le="100"}'), 4000);
  assert.equal(sampleValue(text, 'size_bytes_bucket{job="faults",le="+Inf"}'), 8000);
  assert.equal(sampleValue(text, 'size_bytes_sum{job="faults"}'), 600_000);
});

const VALID_BODIES = [
  '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 3\n',
  '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n',
  "# TYPE s summary\ns_sum 1\ns_count 1\n",
  '# TYPE g gauge\ng{y="\\"\\\\\\n"} -2.5e-3\n',
  '# TYPE om counter\nom_total 1 # {t="1"} 1\n# EOF\n',
];
const NASTY = [
  "\\",
  '"',
  "\\x",
  "1e999",
  "-0",
  "0x1F",
  "NaN",
  "+Inf",
  "9".repeat(400),
  "{",
  "}",
  "=",
  ",",
  "#",
  " ",
  "\t",
  "\r",
  "\n",
  "\u0000",
  "\ud83d\ude00",
  "le",
  "_bucket",
  "_count",
  "# TYPE x histogram\n",
  "# EOF\n",
];

/** One generated request: a body and its headers. */
function fuzzCase(next: () => number): [Uint8Array<ArrayBuffer>, Record<string, string>] {
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)];
  const encoder = new TextEncoder();
  let body: Uint8Array<ArrayBuffer>;
  switch (Math.floor(next() * 5)) {
    case 0: // random bytes
      body = Uint8Array.from({ length: Math.floor(next() * 300) }, () => Math.floor(next() * 256));
      break;
    case 1: { // a valid body cut short
      const valid = pick(VALID_BODIES);
      body = encoder.encode(valid.slice(0, Math.floor(next() * valid.length)));
      break;
    }
    case 2: { // a valid body with nasty text spliced in
      let text = pick(VALID_BODIES);
      for (let i = Math.floor(next() * 4); i >= 0; i--) {
        const at = Math.floor(next() * text.length);
        text = text.slice(0, at) + pick(NASTY) + text.slice(at);
      }
      body = encoder.encode(text);
      break;
    }
    case 3: // a huge label value
      body = encoder.encode(`big{v="${"x".repeat(1000 + Math.floor(next() * 100_000))}"} 1\n`);
      break;
    default: // a random line of nasty pieces
      body = encoder.encode(Array.from({ length: 12 }, () => pick(NASTY)).join(""));
  }
  const headers: Record<string, string> = {};
  const type = pick([
    undefined,
    "text/plain; version=0.0.4",
    "application/openmetrics-text; version=1.0.0",
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
    "application/vnd.google.protobuf; proto=other",
  ]);
  if (type !== undefined) headers["content-type"] = type;
  if (next() < 0.2) {
    body = new Uint8Array(gzipSync(body));
    headers["content-encoding"] = "gzip";
  } else if (next() < 0.05) {
    headers["content-encoding"] = "br";
  }
  return [body, headers];
}

Deno.test("fuzz: 3000 generated bodies get 202, 400, 413 or 415, and the scrape stays valid", async () => {
  await using gateway = await startGateway(["--maxBodyBytes", "65536"]);
  const next = random(20261122);
  const statuses = new Map<number, number>();
  for (let i = 0; i < 3000; i += 10) {
    const batch = Array.from({ length: 10 }, () => fuzzCase(next));
    await Promise.all(batch.map(async ([body, headers], j) => {
      const response = await fetch(gateway.api + "/metrics/job/fuzz", {
        method: "POST",
        body,
        headers,
      });
      const text = await response.text();
      assert.ok(
        [202, 400, 413, 415].includes(response.status),
        `case ${i + j}: ${response.status} ${text} for ${
          JSON.stringify(new TextDecoder().decode(body))
        }`,
      );
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }));
  }
  assert.ok(statuses.get(202)! > 100 && statuses.get(400)! > 100, JSON.stringify([...statuses]));
  const healthy = await fetch(gateway.lifecycle + "/healthy");
  assert.equal(healthy.status, 200);
  await healthy.body?.cancel();
  const check = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stderr: "piped",
  })
    .spawn();
  const writer = check.stdin.getWriter();
  await writer.write(new TextEncoder().encode(await scrape(gateway)));
  await writer.close();
  const result = await check.output();
  // promtool exits 1 when the text does not parse, 3 for lint warnings about what senders
  // pushed (such as families without HELP), which the gateway passes on as it got them.
  const report = new TextDecoder().decode(result.stderr);
  assert.ok(result.code === 0 || result.code === 3, `promtool exit ${result.code}: ${report}`);
  assert.ok(!report.includes("error while linting"), report);
});

Deno.test({
  name: "soak: a minute of ever-new series under --maxSeries and --seriesTTL stays flat",
  async fn() {
    await using gateway = await startGateway(["--maxSeries", "1500", "--seriesTTL", "1s"]);
    const own = async () => {
      const text = await (await fetch(gateway.lifecycle + "/metrics")).text();
      return {
        series: sampleValue(text, "pag_series")!,
        rss: sampleValue(text, "process_resident_memory_bytes")!,
        expired: sampleValue(text, "pag_series_expired_total")!,
        limited: sampleValue(text, 'pag_rejections_total{reason="series_limit"}') ?? 0,
      };
    };
    const started = Date.now();
    const samples: Awaited<ReturnType<typeof own>>[] = [];
    let warm: number | undefined;
    let n = 0;
    while (Date.now() - started < 60_000) {
      // 50 series never seen before per push, as fast as one connection goes.
      let body = "# TYPE soak_total counter\n";
      for (let i = 0; i < 50; i++) body += `soak_total{id="${n++}"} 1\n`;
      const response = await fetch(gateway.api + "/metrics/job/soak", { method: "POST", body });
      await response.body?.cancel();
      assert.ok([202, 429].includes(response.status), `status ${response.status}`);
      if (n % 2500 === 0) {
        const sample = await own();
        samples.push(sample);
        assert.ok(sample.series <= 1500, `${sample.series} series`);
        if (warm === undefined && Date.now() - started > 15_000) warm = sample.rss;
      }
    }
    const last = await own();
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1) + " MiB";
    console.log(
      `soak: ${n} new series pushed in 60 s, ${last.expired} expired, ${last.limited} pushes ` +
        `refused by --maxSeries, ${last.series} held at the end; resident memory ` +
        `${mib(warm ?? 0)} at 15 s, ${mib(last.rss)} at 60 s`,
    );
    assert.ok(last.expired > 10_000, `only ${last.expired} series expired`);
    assert.ok(warm !== undefined);
    // Resident memory after a minute is within 25% (plus 16 MiB) of what it was at 15 s.
    assert.ok(
      last.rss < warm * 1.25 + 16 * 1024 * 1024,
      `memory grew from ${warm} to ${last.rss}: ${JSON.stringify(samples.map((s) => s.rss))}`,
    );
  },
});

Deno.test("a second SIGTERM stops waiting for a sender that trickles its body", async () => {
  await withTempDir(async (dir) => {
    const gateway = await startGateway(["--persistenceFile", `${dir}/aggregate.prom`]);
    const response = await fetch(gateway.api + "/metrics/job/before", {
      method: "POST",
      body: "done_total 1\n",
    });
    assert.equal(response.status, 202);
    await response.body?.cancel();
    const { port } = new URL(gateway.api);
    // A body that never comes whole: shutdown would wait its full 10 s for it. The request is
    // in flight once the handler reads its body (it answers 100 Continue).
    const conn = await startRawPush("127.0.0.1", Number(port), "/metrics/job/slow", 100);
    await conn.write(new TextEncoder().encode("slow_total"));
    // Then one SIGTERM is not enough: the gateway has begun to drain, and is still there,
    // answering that it is not ready.
    const started = Date.now();
    gateway.child.kill("SIGTERM");
    await gateway.waitForLine("shutting down");
    const ready = await fetch(gateway.lifecycle + "/-/ready");
    await ready.body?.cancel();
    assert.equal(ready.status, 503);
    assert.ok(!gateway.lines.some((line) => line.includes("stopped")), "still draining");
    gateway.child.kill("SIGTERM");
    const status = await gateway.child.status;
    conn.close();
    assert.equal(status.code, 0);
    assert.ok(Date.now() - started < 8000, "the second signal cut the 10 s wait short");
    assert.ok(gateway.lines.some((line) => line.includes("second signal")));
    // The last snapshot was still written, with the push accepted before.
    const snapshot = await Deno.readTextFile(`${dir}/aggregate.prom`);
    assert.match(snapshot, /^done_total\{job="before"\} 1 \d+$/m);
  });
});

Deno.test("an idle gateway's snapshot counts as current: the last success moves on", async () => {
  await withTempDir(async (dir) => {
    const flags = ["--persistenceFile", `${dir}/aggregate.prom`, "--persistenceInterval", "100ms"];
    const lastSuccess = async (gateway: GatewayProcess) => {
      const own = await (await fetch(gateway.lifecycle + "/metrics")).text();
      return Number(own.match(/^pag_snapshot_last_success_timestamp_seconds (\S+)$/m)![1]);
    };
    {
      await using gateway = await startGateway(flags);
      const response = await fetch(gateway.api + "/metrics/job/a", {
        method: "POST",
        body: "x_total 1\n",
      });
      await response.body?.cancel();
      assert.equal((await gateway.stop("SIGTERM")).code, 0);
    }
    // Restarted from the file and never pushed to: every interval finds nothing to write.
    await using restarted = await startGateway(flags);
    const loaded = await lastSuccess(restarted);
    assert.ok(loaded > 0, "the load counts as a success");
    await waitUntil(
      "an idle interval to write no snapshot",
      async () => (await lastSuccess(restarted)) !== loaded,
      { timeoutMs: 5000 },
    );
    assert.ok((await lastSuccess(restarted)) > loaded, "an idle interval counts as a success");
  });
});

Deno.test("/-/ready answers 503 while a large snapshot loads, then 200", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/aggregate.prom`;
    const lines = ["# prom-aggregation-gateway snapshot 1", "# TYPE big_total counter"];
    for (let i = 0; i < 300_000; i++) lines.push(`big_total{i="${i}"} 1 1700000000000`);
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();

    // Asked all through the start; the load parses in pieces, so the listener answers.
    const seen: number[] = [];
    const poller = waitUntil(() => `/-/ready to answer 200; seen: ${seen.join(", ")}`, async () => {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/-/ready`);
        await response.body?.cancel();
        seen.push(response.status);
        return response.status === 200;
      } catch {
        return false; // not listening yet
      }
    }, { intervalMs: 10, timeoutMs: 60_000 });
    await using gateway = await startGateway([
      "--persistenceFile",
      path,
      "--lifecycleListen",
      `127.0.0.1:${port}`,
    ]);
    await gateway.waitForLine("snapshot loaded");
    await poller;
    assert.ok(seen.includes(503), `statuses seen: ${seen.join(", ")}`);
    assert.equal(seen.at(-1), 200);
  });
});
