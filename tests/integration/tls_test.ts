// --webConfigFile end to end: HTTPS and bcrypt basic auth on a real gateway process, with
// certificates made by openssl here, and the clients people use: curl, Python's
// prometheus_client, prom-client and a real Prometheus.

import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
// Test-only packages are pinned here and in tests/deno.lock, never in deno.json or deno.lock.
// deno-lint-ignore no-import-prefix
import client from "npm:prom-client@15.1.3";
import { type GatewayProcess, runCommand, startGateway } from "../helpers/gateway_process.ts";
import { residentBytes } from "../helpers/process_memory.ts";
import { startPrometheus } from "../helpers/prometheus_process.ts";
import { sampleValue } from "../helpers/self_metrics.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";

/** Debian's python3, which has python3-prometheus-client. */
const PYTHON = "/usr/bin/python3";
const PASSWORD = "correct horse";
/** bcrypt at cost 10, as `htpasswd -nBC 10` writes: about 100 ms a comparison here. */
const HASH = bcrypt.hashSync(PASSWORD, 10);

async function run(
  command: string,
  args: string[],
  options: Deno.CommandOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(command, { args, stdin: "null", ...options }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const result = await run("openssl", args, { cwd: dir });
  assert.equal(result.code, 0, `openssl ${args.join(" ")}:\n${result.stderr}`);
}

/**
 * Makes in `dir`: a CA (ca.pem), and signed by it, certificates for localhost and 127.0.0.1:
 * server.pem and server-key.pem, a second one (next.pem, next-key.pem) to rotate to, and one
 * that expired yesterday (expired.pem, expired-key.pem).
 */
async function makeCertificates(dir: string): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca-key.pem",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=pag test CA",
  ]);
  await Deno.writeTextFile(`${dir}/san.ext`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  for (
    const [name, days, serial] of [["server", "2", "1001"], ["next", "2", "1002"], [
      "expired",
      "-1",
      "1003",
    ]]
  ) {
    await openssl(dir, [
      "req",
      ...ec,
      "-keyout",
      `${name}-key.pem`,
      "-out",
      `${name}.csr`,
      "-subj",
      "/CN=localhost",
    ]);
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca-key.pem",
      "-set_serial",
      serial,
      "-days",
      days,
      "-extfile",
      "san.ext",
      "-out",
      `${name}.pem`,
    ]);
  }
}

/** Writes web.yml in `dir` with the server certificate and `extra` lines; returns its path. */
async function writeWebConfig(dir: string, extra = "", cert = "server"): Promise<string> {
  const path = `${dir}/web.yml`;
  await Deno.writeTextFile(
    path,
    `tls_server_config:
  cert_file: ${cert}.pem
  key_file: ${cert}-key.pem
${extra}`,
  );
  return path;
}

const USERS = `basic_auth_users:\n  prom: "${HASH}"\n`;

/** The gateway's API and lifecycle base URLs over HTTPS. */
function https(gateway: GatewayProcess): { api: string; lifecycle: string } {
  return {
    api: gateway.api.replace("http://", "https://"),
    lifecycle: gateway.lifecycle.replace("http://", "https://"),
  };
}

const basic = (user: string, password: string) => "Basic " + btoa(`${user}:${password}`);

async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return await run("curl", ["-sS", "--max-time", "10", ...args]);
}

