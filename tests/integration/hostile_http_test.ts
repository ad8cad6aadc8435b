// Hostile senders at the connection level, each over a real gateway process and raw sockets:
// running out of file descriptors, bodies that are declared but never sent, connections that
// stall or idle, heads that never end, and scrapers that stop reading.

import assert from "node:assert/strict";
import { type GatewayProcess, startGateway } from "../helpers/gateway_process.ts";
import { residentBytes } from "../helpers/process_memory.ts";
import { selfMetric } from "../helpers/self_metrics.ts";
import { waitUntil } from "../helpers/wait.ts";

const encoder = new TextEncoder();

function portOf(url: string): number {
  return Number(new URL(url).port);
}

async function connect(url: string): Promise<Deno.TcpConn> {
  return await Deno.connect({ hostname: "127.0.0.1", port: portOf(url) });
}

/** Resolves with what the server sends until it closes the connection, or rejects after `ms`. */
async function readUntilClosed(conn: Deno.Conn, ms: number): Promise<string> {
  const chunks: string[] = [];
  const buffer = new Uint8Array(65536);
  const decoder = new TextDecoder();
  const timer = setTimeout(() => conn.close(), ms);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) return chunks.join("");
      chunks.push(decoder.decode(buffer.subarray(0, n)));
    }
  } catch (error) {
    if (error instanceof Deno.errors.BadResource) {
      throw new Error(`the server kept the connection open for ${ms} ms`);
    }
    if (error instanceof Deno.errors.ConnectionReset) return chunks.join("");
    throw error;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed already
    }
  }
}

const PUSH = "# TYPE hostile_total counter\nhostile_total 1\n";

async function push(gateway: GatewayProcess, body = PUSH): Promise<number> {
  const response = await fetch(gateway.api + "/metrics/job/hostile", { method: "POST", body });
  await response.body?.cancel();
  return response.status;
}

Deno.test("out of file descriptors: accept errors are survived, counted, and serving goes on", async () => {
  await using gateway = await startGateway(["--readHeaderTimeout", "1s"]);
  // The gateway may hold 128 descriptors; 300 idle connections take them all.
  const limit = await new Deno.Command("prlimit", {
    args: ["--pid", String(gateway.child.pid), "--nofile=128:128"],
  }).output();
  assert.equal(limit.code, 0, new TextDecoder().decode(limit.stderr));
  const idle: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 300; i++) idle.push(await connect(gateway.api));
    await gateway.waitForLine("accept failed; retrying");
    // The idle connections it did accept time out after 1 s and give their descriptors back,
    // while the attacker still holds its ends open: the gateway serves again.
    await waitUntil("a push to be taken again", async () => {
      try {
        return (await push(gateway)) === 202;
      } catch {
        return false;
      }
    });
    assert.ok((await selfMetric(gateway, "pag_accept_errors_total")) > 0);
    assert.ok((await selfMetric(gateway, 'pag_connection_timeouts_total{phase="header"}')) > 0);
  } finally {
    for (const conn of idle) conn.close();
  }
  const text = await fetch(gateway.api + "/metrics").then((r) => r.text());
  assert.match(text, /hostile_total\{job="hostile"\} \d+/);
  assert.equal(gateway.child.pid > 0, true);
  const status = await gateway.stop();
  assert.equal(status.code, 0, "the gateway exits cleanly on SIGTERM, it never crashed");
});

