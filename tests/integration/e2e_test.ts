// End-to-end over real sockets: the real handlers behind startServers on free ports.

import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { createApiHandler } from "../../lib/http/api.ts";
import { apiOptionsOf, connectionLimitsOf, loadConfig } from "../../lib/app/config.ts";
import { createLifecycleHandler } from "../../lib/http/lifecycle.ts";
import { SelfMetrics } from "../../lib/http/self_metrics.ts";
import { startServers } from "../../lib/app/server.ts";
import { Store } from "../../lib/store/store.ts";
import { startRawPush } from "../helpers/raw_http.ts";
import { createSilentLogger } from "../helpers/silent_logger.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";

async function startInProcess(flags: Record<string, string> = {}) {
  const config = loadConfig(
    { apiListen: "127.0.0.1:0", lifecycleListen: "127.0.0.1:0", ...flags },
    {},
  );
  const logger = createSilentLogger();
  const store = new Store({ gaugeBehavior: config.gaugeBehavior });
  const metrics = new SelfMetrics();
  const servers = await startServers({
    apiListen: config.apiListen,
    lifecycleListen: config.lifecycleListen,
    api: createApiHandler({
      store,
      metrics,
      logger,
      ...apiOptionsOf(config),
    }),
    lifecycle: createLifecycleHandler({ store, metrics, isReady: () => true }),
    logger,
    limits: connectionLimitsOf(config),
    maxRequestBufferBytes: config.maxRequestBufferBytes,
  });
  const url = (address: Deno.NetAddr) =>
    address.hostname.includes(":")
      ? `http://[${address.hostname}]:${address.port}`
      : `http://${address.hostname}:${address.port}`;
  return {
    servers,
    store,
    api: url(servers.apiAddress),
    lifecycle: url(servers.lifecycleAddress),
    [Symbol.asyncDispose]: () => servers.shutdown(),
  };
}

Deno.test("pushes from many concurrent connections add up exactly", async () => {
  await using gw = await startInProcess();
  const pushes = 200;
  const responses = await Promise.all(
    Array.from(
      { length: pushes },
      (_, i) =>
        fetch(`${gw.api}/metrics/job/load/instance/i${i % 4}`, {
          method: i % 2 === 0 ? "POST" : "PUT",
          body: '# TYPE jobs_total counter\njobs_total{kind="a"} 1\n# TYPE h histogram\n' +
            'h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n',
        }).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        }),
    ),
  );
  assert.deepEqual(new Set(responses), new Set([202]));
  const text = await (await fetch(gw.api + "/metrics")).text();
  for (let i = 0; i < 4; i++) {
    assert.ok(text.includes(`jobs_total{instance="i${i}",job="load",kind="a"} 50\n`), text);
    assert.ok(text.includes(`h_bucket{instance="i${i}",job="load",le="+Inf"} 100\n`), text);
    assert.ok(text.includes(`h_sum{instance="i${i}",job="load"} 150\n`), text);
  }
  const own = await (await fetch(gw.lifecycle + "/metrics")).text();
  assert.match(own, new RegExp(`^pag_pushes_total\\{outcome="accepted"\\} ${pushes}$`, "m"));
  assert.match(own, /^pag_series 8$/m);
});

Deno.test("curl pushes a gzip body and reads a gzip scrape", async () => {
  await using gw = await startInProcess();
  await withTempDir(async (dir) => {
    const file = `${dir}/body.gz`;
    await Deno.writeFile(file, new Uint8Array(gzipSync('# TYPE c counter\nc{x="a b"} 3\n')));
    const curl = (args: string[]) =>
      new Deno.Command("curl", { args: ["-sS", "-w", "\n%{http_code}", ...args] }).output();
    const pushed = await curl([
      "-H",
      "Content-Encoding: gzip",
      "--data-binary",
      `@${file}`,
      `${gw.api}/metrics/job/curl`,
    ]);
    assert.equal(new TextDecoder().decode(pushed.stdout), "\n202");
    const scraped = await curl(["--compressed", `${gw.api}/metrics`]);
    assert.equal(
      new TextDecoder().decode(scraped.stdout),
      '# TYPE c counter\nc{job="curl",x="a b"} 3\n\n200',
    );
  });
});

