// The load benchmark: the gateway, the Debian prometheus-pushgateway and a bare Deno.serve,
// side by side on 127.0.0.1, loaded with wrk. Bounded in time (about three minutes) and stops
// by itself. Run with `deno task bench:load`; prints a table of ratios, asserts nothing.
//
// For each server, after a 2 s warm-up: pushes/s of 110-sample bodies (the same series, new
// values each push) into an empty store and the server's CPU time per push (read from /proc, it
// depends less on what else the machine does), the same after filling the store with 100k series,
// the time of a scrape of those 100k series (the first the server ever serves, then after pushes
// that change some of them, as Prometheus sees it, then unchanged), and resident memory per
// stored series (the growth of the lowest resident memory over 15 s, before and after the fill).
//
// `deno task bench:load --rules FILE` starts the gateway with `--rulesFile FILE` and pushes to
// `/metrics/job/bench/instance/bench-1`, so that a rule on job "bench" with `sources: [instance]`
// makes the pushes cumulative input (bench/rules50.yaml does: 50 rules); compare its push rate
// with a run without --rules.

import { counterLines, typicalPush } from "./bodies.ts";
import { type PushRun, pushWithWrk, writePushBodies } from "./wrk.ts";

/** Each push rate is the median of RUNS wrk runs of SECONDS each. */
const SECONDS = Number(Deno.env.get("PAG_BENCH_SECONDS") ?? 5);
const RUNS = 3;
/**
 * Resident memory is the lowest of samples taken over this long: V8 gives memory back some 8 s
 * after allocation slows (its memory reducer), and Go on its own schedule.
 */
const MEMORY_SAMPLING_MS = 15_000;
const WARMUP_SECONDS = 2;
const CONNECTIONS = 16;
const FILL_SERIES = 100_000;
const FILL_BATCH = 1000;
/** `--rules FILE`: the gateway's --rulesFile, and pushes by one instance, cumulative under it. */
const RULES = (() => {
  const at = Deno.args.indexOf("--rules");
  return at === -1 ? undefined : Deno.args[at + 1];
})();

interface Server {
  name: string;
  url: string;
  pushPath: string;
  child: Deno.ChildProcess;
}

/** `count` distinct free ports: all are held open together, so none is handed out twice. */
function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) => (listener.addr as Deno.NetAddr).port);
  for (const listener of listeners) listener.close();
  return ports;
}

async function waitUntilUp(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${url} did not come up`);
}

async function start(
  name: string,
  command: string,
  args: string[],
  pushPath: string,
  port: number,
): Promise<Server> {
  const child = new Deno.Command(command, { args, stdin: "null", stdout: "null", stderr: "null" })
    .spawn();
  const url = `http://127.0.0.1:${port}`;
  await waitUntilUp(url + (name === "bare Deno.serve" ? "/" : "/metrics"));
  return { name, url, pushPath, child };
}

/** Resident memory of a process, from /proc. */
async function rss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) * 1024;
}

/**
 * The lowest resident memory of a process over MEMORY_SAMPLING_MS: what it holds once its
 * garbage collector has run, rather than wherever the last collection left it.
 */