Deno.test("connections reset before they are accepted stall neither listener", async () => {
  await using gateway = await startGateway();
  // Each connection is closed with SO_LINGER 0, a reset, while it waits to be accepted: Deno's
  // accept() then fails for it. Python sets the option, which Deno cannot.
  const reset = (url: string, count: number) =>
    new Deno.Command("/usr/bin/python3", {
      args: ["-c", RESETTER, new URL(url).port, String(count)],
    }).output();
  const [api, lifecycle] = await Promise.all([
    reset(gateway.api, 300),
    reset(gateway.lifecycle, 300),
  ]);
  assert.equal(api.code, 0, new TextDecoder().decode(api.stderr));
  assert.equal(lifecycle.code, 0, new TextDecoder().decode(lifecycle.stderr));
  // With a back-off per reset, the queue drained one connection a second: these waited minutes.
  const started = performance.now();
  const pushed = await fetch(gateway.api + "/metrics/job/hostile", {
    method: "POST",
    body: PUSH,
    signal: AbortSignal.timeout(10_000),
  });
  await pushed.body?.cancel();
  assert.equal(pushed.status, 202);
  const healthy = await fetch(gateway.lifecycle + "/-/healthy", {
    signal: AbortSignal.timeout(10_000),
  });
  await healthy.body?.cancel();
  assert.equal(healthy.status, 200);
  const seconds = (performance.now() - started) / 1000;
  assert.ok(seconds < 5, `a push and a probe after 600 resets took ${seconds.toFixed(1)} s`);
  assert.equal(gateway.lines.filter((line) => line.includes("accept failed")).length, 0);
});

/** Opens and resets argv[2] connections to 127.0.0.1:argv[1]. */
const RESETTER = `
import socket, struct, sys
for _ in range(int(sys.argv[2])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
`;

Deno.test("--maxConnections: connections past the cap are closed at once and counted", async () => {
  await using gateway = await startGateway(["--maxConnections", "20"]);
  const held: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 20; i++) held.push(await connect(gateway.api));
    // Accepted ones wait for a request; the next one is closed as soon as it is accepted.
    const extra = await connect(gateway.api);
    assert.equal(await readUntilClosed(extra, 5000), "");
    await waitUntil(
      "the refusal to be counted",
      async () => (await selfMetric(gateway, "pag_connections_refused_total")) >= 1,
    );
  } finally {
    for (const conn of held) conn.close();
  }
  // The gateway sees the closes a moment later; until then it refuses the push's connection too.
  await waitUntil("a push to be taken once the held connections close", async () => {
    try {
      return (await push(gateway)) === 202;
    } catch {
      return false;
    }
  });
});

Deno.test("a declared Content-Length reserves no memory: 200 bodies of 8 MiB never sent", async () => {
  await using gateway = await startGateway();
  assert.equal(await push(gateway), 202);
  const before = await residentBytes(gateway.child.pid);
  const conns: Deno.TcpConn[] = [];
  try {
    const head = encoder.encode(
      "POST /metrics/job/x HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n",
    );
    for (let i = 0; i < 200; i++) {
      const conn = await connect(gateway.api);
      await conn.write(head);
      conns.push(conn);
    }
    // Every head is read: the gateway now waits for 200 bodies.
    await waitUntil("the 200 connections to be open", async () => {
      const text = await fetch(gateway.lifecycle + "/metrics").then((r) => r.text());
      return text.includes("pag_pushes_total") && (await push(gateway)) === 202;
    });
    const after = await residentBytes(gateway.child.pid);
    assert.ok(
      after - before < 64 << 20,
      `resident memory grew by ${((after - before) / 2 ** 20).toFixed(1)} MiB`,
    );
  } finally {
    for (const conn of conns) conn.close();
  }
});

Deno.test("--maxRequestBufferBytes: bodies that arrive beyond the shared budget get a 503", async () => {
  await using gateway = await startGateway([
    "--maxRequestBufferBytes",
    String(6 << 20),
    "--readTimeout",
    "2s",
  ]);
  // Each sends 3 MiB of a body it declares as 8 MiB, then stalls: the buffers of two do not fit
  // in 6 MiB. The one that cannot grow gets a 503 at once; the other waits for the rest of its
  // body until --readTimeout.
  const send = async () => {
    const conn = await connect(gateway.api);
    await conn.write(
      encoder.encode(
        `POST /metrics/job/x HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 << 20}\r\n\r\n`,
      ),
    );
    await conn.write(encoder.encode("x".repeat(3 << 20)));
    return readUntilClosed(conn, 10_000);
  };
  const answers = (await Promise.all([send(), send()])).map((text) => text.split("\r\n")[0]);
  assert.deepEqual(answers.toSorted(), [
    "HTTP/1.1 408 Request Timeout",
    "HTTP/1.1 503 Service Unavailable",
  ]);
  await waitUntil(
    "the refusal to be counted",
    async () => (await selfMetric(gateway, 'pag_rejections_total{reason="overloaded"}')) === 1,
  );
  assert.equal(await push(gateway), 202);
});