Deno.test("curl: HTTPS and bcrypt basic auth on the API listener; a wrong password is 401, plain HTTP fails", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    const config = await writeWebConfig(
      dir,
      USERS + "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
    );
    await using gateway = await startGateway(["--webConfigFile", config]);
    const { api, lifecycle } = https(gateway);
    const ca = ["--cacert", `${dir}/ca.pem`];
    const auth = ["-u", `prom:${PASSWORD}`];
    const status = ["-o", "/dev/null", "-w", "%{http_code}"];

    const push = await curl([
      ...ca,
      ...auth,
      ...status,
      "--data-binary",
      "jobs_total 2\n",
      `${api}/metrics/job/a`,
    ]);
    assert.deepEqual([push.code, push.stdout], [0, "202"], push.stderr);
    const scrape = await curl([...ca, ...auth, "-i", `${api}/metrics`]);
    assert.equal(scrape.code, 0, scrape.stderr);
    assert.match(scrape.stdout, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(scrape.stdout, /\r\nx-content-type-options: nosniff\r\n/);
    assert.ok(scrape.stdout.endsWith('jobs_total{job="a"} 2\n'), scrape.stdout);

    // Scrapes need credentials too, as in the Pushgateway; a wrong password or none is a 401.
    const wrong = await curl([...ca, "-u", "prom:nope", "-i", `${api}/metrics`]);
    assert.match(wrong.stdout, /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.match(wrong.stdout, /\r\nwww-authenticate: Basic realm="prom-aggregation-gateway"/);
    assert.ok(wrong.stdout.endsWith("\r\n\r\nvalid Basic credentials are required\n"));
    const none = await curl([...ca, ...status, `${api}/metrics`]);
    assert.equal(none.stdout, "401");
    const wrongPush = await curl([
      ...ca,
      "-u",
      "someone:else",
      ...status,
      "--data-binary",
      "jobs_total 5\n",
      `${api}/metrics/job/a`,
    ]);
    assert.equal(wrongPush.stdout, "401");
    // Not even a 404 is told without credentials.
    assert.equal((await curl([...ca, ...status, `${api}/nothing`])).stdout, "401");

    // The lifecycle listener speaks TLS too; basic auth guards the API listener only.
    const healthy = await curl([...ca, ...status, `${lifecycle}/-/healthy`]);
    assert.deepEqual([healthy.code, healthy.stdout], [0, "200"], healthy.stderr);

    // Plain HTTP to a TLS port is told so, in plain text, as Go's servers do.
    const plain = await curl(["-i", gateway.api + "/metrics"]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^HTTP\/1\.0 400 Bad Request\r\n/);
    assert.ok(plain.stdout.endsWith("\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"));
    // A client that does not trust the CA refuses the certificate.
    const untrusted = await curl([...status, `${api}/metrics`]);
    assert.equal(untrusted.code, 60, untrusted.stderr);

    const own = (await curl([...ca, `${lifecycle}/metrics`])).stdout;
    assert.equal(sampleValue(own, 'pag_auth_failures_total{reason="wrong"}'), 2);
    assert.equal(sampleValue(own, 'pag_auth_failures_total{reason="missing"}'), 2);
    assert.ok(sampleValue(own, "pag_tls_handshake_failures_total")! >= 2, own);
    // The aggregate is unchanged by the refused push.
    const after = await curl([...ca, ...auth, `${api}/metrics`]);
    assert.ok(after.stdout.endsWith('jobs_total{job="a"} 2\n'), after.stdout);
  });
});

Deno.test("Python prometheus_client and prom-client push over HTTPS with basic auth", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    await using gateway = await startGateway([
      "--webConfigFile",
      await writeWebConfig(dir, USERS),
    ]);
    const { api } = https(gateway);
    const script = `
import sys
from prometheus_client import CollectorRegistry, Counter, push_to_gateway
from prometheus_client.exposition import basic_auth_handler

def handler(url, method, timeout, headers, data):
    return basic_auth_handler(url, method, timeout, headers, data, "prom", sys.argv[2])

registry = CollectorRegistry()
Counter("rows", "Rows imported.", registry=registry).inc(3)
push_to_gateway(sys.argv[1], job="python", registry=registry, handler=handler)
`;
    // Python's urllib trusts the CA through SSL_CERT_FILE, as OpenSSL reads it.
    const env = { SSL_CERT_FILE: `${dir}/ca.pem` };
    const pushed = await run(PYTHON, ["-c", script, api, PASSWORD], { env });
    assert.equal(pushed.code, 0, pushed.stderr);
    const refused = await run(PYTHON, ["-c", script, api, "wrong"], { env });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /HTTP Error 401: Unauthorized/);

    const registry = new client.Registry();
    new client.Counter({ name: "signups_total", help: "Sign-ups.", registers: [registry] }).inc(2);
    const ca = await Deno.readTextFile(`${dir}/ca.pem`);
    const pushgateway = new client.Pushgateway(api, { ca, auth: `prom:${PASSWORD}` }, registry);
    await pushgateway.pushAdd({ jobName: "node" });
    const wrongAuth = new client.Pushgateway(api, { ca, auth: "prom:wrong" }, registry);
    await assert.rejects(wrongAuth.pushAdd({ jobName: "node" }), /401/);

    using http = Deno.createHttpClient({ caCerts: [ca] });
    const scrape = await fetch(`${api}/metrics`, {
      client: http,
      headers: { Authorization: basic("prom", PASSWORD) },
    });
    assert.equal(
      await scrape.text(),
      `# HELP rows_total Rows imported.
# TYPE rows_total counter
rows_total{job="python"} 3
# HELP signups_total Sign-ups.
# TYPE signups_total counter
signups_total{job="node"} 2
`,
    );
  });
});