async function settledRss(pid: number): Promise<number> {
  let lowest = Infinity;
  for (let waited = 0; waited < MEMORY_SAMPLING_MS; waited += 250) {
    lowest = Math.min(lowest, await rss(pid));
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return lowest;
}

function median(values: number[]): number {
  return values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
}

/**
 * Pushes/s that wrk reaches posting `bodies` in turn to `server` for SECONDS, and the server's
 * CPU time per push.
 */
function wrk(server: Server, bodyFiles: string[], seconds = SECONDS): Promise<PushRun> {
  return pushWithWrk(server.url + server.pushPath, {
    pid: server.child.pid,
    bodyFiles,
    seconds,
    connections: CONNECTIONS,
    dir,
    // The Pushgateway takes over a second per push into a full store: a long timeout, so that
    // its slow answers count as answers.
    timeout: "30s",
  });
}

/** Fills a server with FILL_SERIES counter series, in pushes of FILL_BATCH to their own group. */
async function fill(server: Server): Promise<void> {
  for (let offset = 0; offset < FILL_SERIES; offset += FILL_BATCH) {
    const response = await fetch(`${server.url}/metrics/job/fill/instance/i${offset}`, {
      method: "POST",
      body: counterLines(FILL_BATCH, offset),
    });
    if (response.status >= 300) throw new Error(`${server.name}: fill got ${response.status}`);
    await response.body?.cancel();
  }
}

/** Scrapes after a change, each after a push that changes the values of FILL_BATCH series. */
const CHANGED_SCRAPES = 10;

interface ScrapeTimes {
  /** The first scrape after the fill, by a server that never served one before. */
  first: number;
  /** The median of the scrapes that follow a push to some of the series. */
  changed: number;
  /** The median of 5 scrapes of the store unchanged. */
  repeated: number;
  /** The scrape's length, in chars of text. */
  length: number;
}

/** Milliseconds of whole scrapes, each read to the end by the client (with gzip, as Deno asks). */
async function scrapeTimes(server: Server): Promise<ScrapeTimes> {
  const once = async () => {
    const started = performance.now();
    const text = await (await fetch(server.url + "/metrics")).text();
    return [performance.now() - started, text.length] as const;
  };
  const [first, length] = await once();
  const repeats: number[] = [];
  for (let i = 0; i < 5; i++) repeats.push((await once())[0]);
  // As Prometheus sees a gateway that senders keep pushing to: every scrape follows a change.
  // The first of these still include the JIT compiling the scrape's code.
  const changed: number[] = [];
  for (let i = 0; i < CHANGED_SCRAPES; i++) {
    const offset = FILL_BATCH * (i % (FILL_SERIES / FILL_BATCH));
    const response = await fetch(`${server.url}/metrics/job/fill/instance/i${offset}`, {
      method: "POST",
      body: counterLines(FILL_BATCH, offset),
    });
    if (response.status >= 300) throw new Error(`${server.name}: push got ${response.status}`);
    await response.body?.cancel();
    changed.push((await once())[0]);
  }
  return { first, changed: median(changed), repeated: median(repeats), length };
}

const dir = await Deno.makeTempDir({ prefix: "pag-load-" });
// 16 pushes of the same 110 series with different values, sent in turn.
const bodyFiles = await writePushBodies(dir);
const main = new URL("../main.ts", import.meta.url).pathname;
const bare = new URL("./bare_server.ts", import.meta.url).pathname;

const ports = freePorts(4);
const servers = [
  await start(
    "gateway",
    Deno.execPath(),
    [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      main,
      "--apiListen",
      `127.0.0.1:${ports[0]}`,
      "--lifecycleListen",
      `127.0.0.1:${ports[1]}`,
      "--logLevel",
      "warn",
      ...(RULES === undefined ? [] : ["--rulesFile", RULES]),
    ],
    RULES === undefined ? "/metrics/job/bench" : "/metrics/job/bench/instance/bench-1",
    ports[0],
  ),
  await start(
    "Pushgateway",
    "prometheus-pushgateway",
    [
      `--web.listen-address=127.0.0.1:${ports[2]}`,
      "--log.level=warn",
      // Debian's build persists to /var/lib/prometheus by default, which would carry one run's
      // 100k series into the next run's "empty" store: keep everything in memory.
      "--persistence.file=",
    ],
    "/metrics/job/bench",
    ports[2],
  ),
  await start(
    "bare Deno.serve",
    Deno.execPath(),
    ["run", "--allow-net", bare, String(ports[3])],
    "/",
    ports[3],
  ),
];

interface Result {
  empty: number;
  /** Server CPU time per push into the empty store, microseconds. */
  cpuPerPush: number;
  full?: number;
  /** Server CPU time per push into the full store, microseconds. */
  cpuPerPushFull?: number;
  scrape?: ScrapeTimes;
  bytesPerSeries?: number;
}
const results = new Map<string, Result>();
try {
  // Into empty stores: the servers take turns, run by run, so that a machine that speeds up
  // or slows down during the benchmark does not favour one of them. Each is warmed up first
  // with a short unrecorded run (JIT, buffers).
  const runs = new Map<Server, PushRun[]>(servers.map((server) => [server, []]));
  for (const server of servers) await wrk(server, bodyFiles, WARMUP_SECONDS);
  for (let run = 1; run <= RUNS; run++) {
    for (const server of servers) {
      console.error(
        `${server.name}: pushing into an empty store for ${SECONDS} s (${run}/${RUNS})…`,
      );
      runs.get(server)!.push(await wrk(server, bodyFiles));
    }
  }
  for (const [server, serverRuns] of runs) {
    results.set(server.name, {
      empty: median(serverRuns.map((run) => run.rate)),
      cpuPerPush: median(serverRuns.map((run) => run.cpu)),
    });
  }
  for (const server of servers) {
    if (server.name === "bare Deno.serve") continue;
    const result = results.get(server.name)!;
    const before = await settledRss(server.child.pid);
    console.error(`${server.name}: filling with ${FILL_SERIES} series…`);
    await fill(server);
    result.bytesPerSeries = (await settledRss(server.child.pid) - before) / FILL_SERIES;
    result.scrape = await scrapeTimes(server);
    console.error(`${server.name}: pushing into the full store, ${RUNS} × ${SECONDS} s…`);
    const fullRuns: PushRun[] = [];
    for (let run = 1; run <= RUNS; run++) fullRuns.push(await wrk(server, bodyFiles));
    result.full = median(fullRuns.map((run) => run.rate));
    result.cpuPerPushFull = median(fullRuns.map((run) => run.cpu));
  }
} finally {
  for (const server of servers) {
    server.child.kill("SIGTERM");
    await server.child.status;
  }
  await Deno.remove(dir, { recursive: true });
}

const gateway = results.get("gateway")!;
const pushgateway = results.get("Pushgateway")!;
const baseline = results.get("bare Deno.serve")!;
const ratio = (a: number, b: number) => b > 0 ? (a / b).toFixed(2) + "x" : "n/a";
/** A row that compares the gateway with the Pushgateway only: `of` each, and their ratio. */
const versus = (
  label: string,
  of: (result: Result) => number,
  digits: number,
): [string, string, string, string, string] => [
  label,
  of(gateway).toFixed(digits),
  of(pushgateway).toFixed(digits),
  "",
  ratio(of(gateway), of(pushgateway)),
];
const rows: [string, string, string, string, string][] = [
  ["", "gateway", "Pushgateway", "bare Deno.serve", "gateway vs Pushgateway / vs bare"],
  [
    "pushes/s, empty store",
    gateway.empty.toFixed(0),
    pushgateway.empty.toFixed(0),
    baseline.empty.toFixed(0),
    `${ratio(gateway.empty, pushgateway.empty)} / ${ratio(gateway.empty, baseline.empty)}`,
  ],
  [
    "server CPU per push, µs, empty store",
    gateway.cpuPerPush.toFixed(1),
    pushgateway.cpuPerPush.toFixed(1),
    baseline.cpuPerPush.toFixed(1),
    `${ratio(gateway.cpuPerPush, pushgateway.cpuPerPush)} / ${
      ratio(gateway.cpuPerPush, baseline.cpuPerPush)
    }`,
  ],
  [
    `pushes/s, ${FILL_SERIES / 1000}k series stored`,
    gateway.full!.toFixed(0),
    pushgateway.full!.toFixed(0),
    "",
    `${ratio(gateway.full!, pushgateway.full!)} / full vs empty ${
      ratio(gateway.full!, gateway.empty)
    }`,
  ],
  [
    `server CPU per push, µs, ${FILL_SERIES / 1000}k series stored`,
    gateway.cpuPerPushFull!.toFixed(1),
    pushgateway.cpuPerPushFull!.toFixed(1),
    "",
    `${ratio(gateway.cpuPerPushFull!, pushgateway.cpuPerPushFull!)} / full vs empty ${
      ratio(gateway.cpuPerPushFull!, gateway.cpuPerPush)
    }`,
  ],
  versus(`scrape of ${FILL_SERIES / 1000}k series, ms (first ever)`, (r) => r.scrape!.first, 1),
  versus(
    `scrape after a push, ms (median of ${CHANGED_SCRAPES})`,
    (r) => r.scrape!.changed,
    1,
  ),
  versus("scrape, ms (unchanged, median of 5)", (r) => r.scrape!.repeated, 1),
  versus("resident bytes per series", (r) => r.bytesPerSeries!, 0),
];
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const [i, row] of rows.entries()) {
  console.log("| " + row.map((cell, j) => cell.padEnd(widths[j])).join(" | ") + " |");
  if (i === 0) console.log("| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |");
}
console.log(
  `\n${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores, deno ${Deno.version.deno}; ` +
    `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s (median of ${RUNS} runs), 16 bodies of the same 110 samples with ` +
    `different values (about ${new TextEncoder().encode(typicalPush()).length} bytes) in turn` +
    (RULES === undefined ? "" : `; the gateway with --rulesFile ${RULES}, pushing as one instance`),
);