Deno.test(":port listens on every interface, IPv4 and (where the host has it) IPv6", async () => {
  await using gw = await startInProcess({ apiListen: ":0" });
  const { hostname, port } = gw.servers.apiAddress;
  assert.ok(hostname === "::" || hostname === "0.0.0.0", hostname);
  const v4 = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(v4.status, 200);
  await v4.body?.cancel();
  if (hostname === "::") {
    const v6 = await fetch(`http://[::1]:${port}/metrics`);
    assert.equal(v6.status, 200);
    await v6.body?.cancel();
  }
});

Deno.test("dot segments in a pushed path are labels, never resolved away", async () => {
  await using gw = await startInProcess();
  // --path-as-is sends the dots as they are, as a careless or hostile client could.
  const curl = async (...args: string[]) => {
    const output = await new Deno.Command("curl", {
      args: ["-sS", "--path-as-is", "-w", "%{http_code}", ...args],
    }).output();
    return new TextDecoder().decode(output.stdout);
  };
  assert.equal(await curl("--data-binary", "a 1\n", `${gw.api}/metrics/job/x/instance/a`), "202");
  assert.equal(await curl("--data-binary", "a 1\n", `${gw.api}/metrics/job/x/instance/..`), "202");
  assert.equal(await curl("--data-binary", "a 1\n", `${gw.api}/metrics/job/%2e%2e`), "202");
  const scrape = () => fetch(gw.api + "/metrics").then((r) => r.text());
  assert.equal(
    await scrape(),
    '# TYPE a untyped\na{instance="..",job="x"} 1\na{instance="a",job="x"} 1\na{job=".."} 1\n',
  );
  assert.equal(await curl("-X", "DELETE", `${gw.api}/metrics/job/x/instance/..`), "202");
  assert.equal(await scrape(), '# TYPE a untyped\na{instance="a",job="x"} 1\na{job=".."} 1\n');
});

Deno.test("a scraper that hangs up mid-body ends the scrape's read of the store", async () => {
  await using gw = await startInProcess({ maxBodyBytes: String(64 << 20) });
  // About 12 MB of text, more than the sockets buffer, so the scrape is still being sent.
  const pad = "x".repeat(100);
  let body = "";
  for (let i = 0; i < 100_000; i++) body += `a{i="${i}",pad="${pad}"} 1\n`;
  const pushed = await fetch(gw.api + "/metrics/job/big", { method: "POST", body });
  assert.equal(pushed.status, 202);

  const conn = await Deno.connect({ hostname: "127.0.0.1", port: gw.servers.apiAddress.port });
  await conn.write(new TextEncoder().encode("GET /metrics HTTP/1.1\r\nHost: gw\r\n\r\n"));
  const start = new Uint8Array(65536);
  const read = await conn.read(start);
  assert.ok(read !== null && read > 0);
  assert.equal(gw.store.readers, 1, "the scrape is still reading");
  conn.close();
  await waitUntil("the scrape's read of the store to end", () => gw.store.readers === 0, {
    timeoutMs: 10_000,
  });
  assert.equal(gw.store.readers, 0);
  // The store is as it was, and a new scrape reads all of it.
  const text = await (await fetch(gw.api + "/metrics")).text();
  assert.equal(text.split("\n").length, 100_000 + 2);
});

Deno.test("a body its sender cut short is a 400 that changes nothing, not a 500", async () => {
  await using gw = await startInProcess();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: gw.servers.apiAddress.port });
  // 10 of the 100 bytes it declares, then the sender stops sending.
  await conn.write(new TextEncoder().encode(
    "POST /metrics/job/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\na_total 1\n",
  ));
  await conn.closeWrite();
  let answer = "";
  const timer = setTimeout(() => conn.close(), 10_000); // never wait forever for the answer
  try {
    const buffer = new Uint8Array(4096);
    const decoder = new TextDecoder();
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      answer += decoder.decode(buffer.subarray(0, n), { stream: true });
      const length = Number(answer.match(/content-length: (\d+)/i)?.[1] ?? NaN);
      const bodyAt = answer.indexOf("\r\n\r\n") + 4;
      if (bodyAt > 3 && answer.length - bodyAt >= length) break;
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
  assert.match(answer, /^HTTP\/1\.1 400 /);
  assert.match(answer, /\r\n\r\nthe body could not be read to its end: /);
  assert.equal(await (await fetch(gw.api + "/metrics")).text(), "");
  const own = await (await fetch(gw.lifecycle + "/metrics")).text();
  assert.match(own, /^pag_rejections_total\{reason="incomplete_body"\} 1$/m);
});