Deno.test("Prometheus scrapes the gateway over HTTPS with basic auth", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    await using gateway = await startGateway([
      "--webConfigFile",
      await writeWebConfig(dir, USERS),
    ]);
    const { api } = https(gateway);
    using http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
    const pushed = await fetch(`${api}/metrics/job/batch`, {
      method: "POST",
      client: http,
      headers: { Authorization: basic("prom", PASSWORD) },
      body: "batch_rows_total 7\n",
    });
    assert.equal(pushed.status, 202);
    await using prometheus = await startPrometheus(
      dir,
      `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: gateway
    honor_labels: true
    scheme: https
    tls_config:
      ca_file: ${dir}/ca.pem
    basic_auth:
      username: prom
      password: "${PASSWORD}"
    static_configs:
      - targets: ["localhost:${new URL(api).port}"]
  - job_name: wrong-password
    scheme: https
    tls_config:
      ca_file: ${dir}/ca.pem
    basic_auth:
      username: prom
      password: wrong
    static_configs:
      - targets: ["localhost:${new URL(api).port}"]
`,
    );
    let up: string[] = [];
    let rows: string[] = [];
    await waitUntil(() => `scrapes by Prometheus:\n${prometheus.log()}`, async () => {
      up = (await prometheus.query('up{job=~"gateway|wrong-password"}'))
        .map((s) => JSON.stringify([s.metric.job, s.value[1]]))
        .sort();
      rows = (await prometheus.query("batch_rows_total")).map((s) => s.value[1]);
      return up.length === 2 && rows.length === 1;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.deepEqual(up, ['["gateway","1"]', '["wrong-password","0"]']);
    assert.deepEqual(rows, ["7"]);
  });
});

Deno.test("an expired certificate is served as configured, and clients refuse it", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    await using gateway = await startGateway([
      "--webConfigFile",
      await writeWebConfig(dir, "", "expired"),
    ]);
    await gateway.waitForLine("the TLS certificate has expired; clients will refuse it");
    const result = await curl([
      "--cacert",
      `${dir}/ca.pem`,
      `${https(gateway).lifecycle}/-/healthy`,
    ]);
    assert.equal(result.code, 60);
    assert.match(result.stderr, /certificate has expired/);
  });
});

/** The serial number of the certificate a TLS server at `port` presents, as openssl prints it. */
async function servedSerial(port: string): Promise<string> {
  const child = new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  const pem = new TextDecoder().decode((await child).stdout);
  const parse = new Deno.Command("openssl", {
    args: ["x509", "-noout", "-serial"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = parse.stdin.getWriter();
  await writer.write(new TextEncoder().encode(pem));
  await writer.close();
  return new TextDecoder().decode((await parse.output()).stdout).trim();
}

Deno.test("a rotated certificate is served without a restart; a bad one keeps the old; no push is lost", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    await using gateway = await startGateway([
      "--webConfigFile",
      await writeWebConfig(dir, USERS),
    ]);
    const { api, lifecycle } = https(gateway);
    const port = new URL(api).port;
    assert.equal(await servedSerial(port), "serial=03E9"); // 1001
    using http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
    const headers = { Authorization: basic("prom", PASSWORD) };

    // Pushes go on, one after another on new connections and on kept-alive ones, throughout.
    let pushing = true;
    let accepted = 0;
    const failures: string[] = [];
    const pusher = (async () => {
      while (pushing) {
        try {
          const response = await fetch(`${api}/metrics/job/rotation`, {
            method: "POST",
            client: http,
            headers,
            body: "rotation_pushes_total 1\n",
          });
          await response.body?.cancel();
          if (response.status === 202) accepted++;
          else failures.push(String(response.status));
        } catch (error) {
          failures.push(String(error));
        }
      }
    })();
    const ownMetric = async (series: string) => {
      const text = await (await fetch(`${lifecycle}/metrics`, { client: http })).text();
      return sampleValue(text, series);
    };
    try {
      await waitUntil("pushes before the rotation", () => accepted >= 20);
      // A half-written pair (a new certificate, the old key) is kept out, and counted.
      await Deno.copyFile(`${dir}/next.pem`, `${dir}/server.pem`);
      await gateway.waitForLine("TLS certificate not reloaded; the previous one is still served");
      // (More than once if a check caught the copy half done.)
      assert.ok((await ownMetric('pag_tls_certificate_reloads_total{result="failure"}'))! >= 1);
      assert.equal(await servedSerial(port), "serial=03E9");
      // With its key, the new certificate is served.
      await Deno.copyFile(`${dir}/next-key.pem`, `${dir}/server-key.pem`);
      await gateway.waitForLine("TLS certificate reloaded");
      assert.equal(await servedSerial(port), "serial=03EA"); // 1002
      assert.equal(await ownMetric('pag_tls_certificate_reloads_total{result="success"}'), 1);
      const before = accepted;
      await waitUntil("pushes after the rotation", () => accepted >= before + 20);
    } finally {
      pushing = false;
      await pusher;
    }
    assert.deepEqual(failures, []);
    // Every accepted push is in the aggregate: nothing was lost to the rotation.
    const scrape = await (await fetch(`${api}/metrics`, { client: http, headers })).text();
    assert.equal(sampleValue(scrape, 'rotation_pushes_total{job="rotation"}'), accepted);
  });
});