Deno.test("timeouts close stalled heads, stalled bodies, idle keep-alive and stalled scrapes", async () => {
  await using gateway = await startGateway([
    "--readHeaderTimeout",
    "500ms",
    "--readTimeout",
    "1s",
    "--idleTimeout",
    "700ms",
    "--writeTimeout",
    "1s",
  ]);
  // Half a request line: answered 408 and closed.
  const head = await connect(gateway.api);
  await head.write(encoder.encode("POST /metr"));
  assert.match(await readUntilClosed(head, 10_000), /^HTTP\/1\.1 408 /);

  // A body that stalls: answered 408 and closed, nothing applied.
  const body = await connect(gateway.api);
  await body.write(
    encoder.encode(
      "POST /metrics/job/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n# TYPE a counter\n",
    ),
  );
  assert.match(await readUntilClosed(body, 10_000), /^HTTP\/1\.1 408 /);

  // A keep-alive connection left idle after one request.
  const idle = await connect(gateway.api);
  await idle.write(encoder.encode("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.match(await readUntilClosed(idle, 10_000), /^HTTP\/1\.1 200 /);

  // A scraper that stops reading a scrape larger than the socket buffers hold.
  const lines = Array.from({ length: 200_000 }, (_, i) => `big_total{i="${i}"} ${i}\n`);
  for (let i = 0; i < lines.length; i += 50_000) {
    assert.equal(
      await push(gateway, "# TYPE big_total counter\n" + lines.slice(i, i + 50_000).join("")),
      202,
    );
  }
  const stalled = await connect(gateway.api);
  await stalled.write(encoder.encode("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  await waitUntil(
    "the stalled scrape to be cut",
    async () => (await selfMetric(gateway, 'pag_connection_timeouts_total{phase="write"}')) === 1,
  );
  stalled.close();

  for (const phase of ["header", "body"]) {
    assert.equal(await selfMetric(gateway, `pag_connection_timeouts_total{phase="${phase}"}`), 1);
  }
  // The test's own fetch() keeps connections alive too, which time out idle the same way.
  assert.ok((await selfMetric(gateway, 'pag_connection_timeouts_total{phase="idle"}')) >= 1);
  const text = await fetch(gateway.api + "/metrics").then((r) => r.text());
  assert.doesNotMatch(text, /^a /m, "the stalled body changed nothing");
});

Deno.test("--maxHeaderBytes: a head that never ends is a 431", async () => {
  await using gateway = await startGateway(["--maxHeaderBytes", "4096"]);
  const conn = await connect(gateway.api);
  await conn.write(encoder.encode("GET /metrics HTTP/1.1\r\nX-Long: " + "a".repeat(8192)));
  assert.match(await readUntilClosed(conn, 10_000), /^HTTP\/1\.1 431 /);
});

Deno.test("scrapers that stop reading keep no copies of the aggregate past --maxScrapeBacklogBytes", async () => {
  await using gateway = await startGateway(["--maxScrapeBacklogBytes", String(16 << 20)]);
  // About 20 MB of scrape text: more than the socket buffers of a scraper that stops reading.
  const batch = (from: number, round: number) =>
    "# TYPE wide_total counter\n" +
    Array.from(
      { length: 25_000 },
      (_, i) => `wide_total{series="${from + i}",pad="${"p".repeat(60)}"} ${round}\n`,
    ).join("");
  for (let from = 0; from < 200_000; from += 25_000) {
    assert.equal(await push(gateway, batch(from, 1)), 202);
  }
  const before = await residentBytes(gateway.child.pid);
  const scrapers: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 60; i++) {
      const conn = await connect(gateway.api);
      await conn.write(encoder.encode("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
      scrapers.push(conn);
      // A push between each scrape: each scrape would keep its own copy of what changed.
      assert.equal(await push(gateway, batch(0, i + 2)), 202);
    }
    const after = await residentBytes(gateway.child.pid);
    assert.ok(
      after - before < 300 << 20,
      `resident memory grew by ${((after - before) / 2 ** 20).toFixed(1)} MiB`,
    );
    assert.ok((await selfMetric(gateway, "pag_scrapes_cut_off_total")) > 0);
  } finally {
    for (const conn of scrapers) conn.close();
  }
  // A scraper that reads gets the whole aggregate.
  const text = await fetch(gateway.api + "/metrics").then((r) => r.text());
  assert.equal(text.split("\n").filter((line) => line.startsWith("wide_total{")).length, 200_000);
});

Deno.test("a chunked body of tiny chunks takes its bytes from --maxRequestBufferBytes, like any other", async () => {
  await using gateway = await startGateway();
  assert.equal(await push(gateway), 202);
  const before = await residentBytes(gateway.child.pid);
  // 3 connections at once, each 6 MB of 3-byte chunks: kept one array per chunk, they took
  // hundreds of MB; decoded into one budgeted buffer, about 2 MB each.
  const body = encoder.encode("3\r\nabc\r\n".repeat(750_000) + "0\r\n\r\n");
  const send = async () => {
    const conn = await connect(gateway.api);
    await conn.write(
      encoder.encode(
        "POST /metrics/job/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" +
          "Connection: close\r\n\r\n",
      ),
    );
    const writeAll = async () => {
      for (let written = 0; written < body.length;) {
        written += await conn.write(body.subarray(written));
      }
    };
    const [, answer] = await Promise.all([writeAll(), readUntilClosed(conn, 30_000)]);
    return answer.split("\r\n")[0];
  };
  // Read whole, the body is refused for what it holds (no sample value), not for its size.
  assert.deepEqual(await Promise.all([send(), send(), send()]), [
    "HTTP/1.1 400 Bad Request",
    "HTTP/1.1 400 Bad Request",
    "HTTP/1.1 400 Bad Request",
  ]);
  const after = await residentBytes(gateway.child.pid);
  assert.ok(
    after - before < 96 << 20,
    `resident memory grew by ${((after - before) / 2 ** 20).toFixed(1)} MiB`,
  );
});

Deno.test("--maxSamplesPerPush: a push of more samples is refused as it is read, whole", async () => {
  await using gateway = await startGateway();
  const lines = (n: number, from = 0) =>
    Array.from({ length: n }, (_, i) => `m{i="${from + i}"} 1\n`).join("");
  const timed = async (body: string) => {
    const started = performance.now();
    const response = await fetch(gateway.api + "/metrics/job/many", { method: "POST", body });
    return {
      status: response.status,
      text: await response.text(),
      ms: performance.now() - started,
    };
  };
  const accepted = await timed(lines(100_000));
  assert.equal(accepted.status, 202, accepted.text);
  // Five times the limit, of series the store does not hold: refused at sample 100001.
  const refused = await timed(lines(500_000, 100_000));
  assert.equal(refused.status, 413);
  assert.equal(
    refused.text,
    "line 100001: the push holds more than 100000 samples, the limit (--maxSamplesPerPush)\n",
  );
  assert.ok(
    refused.ms < 3 * accepted.ms,
    `refused in ${refused.ms.toFixed(0)} ms, a push at the limit took ${accepted.ms.toFixed(0)} ms`,
  );
  assert.equal(await selfMetric(gateway, 'pag_rejections_total{reason="push_limit"}'), 1);
  const text = await fetch(gateway.api + "/metrics").then((r) => r.text());
  assert.equal(text.split("\n").filter((l) => l.startsWith("m{")).length, 100_000);
});