Deno.test({
  name:
    "shutdown gives up on a sender that trickles its body, whose late push then changes nothing",
  // The trickling request is answered after shutdown() returns, by design: the server closes
  // behind the test's back.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let accepting = true;
    const store = new Store({ gaugeBehavior: "replace" });
    const metrics = new SelfMetrics();
    const logger = createSilentLogger();
    const config = loadConfig({ apiListen: "127.0.0.1:0", lifecycleListen: "127.0.0.1:0" }, {});
    const servers = await startServers({
      apiListen: config.apiListen,
      lifecycleListen: config.lifecycleListen,
      api: createApiHandler({
        store,
        metrics,
        logger,
        ...apiOptionsOf(config),
        isAccepting: () => accepting,
      }),
      lifecycle: createLifecycleHandler({ store, metrics, isReady: () => true }),
      logger,
      limits: connectionLimitsOf(config),
      maxRequestBufferBytes: config.maxRequestBufferBytes,
      drainTimeoutMs: 200,
    });
    // The request is in flight once the handler reads its body (it answers 100 Continue);
    // then 7 of the 10 bytes it declares, and the sender waits.
    const conn = await startRawPush("127.0.0.1", servers.apiAddress.port, "/metrics/job/x", 10);
    const encoder = new TextEncoder();
    await conn.write(encoder.encode("a_total"));
    // Without a bound this would wait for the sender forever, and the test would time out.
    await servers.shutdown();
    accepting = false; // as the CLI does before its last snapshot
    await conn.write(encoder.encode(" 1\n")).catch(() => {});
    const answer = new Uint8Array(4096);
    const n = await conn.read(answer).catch(() => null);
    conn.close();
    // The server cut the body short (400), or the push came too late (503): never applied.
    const status = new TextDecoder().decode(answer.subarray(0, n ?? 0)).slice(0, 12);
    assert.ok(status === "HTTP/1.1 400" || status === "HTTP/1.1 503" || n === null, status);
    assert.equal(store.seriesCount, 0);
  },
});

Deno.test({
  name: "shutdown does not wait past its timeout for a scraper that stops reading",
  // The stalled connection is closed behind the test's back, after shutdown() returned.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const logger = createSilentLogger();
    const config = loadConfig({ apiListen: "127.0.0.1:0", lifecycleListen: "127.0.0.1:0" }, {});
    const store = new Store({ gaugeBehavior: "replace" });
    const servers = await startServers({
      apiListen: config.apiListen,
      lifecycleListen: config.lifecycleListen,
      // A body far larger than the socket buffers: the write waits for a reader.
      api: () => new Response(new Uint8Array(64 << 20)),
      lifecycle: createLifecycleHandler({ store, metrics: new SelfMetrics(), isReady: () => true }),
      logger,
      limits: connectionLimitsOf(config),
      maxRequestBufferBytes: config.maxRequestBufferBytes,
      drainTimeoutMs: 300,
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: servers.apiAddress.port });
    await conn.write(new TextEncoder().encode("GET /metrics HTTP/1.1\r\nHost: gw\r\n\r\n"));
    const first = new Uint8Array(1024);
    await conn.read(first); // the answer has begun; the rest is never read
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      servers.shutdown().then(() => "returned"),
      new Promise((resolve) => timer = setTimeout(() => resolve("still waiting after 5 s"), 5000)),
    ]);
    clearTimeout(timer);
    conn.close();
    assert.equal(outcome, "returned");
  },
});