Deno.test("a web config or PEM file that is not a regular file or is over 1 MiB is refused at start, unread", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    const mkfifo = await run("mkfifo", [`${dir}/fifo`]);
    assert.equal(mkfifo.code, 0, mkfifo.stderr);
    await Deno.writeTextFile(`${dir}/big.yml`, "# padding\n".repeat(110_000));
    const cases: [string, string][] = [
      ["/dev/zero", 'cannot read --webConfigFile "/dev/zero": not a regular file'],
      [`${dir}/fifo`, `cannot read --webConfigFile "${dir}/fifo": not a regular file`],
      [dir, `cannot read --webConfigFile "${dir}": not a regular file`],
      [
        `${dir}/big.yml`,
        `cannot read --webConfigFile "${dir}/big.yml": larger than 1048576 bytes`,
      ],
    ];
    for (const [file, message] of cases) {
      const started = performance.now();
      const result = await runCommand(["--webConfigFile", file]);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr, `prom-aggregation-gateway: ${message}\n`);
      assert.ok(performance.now() - started < 15_000);
    }
    for (
      const [cert, key, message] of [
        ["fifo", "server-key.pem", `cannot read cert_file "${dir}/fifo": not a regular file`],
        ["server.pem", "/dev/zero", `cannot read key_file "/dev/zero": not a regular file`],
        [
          "server.pem",
          "big.yml",
          `cannot read key_file "${dir}/big.yml": larger than 1048576 bytes`,
        ],
      ]
    ) {
      await Deno.writeTextFile(
        `${dir}/web.yml`,
        `tls_server_config:\n  cert_file: ${cert}\n  key_file: ${key}\n`,
      );
      const result = await runCommand(["--webConfigFile", `${dir}/web.yml`]);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr, `prom-aggregation-gateway: ${message}\n`);
    }
  });
});

Deno.test("a FIFO rotated in as the certificate is refused unread; the old one is served", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    await using gateway = await startGateway(["--webConfigFile", await writeWebConfig(dir)]);
    const { lifecycle } = https(gateway);
    const port = new URL(gateway.api).port;
    using http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
    await Deno.remove(`${dir}/server.pem`);
    const mkfifo = await run("mkfifo", [`${dir}/server.pem`]);
    assert.equal(mkfifo.code, 0, mkfifo.stderr);
    const line = await gateway.waitForLine(
      "TLS certificate not reloaded; the previous one is still served",
    );
    assert.ok(
      line.includes(`cannot read cert_file \\"${dir}/server.pem\\": not a regular file`),
      line,
    );
    const healthy = await fetch(`${lifecycle}/-/healthy`, {
      client: http,
      signal: AbortSignal.timeout(5000),
    });
    await healthy.body?.cancel();
    assert.equal(healthy.status, 200);
    assert.equal(await servedSerial(port), "serial=03E9");
    const own = await (await fetch(`${lifecycle}/metrics`, { client: http })).text();
    assert.equal(sampleValue(own, 'pag_tls_certificate_reloads_total{result="failure"}'), 1);
  });
});

