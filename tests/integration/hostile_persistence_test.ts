// Snapshots and logs against what a hostile sender or a hostile machine can do, each over a
// real gateway process and real files and sockets: a store whose snapshot is larger than any
// string, damaged files, a planted symlink, `ulimit -f`, a read-only folder, fail-open flags
// and huge log lines.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { crc32 } from "node:zlib";
import { LOG_VALUE_BYTES } from "../../lib/app/log.ts";
import { decodeSnapshot, END_PREFIX, SNAPSHOT_HEADER } from "../../lib/store/snapshot.ts";
import { Store } from "../../lib/store/store.ts";
import { type GatewayProcess, runCommand, startGateway } from "../helpers/gateway_process.ts";
import { selfMetric } from "../helpers/self_metrics.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";

/** POSTs `body` to the API listener at `path`; returns the status. */
async function post(gateway: GatewayProcess, path: string, body: string): Promise<number> {
  const response = await fetch(gateway.api + path, { method: "POST", body });
  await response.body?.cancel();
  return response.status;
}

/** How many lines so far contain `text`. */
function count(gateway: GatewayProcess, text: string): number {
  return gateway.lines.filter((line) => line.includes(text)).length;
}

/** V8's longest string, 2^29 - 24 chars: the old snapshot was one string, and failed beyond. */
const MAX_STRING_LENGTH = 2 ** 29 - 24;

Deno.test({
  name: "a snapshot larger than the longest string is written at SIGTERM and read back whole",
  // The smallest honest reproduction: histogram series with 4000-char labels write 14 lines
  // each, so 10k series (40 MB of labels, 16 MB of pushes) make a snapshot of 570 MB, past
  // what one string can hold. 600k series of 900-byte lines fail the same way, more slowly.
  async fn() {
    await withTempDir(async (dir) => {
      const path = `${dir}/aggregate.prom`;
      const flags = ["--persistenceFile", path, "--persistenceInterval", "500ms"];
      const series = 10_000;
      const pad = "x".repeat(4000);
      // Room in the store's byte budget for 570 MB of scrape text. The variable, not the flag:
      // a gateway without the budget ignores it, and the test then shows how that one fails.
      const env = { PAG_MAXSTOREBYTES: String(4 * 1024 ** 3) };
      {
        await using gateway = await startGateway([...flags, "--logLevel", "debug"], { env });
        for (let from = 0; from < series; from += 250) {
          const deltas = Array.from({ length: 250 }, (_, i) => ({
            type: "histogram",
            name: "big",
            method: "observe",
            value: 0.2,
            labels: { i: String(from + i), pad },
          }));
          assert.equal(await post(gateway, "/api/v1/deltas", JSON.stringify(deltas)), 200);
        }
        // The gateway serves while it writes: a push and a health check in turn, through two
        // whole writes of the full store (each push makes the next interval write again).
        const written = 'msg="snapshot written"';
        const before = count(gateway, written);
        let slowest = 0;
        await waitUntil("two more snapshots written", async () => {
          const started = performance.now();
          assert.equal(await post(gateway, "/metrics/job/probe", "probes_total 1\n"), 202);
          const healthy = await fetch(gateway.lifecycle + "/-/healthy");
          await healthy.body?.cancel();
          assert.equal(healthy.status, 200);
          slowest = Math.max(slowest, performance.now() - started);
          const failed = gateway.lines.find((line) => line.includes("snapshot failed"));
          assert.equal(failed, undefined);
          return count(gateway, written) >= before + 2;
        }, { timeoutMs: 60_000 });
        assert.ok(slowest < 1000, `a push and a health check took ${slowest} ms`);
        const status = await gateway.stop("SIGTERM");
        assert.equal(status.code, 0, gateway.lines.join("\n"));
      }
      const size = (await Deno.stat(path)).size;
      assert.ok(size > MAX_STRING_LENGTH, `the snapshot has only ${size} bytes`);
      // Parsing 570 MB takes 10 to 20 s; the API listener opens once it is done.
      await using restarted = await startGateway(flags, { env, lineTimeoutMs: 60_000 });
      // The big histograms, and the probes' counter.
      await restarted.waitForLine(`msg="snapshot loaded" path=${path} series=${series + 1}`);
      assert.equal(await selfMetric(restarted, "pag_series"), series + 1);
      // Every series came back with its value: the scrape is read as a stream, line by line.
      const response = await fetch(restarted.api + "/metrics");
      let counts = 0;
      let buffered = "";
      for await (const text of response.body!.pipeThrough(new TextDecoderStream())) {
        buffered += text;
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        for (const line of lines) {
          if (line.startsWith("big_count{")) {
            assert.ok(line.endsWith("} 1"), line.slice(-40));
            counts++;
          }
        }
      }
      assert.equal(counts, series);
    });
  },
});