Deno.test("pag_tls_handshake_failures_total counts every connection that ends before its handshake, once", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    await using gateway = await startGateway([
      "--webConfigFile",
      await writeWebConfig(dir),
      "--readHeaderTimeout",
      "1s",
    ]);
    const { lifecycle } = https(gateway);
    const port = Number(new URL(gateway.api).port);
    using http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
    // A connection reset while it still waits to be accepted never reaches TLS: it is counted in
    // pag_accept_errors_total instead (case 5 may go either way, as the machine schedules it).
    const failures = async () => {
      const own = await (await fetch(`${lifecycle}/metrics`, { client: http })).text();
      return sampleValue(own, "pag_tls_handshake_failures_total")! +
        sampleValue(own, "pag_accept_errors_total")!;
    };
    assert.equal(await failures(), 0);
    const connect = () => Deno.connect({ hostname: "127.0.0.1", port });
    // 1: connected and closed without a byte (a TCP check).
    (await connect()).close();
    // 2: half a hello, then closed.
    const half = await connect();
    await half.write(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    half.close();
    // 3: garbage that is not a TLS record.
    const garbage = await connect();
    await garbage.write(new Uint8Array(64).fill(0x01));
    assert.equal(await readAll(garbage), "");
    // 4: plain HTTP.
    const plain = await connect();
    await plain.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert.match(await readAll(plain), /^HTTP\/1\.0 400 Bad Request\r\n/);
    // 5: half a hello, then reset (SO_LINGER 0).
    const reset = await run(PYTHON, [
      "-c",
      `import socket, struct
s = socket.create_connection(("127.0.0.1", ${port}))
s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()`,
    ]);
    assert.equal(reset.code, 0, reset.stderr);
    // 6: a handshake that stalls past --readHeaderTimeout.
    const stalled = await connect();
    await stalled.write(new Uint8Array([0x16]));
    assert.equal(await readAll(stalled), "");
    await waitUntil("six failed handshakes counted", async () => (await failures()) === 6);
    // A completed handshake is not a failure, however its connection ends.
    const good = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)],
    });
    await good.handshake();
    good.close();
    const scrape = await fetch(`${lifecycle}/-/healthy`, { client: http });
    await scrape.body?.cancel();
    assert.equal(await failures(), 6);
  });
});

/** Everything `conn` sends until it closes, as text. */
async function readAll(conn: Deno.Conn): Promise<string> {
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  const buffer = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  conn.close();
  return new TextDecoder().decode(await new Blob(chunks).arrayBuffer());
}

Deno.test("a TLS handshake that stalls is closed after --readHeaderTimeout; the cap holds", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    await using gateway = await startGateway([
      "--webConfigFile",
      await writeWebConfig(dir),
      "--readHeaderTimeout",
      "1s",
      "--maxConnections",
      "4",
    ]);
    const port = Number(new URL(gateway.api).port);
    // Four connections that start a handshake and stop: one byte of a TLS record header.
    const stalled = await Promise.all(
      Array.from({ length: 4 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
    );
    for (const conn of stalled) await conn.write(new Uint8Array([0x16]));
    const started = performance.now();
    // The fifth is closed at once: the cap counts connections still in their handshake.
    const fifth = await Deno.connect({ hostname: "127.0.0.1", port });
    const buffer = new Uint8Array(64);
    assert.equal(await fifth.read(buffer).catch(() => null), null);
    fifth.close();
    // The stalled ones are closed by the header deadline.
    for (const conn of stalled) {
      assert.equal(await conn.read(buffer).catch(() => null), null);
      conn.close();
    }
    const seconds = (performance.now() - started) / 1000;
    assert.ok(seconds < 5, `closed after ${seconds} s`);
    // After the handshake, the head's deadline and size limit hold as over plain HTTP.
    const ca = await Deno.readTextFile(`${dir}/ca.pem`);
    const slow = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
    await slow.write(new TextEncoder().encode("GET /metrics HTTP/1.1\r\nHost: a\r\n"));
    const answer = await readAll(slow);
    assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.ok(answer.endsWith("the request took longer than --readHeaderTimeout\n"), answer);
    const large = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
    await large.write(
      new TextEncoder().encode(`GET / HTTP/1.1\r\nX-Big: ${"a".repeat(70_000)}\r\n\r\n`),
    ).catch(() => {});
    assert.match(await readAll(large), /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    // And the listener serves again.
    using http = Deno.createHttpClient({ caCerts: [ca] });
    const own = await (await fetch(`${https(gateway).lifecycle}/metrics`, { client: http })).text();
    assert.equal(sampleValue(own, 'pag_connection_timeouts_total{phase="header"}'), 5);
    assert.ok(sampleValue(own, "pag_connections_refused_total")! >= 1);
  });
});

Deno.test("a flood of wrong passwords leaves a known client answered promptly", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    await using gateway = await startGateway([
      "--webConfigFile",
      await writeWebConfig(dir, USERS),
    ]);
    const { api, lifecycle } = https(gateway);
    using http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
    const good = { Authorization: basic("prom", PASSWORD) };
    const push = () =>
      fetch(`${api}/metrics/job/flood`, {
        method: "POST",
        client: http,
        headers: good,
        body: "flood_ok_total 1\n",
      }).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      });
    assert.equal(await push(), 202); // the first check of these credentials, then cached

    // 24 senders of wrong passwords, each sending again as soon as answered.
    let flooding = true;
    const statuses = new Map<number, number>();
    const flood = Array.from({ length: 24 }, async (_, i) => {
      for (let n = 0; flooding; n++) {
        try {
          const response = await fetch(`${api}/metrics`, {
            client: http,
            headers: { Authorization: basic("prom", `guess-${i}-${n}`) },
          });
          await response.body?.cancel();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        } catch {
          // a closed connection is an answer too
        }
      }
    });
    try {
      await waitUntil("the flood under way", () => (statuses.get(503) ?? 0) > 20);
      const slowest = { push: 0, scrape: 0 };
      for (let i = 0; i < 10; i++) {
        let started = performance.now();
        assert.equal(await push(), 202);
        slowest.push = Math.max(slowest.push, performance.now() - started);
        started = performance.now();
        const scrape = await fetch(`${api}/metrics`, { client: http, headers: good });
        await scrape.body?.cancel();
        assert.equal(scrape.status, 200);
        slowest.scrape = Math.max(slowest.scrape, performance.now() - started);
      }
      // bcryptjs yields every 100 ms of work and two comparisons run at once: a cached client
      // waits a few hundred milliseconds at worst, on a loaded machine.
      console.log("slowest cached push and scrape during the flood, ms:", JSON.stringify(slowest));
      assert.ok(slowest.push < 1500 && slowest.scrape < 1500, JSON.stringify(slowest));
    } finally {
      flooding = false;
      await Promise.all(flood);
    }
    assert.deepEqual([...statuses.keys()].sort(), [401, 503]);
    const own = await (await fetch(`${lifecycle}/metrics`, { client: http })).text();
    assert.ok(sampleValue(own, 'pag_auth_failures_total{reason="busy"}')! > 20);
    // All from one address, so one check at a time: most are busy, a few compared.
    assert.ok(sampleValue(own, 'pag_auth_failures_total{reason="wrong"}')! >= 1);
  });
});