const SMALL_PUSH = `# TYPE c_total counter
c_total{k="a"} 42
c_total{k="b"} 7
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 2
h_sum 3
h_count 2
`;

/** The CRC-32 as the last line of a snapshot writes it. */
const crcOf = (text: string) => crc32(text).toString(16).padStart(8, "0");

/** Runs the gateway on `path` and returns the exit code and the last line it logged. */
async function startOn(path: string): Promise<[number, string | undefined]> {
  const { code, stderr } = await runCommand([
    "--apiListen",
    "127.0.0.1:0",
    "--lifecycleListen",
    "127.0.0.1:0",
    "--persistenceFile",
    path,
  ]);
  return [code, stderr.trimEnd().split("\n").at(-1)];
}

Deno.test("a snapshot ends with its series count and checksum; a cut or damaged one is refused", async (t) => {
  await withTempDir(async (dir) => {
    const path = `${dir}/aggregate.prom`;
    {
      await using gateway = await startGateway(["--persistenceFile", path]);
      assert.equal(await post(gateway, "/metrics/job/t", SMALL_PUSH), 202);
      assert.equal((await gateway.stop("SIGTERM")).code, 0);
    }
    const good = await Deno.readTextFile(path);
    const lines = good.split("\n");
    assert.equal(lines[0], SNAPSHOT_HEADER);
    const end = lines.at(-2)!;
    const body = good.slice(0, good.length - end.length - 1);
    assert.equal(end, `${END_PREFIX}3 series, crc32 ${crcOf(body)}`);
    assert.equal(lines.at(-1), "", "the file ends with a newline");

    const truncated =
      `truncated: the last line is not "${END_PREFIX}<series> series, crc32 <checksum>"`;
    const value = good.indexOf('c_total{job="t",k="a"} 42 ');
    const lineOf = (text: string, at: number) => text.slice(0, at).split("\n").length;
    const changed = good.replace(" 42 ", " 43 ");
    const invalid = good.replace(" 42 ", " 4x ");
    // [name, file, exact reason after "cannot load snapshot <path>: "]
    const cases: [string, string, string][] = [
      ["the last line cut off", body, truncated],
      ["cut at a line boundary", lines.slice(0, 4).join("\n") + "\n", truncated],
      ["cut in the middle of a value, 42 become 4", good.slice(0, value + 24), truncated],
      [
        "the count changed",
        good.replace(" 3 series", " 4 series"),
        "damaged: it holds 3 series, the last line says 4",
      ],
      [
        "a value changed",
        changed,
        `damaged: the crc32 of the content is ${
          crcOf(changed.slice(0, body.length))
        }, the last line says ${crcOf(body)}`,
      ],
      [
        "a value made invalid",
        invalid,
        `damaged: the crc32 of the content is ${
          crcOf(invalid.slice(0, body.length))
        }, the last line says ${crcOf(body)} ` +
        `(first error: line ${lineOf(good, value)}: invalid value "4x" for metric "c_total")`,
      ],
      [
        "text after the last line",
        good + 'c_total{k="z"} 1 1\n',
        `line ${lines.length}: text after the last line "${END_PREFIX}…"`,
      ],
    ];
    for (const [name, text, reason] of cases) {
      await t.step(name, async () => {
        await Deno.writeTextFile(path, text);
        const [code, last] = await startOn(path);
        assert.equal(code, 1);
        assert.equal(last, `prom-aggregation-gateway: cannot load snapshot ${path}: ${reason}`);
        assert.equal(await Deno.readTextFile(path), text, "the file is left as it was");
      });
    }

    await t.step("a version 1 file, which has no last line, still loads", async () => {
      const v1 = body.replace(SNAPSHOT_HEADER, "# prom-aggregation-gateway snapshot 1");
      await Deno.writeTextFile(path, v1);
      await using gateway = await startGateway(["--persistenceFile", path]);
      await gateway.waitForLine(`msg="snapshot loaded" path=${path} series=3`);
      const text = await (await fetch(gateway.api + "/metrics")).text();
      assert.match(text, /^c_total\{job="t",k="a"\} 42$/m);
      assert.equal((await gateway.stop("SIGTERM")).code, 0);
      // Written back in version 2.
      assert.ok((await Deno.readTextFile(path)).startsWith(SNAPSHOT_HEADER + "\n"));
    });
  });
});