Deno.test("a flood of wrong passwords from one address leaves first checks from another answered", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    // Five users whose credentials nobody has used yet, one for each try of the other client.
    const fresh = Array.from({ length: 5 }, (_, i) => [`fresh${i}`, `pw-${i}`]);
    const users = USERS +
      fresh.map(([user, password]) => `  ${user}: "${bcrypt.hashSync(password, 4)}"\n`).join("");
    await using gateway = await startGateway(["--webConfigFile", await writeWebConfig(dir, users)]);
    const { api } = https(gateway);
    using http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
    // 40 connections from 127.0.0.1 sending wrong passwords (at cost 10) as fast as answered.
    let flooding = true;
    const statuses = new Map<number, number>();
    const retryAfter = new Set<string | null>();
    const flood = Array.from({ length: 40 }, async (_, i) => {
      for (let n = 0; flooding; n++) {
        try {
          const response = await fetch(`${api}/metrics`, {
            client: http,
            headers: { Authorization: basic("prom", `guess-${i}-${n}`) },
          });
          await response.body?.cancel();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          if (response.status === 503) retryAfter.add(response.headers.get("retry-after"));
        } catch {
          // a closed connection is an answer too
        }
      }
    });
    try {
      await waitUntil("the flood under way", () => (statuses.get(503) ?? 0) > 40);
      const answers: string[] = [];
      for (const [user, password] of fresh) {
        // From 127.0.0.2: another source, as loopback takes all of 127.0.0.0/8.
        const result = await curl([
          "--cacert",
          `${dir}/ca.pem`,
          "--interface",
          "127.0.0.2",
          "-u",
          `${user}:${password}`,
          "-o",
          "/dev/null",
          "-w",
          "%{http_code} %{time_total}",
          `${api}/metrics`,
        ]);
        answers.push(result.stdout);
      }
      console.log("first checks from 127.0.0.2 during the flood (status, seconds):", answers);
      for (const answer of answers) {
        const [status, seconds] = answer.split(" ");
        assert.equal(status, "200", JSON.stringify(answers));
        assert.ok(Number(seconds) < 5, JSON.stringify(answers));
      }
    } finally {
      flooding = false;
      await Promise.all(flood);
    }
    // The flood itself was refused: one check of its at a time, the rest 503 with Retry-After.
    assert.deepEqual([...statuses.keys()].sort(), [401, 503]);
    assert.deepEqual([...retryAfter], ["1"]);
  });
});

Deno.test("--AuthUsers beside basic_auth_users: plain users push and delete, bcrypt users do everything", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    await using gateway = await startGateway([
      "--webConfigFile",
      await writeWebConfig(dir, USERS),
      "--AuthUsers",
      "pusher=plain-secret",
    ]);
    const { api } = https(gateway);
    using http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
    const call = async (user: string, password: string, method: string, path: string) => {
      const response = await fetch(`${api}${path}`, {
        method,
        client: http,
        headers: { Authorization: basic(user, password) },
        body: method === "POST" ? "both_total 1\n" : undefined,
      });
      await response.body?.cancel();
      return response.status;
    };
    assert.equal(await call("pusher", "plain-secret", "POST", "/metrics/job/a"), 202);
    assert.equal(await call("pusher", "plain-secret", "GET", "/metrics"), 401);
    assert.equal(await call("prom", PASSWORD, "POST", "/metrics/job/b"), 202);
    assert.equal(await call("prom", PASSWORD, "GET", "/metrics"), 200);
    assert.equal(await call("pusher", "wrong", "POST", "/metrics/job/a"), 401);
    assert.equal(await call("pusher", "plain-secret", "DELETE", "/metrics/job/b"), 202);
  });
});

Deno.test("the gateway refuses a web config file it cannot honour, with one line and exit 2", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    const cases: [string, string][] = [
      [
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
        `prom-aggregation-gateway: --webConfigFile "${dir}/web.yml": tls_server_config.client_auth_type "RequireAndVerifyClientCert" is not supported: Deno's TLS server checks neither a client certificate's CA nor that the client holds its key; use basic_auth_users, or a proxy in front that checks client certificates\n`,
      ],
      [
        "tls_server_config:\n  cert_file: server.pem\n  key_file: next-key.pem\n",
        `prom-aggregation-gateway: key_file "${dir}/next-key.pem" does not match cert_file "${dir}/server.pem"\n`,
      ],
      [
        "tls_server_config:\n  cert_file: missing.pem\n  key_file: server-key.pem\n",
        `prom-aggregation-gateway: cannot read cert_file "${dir}/missing.pem": No such file or directory (os error 2): stat '${dir}/missing.pem'\n`,
      ],
      [
        "tls_server_config:\n  cert_file: server-key.pem\n  key_file: server-key.pem\n",
        `prom-aggregation-gateway: cert_file "${dir}/server-key.pem" holds no PEM certificate`,
      ],
      [
        'http_server_config:\n  headers:\n    Content-Security-Policy: "default-src \\u2028x"\n',
        `prom-aggregation-gateway: --webConfigFile "${dir}/web.yml": http_server_config.headers.Content-Security-Policy holds U+2028 at character 13; a header value may hold visible ASCII, spaces and tabs only\n`,
      ],
      [
        "basic_auth_users:\n  prom: plain\n",
        `prom-aggregation-gateway: --webConfigFile "${dir}/web.yml": basic_auth_users.prom: not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04 to 31, as htpasswd -nBC 10 writes)\n`,
      ],
    ];
    for (const [text, message] of cases) {
      await Deno.writeTextFile(`${dir}/web.yml`, text);
      const result = await runCommand(["--webConfigFile", `${dir}/web.yml`]);
      assert.equal(result.code, 2, result.stderr);
      if (message.endsWith("\n")) assert.equal(result.stderr, message);
      else assert.ok(result.stderr.startsWith(message) && result.stderr.split("\n").length === 2);
    }
    const missing = await runCommand(["--webConfigFile", `${dir}/none.yml`]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^prom-aggregation-gateway: cannot read --webConfigFile "/);
  });
});

/**
 * Python that opens `n` TLS connections to `port` and, for `seconds`, writes `request` on each
 * over and over without reading an answer (a small receive buffer, so that answers back up).
 */
function pipeliningClient(
  dir: string,
  port: number,
  n: number,
  seconds: number,
  request: string,
): Deno.ChildProcess {
  const script = `
import ssl, socket, sys, threading, time
ctx = ssl.create_default_context(cafile=${JSON.stringify(`${dir}/ca.pem`)})
blob = ${JSON.stringify(request)}.encode() * 200
def run():
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", ${port})), server_hostname="localhost")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(3)
        end = time.time() + ${seconds}
        while time.time() < end: s.sendall(blob)
    except Exception:
        pass
threads = [threading.Thread(target=run) for _ in range(${n})]
[t.start() for t in threads]
[t.join() for t in threads]
`;
  return new Deno.Command(PYTHON, { args: ["-c", script], stdin: "null", stdout: "null" })
    .spawn();
}

Deno.test("a TLS client that pipelines requests and reads no answer holds a bounded buffer; the listeners answer; SIGTERM exits", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir);
    for (const extra of ["", USERS]) {
      const gateway = await startGateway(["--webConfigFile", await writeWebConfig(dir, extra)]);
      try {
        const { api, lifecycle } = https(gateway);
        using http = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/ca.pem`)] });
        // Answers of about 400 KB, so that the client's unread answers stop the server's writes.
        const body = Array.from({ length: 5000 }, (_, i) => `pipe_total{i="${i}"} 1\n`).join("");
        const pushed = await fetch(`${api}/metrics/job/pipe`, {
          method: "POST",
          client: http,
          headers: extra ? { Authorization: basic("prom", PASSWORD) } : {},
          body,
        });
        await pushed.body?.cancel();
        assert.equal(pushed.status, 202);
        const before = await residentBytes(gateway.child.pid);
        const port = Number(new URL(api).port);
        const client = pipeliningClient(
          dir,
          port,
          1,
          8,
          "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        const streamer = pipeliningClient(
          dir,
          port,
          1,
          8,
          "POST /metrics/job/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n" +
            `Authorization: ${basic("prom", "wrong")}\r\n\r\n` + "a_total 1\n".repeat(1600),
        );
        let most = before;
        let slowest = 0;
        const deadline = Date.now() + 8000;
        while (Date.now() < deadline) {
          const started = performance.now();
          const healthy = await fetch(`${lifecycle}/-/healthy`, {
            client: http,
            signal: AbortSignal.timeout(5000),
          });
          await healthy.body?.cancel();
          assert.equal(healthy.status, 200);
          slowest = Math.max(slowest, performance.now() - started);
          most = Math.max(most, await residentBytes(gateway.child.pid));
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        await Promise.all([client.status, streamer.status]);
        const grown = (most - before) / 2 ** 20;
        console.log(
          `${extra ? "with" : "without"} basic auth: RSS grew ${grown.toFixed(1)} MiB,`,
          `slowest /-/healthy ${slowest.toFixed(0)} ms`,
        );
        assert.ok(grown < 64, `RSS grew ${grown} MiB`);
        assert.ok(slowest < 1000, `/-/healthy took ${slowest} ms`);
      } finally {
        const stopped = await Promise.race([
          gateway.stop("SIGTERM"),
          new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 15_000)),
        ]);
        if (stopped === "hung") await gateway.stop("SIGKILL");
        assert.notEqual(stopped, "hung", "SIGTERM did not end the gateway");
      }
    }
  });
});