Deno.test("a symlink planted at the temporary file's name is never written through", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/aggregate.prom`;
    const victim = `${dir}/victim`;
    await Deno.writeTextFile(victim, "precious\n");
    // The name the temporary file had, and the one anyone would guess.
    await Deno.symlink(victim, `${path}.tmp`);
    // A link named as temporary files are now, and a file of such a name that a kill -9 in the
    // middle of a write left: the file is removed at start, the link is not followed or removed.
    const planted = `${path}.0123456789abcdef.tmp`;
    await Deno.symlink(victim, planted);
    const left = `${path}.fedcba9876543210.tmp`;
    await Deno.writeTextFile(left, "# prom-aggregation-gateway snapshot 2\n# TYPE half");
    const flags = ["--persistenceFile", path, "--persistenceInterval", "100ms"];
    let lines: string[];
    {
      await using gateway = await startGateway([...flags, "--logLevel", "debug"]);
      lines = gateway.lines;
      // Three writes: two by the interval, each after a push, and the last one at SIGTERM.
      assert.equal(await post(gateway, "/metrics/job/t", SMALL_PUSH), 202);
      await waitUntil("a snapshot written", () => count(gateway, "snapshot written") >= 1);
      assert.equal(await post(gateway, "/metrics/job/t", "after_total 1\n"), 202);
      await waitUntil("another snapshot written", () => count(gateway, "snapshot written") >= 2);
      assert.equal((await gateway.stop("SIGTERM")).code, 0);
      assert.equal(count(gateway, "snapshot written"), 3);
    }
    assert.equal(await Deno.readTextFile(victim), "precious\n");
    assert.equal(await Deno.readLink(`${path}.tmp`), victim, "the planted link is left alone");
    assert.equal(await Deno.readLink(planted), victim);
    const removed = `msg="removed a temporary file of an interrupted snapshot" path=${left}`;
    assert.ok(lines.some((line) => line.includes(removed)), lines.join("\n"));
    assert.ok((await Deno.lstat(path)).isFile, "the snapshot is a file of its own");
    const store = new Store({ gaugeBehavior: "replace" });
    assert.equal(await decodeSnapshot(await Deno.readTextFile(path), store), 4);
    // Nothing else is left beside it: the temporary files were renamed.
    const names = [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
    assert.deepEqual(names, [
      "aggregate.prom",
      "aggregate.prom.0123456789abcdef.tmp",
      "aggregate.prom.tmp",
      "victim",
    ]);
  });
});

Deno.test("past `ulimit -f` a snapshot fails, is logged and counted, and the gateway serves on", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/aggregate.prom`;
    const flags = ["--persistenceFile", path, "--persistenceInterval", "100ms"];
    await using gateway = await startGateway([...flags, "--logLevel", "debug"]);
    // About 200 KB of snapshot, more than the 64 KiB limit.
    let body = "# TYPE wide_total counter\n";
    for (let i = 0; i < 2000; i++) body += `wide_total{i="${i}",pad="${"p".repeat(60)}"} 1\n`;
    assert.equal(await post(gateway, "/metrics/job/t", body), 202);
    await gateway.waitForLine("snapshot written");
    const saved = await Deno.readTextFile(path);
    // Applied to the running process, so that deno's own cache writes at start are not limited.
    const limit = await new Deno.Command("prlimit", {
      args: ["--pid", String(gateway.child.pid), "--fsize=65536:65536"],
    }).output();
    assert.equal(limit.code, 0, new TextDecoder().decode(limit.stderr));

    assert.equal(await post(gateway, "/metrics/job/t", "after_total 1\n"), 202);
    const failed = await gateway.waitForLine("snapshot failed");
    assert.match(failed, /File too large/);
    assert.ok(await selfMetric(gateway, "pag_snapshot_failures_total") >= 1);
    // Pushes and scrapes go on; the file on disk is the last one written whole.
    assert.equal(await post(gateway, "/metrics/job/t", "after_total 1\n"), 202);
    const text = await (await fetch(gateway.api + "/metrics")).text();
    assert.match(text, /^after_total\{job="t"\} 2$/m);
    assert.equal(await Deno.readTextFile(path), saved);
    // The last write at SIGTERM fails too: exit code 1, not a signal.
    const status = await gateway.stop("SIGTERM");
    assert.equal(status.signal, null);
    assert.equal(status.code, 1);
    assert.ok(gateway.lines.at(-2)!.includes("snapshot failed"), gateway.lines.at(-2));
    assert.equal(await Deno.readTextFile(path), saved);
    const names = [...Deno.readDirSync(dir)].map((entry) => entry.name);
    assert.deepEqual(names, ["aggregate.prom"], "each failed write removed its temporary file");
  });
});

/**
 * setpriv's options that take from a root process what lets it write where the permissions
 * say it may not: it keeps uid 0 (and deno its cache), but a folder without `w` stops it.
 */
const DROP_DAC = [
  "setpriv",
  "--bounding-set=-dac_override,-dac_read_search,-fowner",
  "--inh-caps=-all",
  "--",
];

/** Whether this machine can run a process as {@linkcode DROP_DAC} says (root, with setpriv). */
function canDropDac(): boolean {
  try {
    return new Deno.Command(DROP_DAC[0], { args: [...DROP_DAC.slice(1), "true"] }).outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "a read-only folder makes snapshots fail, logged and counted, and the gateway serves on",
  ignore: !canDropDac(),
  async fn() {
    await withTempDir(async (dir) => {
      const folder = `${dir}/data`;
      await Deno.mkdir(folder, { mode: 0o755 });
      const path = `${folder}/aggregate.prom`;
      const flags = ["--persistenceFile", path, "--persistenceInterval", "100ms"];
      await using gateway = await startGateway([...flags, "--logLevel", "debug"], {
        wrapper: DROP_DAC,
      });
      assert.equal(await post(gateway, "/metrics/job/t", SMALL_PUSH), 202);
      await gateway.waitForLine("snapshot written");
      await Deno.chmod(folder, 0o555);
      try {
        assert.equal(await post(gateway, "/metrics/job/t", "after_total 1\n"), 202);
        const failed = await gateway.waitForLine("snapshot failed");
        assert.match(failed, /Permission denied/);
        assert.ok(await selfMetric(gateway, "pag_snapshot_failures_total") >= 1);
        assert.equal(await post(gateway, "/metrics/job/t", "after_total 1\n"), 202);
        const text = await (await fetch(gateway.api + "/metrics")).text();
        assert.match(text, /^after_total\{job="t"\} 2$/m);
      } finally {
        await Deno.chmod(folder, 0o755);
      }
      // Writable again: the next snapshot is written, and the last one at SIGTERM.
      const written = count(gateway, "snapshot written");
      await waitUntil(
        "a snapshot written again",
        () => count(gateway, "snapshot written") > written,
      );
      assert.equal((await gateway.stop("SIGTERM")).code, 0);
      assert.match(await Deno.readTextFile(path), /^after_total\{job="t"\} 2 \d+$/m);
    });
  },
});

Deno.test("an --AuthUsers that would turn auth off stops the start with a one-line reason", async () => {
  const listen = ["--apiListen", "127.0.0.1:0", "--lifecycleListen", "127.0.0.1:0"];
  const cases: [string, string][] = [
    [",", '--AuthUsers: "," has no user=password entry; leave the flag out to turn auth off'],
    ["u=", '--AuthUsers: user "u" has an empty password'],
  ];
  for (const [value, reason] of cases) {
    const { code, stdout, stderr } = await runCommand([...listen, "--AuthUsers", value]);
    assert.equal(code, 2);
    assert.equal(stdout, "");
    assert.equal(stderr, `prom-aggregation-gateway: ${reason}\n`);
  }
});

Deno.test("a 60 KB bad datagram makes a log line of at most a few KB", async () => {
  await using gateway = await startGateway(["--udpListen", "127.0.0.1:0"]);
  const datagram = `{"type":"counter","name":"${"a-".repeat(30_000)}","method":"inc"}`;
  const socket = dgram.createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) =>
      socket.send(datagram, gateway.udp!.port, "127.0.0.1", (e) => e ? reject(e) : resolve())
    );
  } finally {
    socket.close();
  }
  const line = await gateway.waitForLine("udp datagram refused");
  // logfmt quotes the error, escaping its quotes: 991 chars kept, as in log_test.ts.
  assert.match(line, /error="invalid metric name \\"a-a-a-[-a]*…\(59031 more bytes\)"$/);
  const longest = Math.max(...gateway.lines.map((l) => new TextEncoder().encode(l).length));
  assert.ok(longest < LOG_VALUE_BYTES + 256, `a log line of ${longest} bytes`);
});
