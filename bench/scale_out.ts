// The scale-out benchmark: pushes/s into one gateway replica directly, into one behind HAProxy
// (HAProxy's own cost), and into three behind HAProxy with the shipped
// deploy/haproxy/haproxy.cfg (balance uri, consistent hash), loaded with wrk over 64 grouping
// paths so that the hash spreads them. Run with `deno task bench:scale` on a quiet machine;
// PAG_BENCH_SECONDS sets each run's length (10 s by default). Prints a table, asserts nothing.
//
// Three replicas can only be faster than one when the machine has cores to spare for them
// and for HAProxy and wrk: on 2 cores, expect no gain; the figure to compare across machines
// is the rate per replica core.

import { typicalPush } from "./bodies.ts";
import { freePort } from "../tests/helpers/free_port.ts";
import { haproxyConfig } from "../tests/helpers/haproxy_process.ts";

const SECONDS = Number(Deno.env.get("PAG_BENCH_SECONDS") ?? 10);
const CONNECTIONS = 32;
const PATHS = 64;
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

const dir = await Deno.makeTempDir({ prefix: "pag-bench-scale-" });
const children: Deno.ChildProcess[] = [];

async function waitUntilUp(url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not come up`);
}

async function startGateway(): Promise<{ api: string; lifecycle: string }> {
  const [api, lifecycle] = [freePort(), freePort()];
  children.push(
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-P=gateway",
        "--config",
        CONFIG,
        MAIN,
        "--apiListen",
        `127.0.0.1:${api}`,
        "--lifecycleListen",
        `127.0.0.1:${lifecycle}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn(),
  );
  const gateway = { api: `http://127.0.0.1:${api}`, lifecycle: `http://127.0.0.1:${lifecycle}` };
  await waitUntilUp(gateway.lifecycle + "/-/ready");
  return gateway;
}

async function startHaproxy(backends: { api: string; lifecycle: string }[]): Promise<string> {
  const port = freePort();
  const file = `${dir}/haproxy-${port}.cfg`;
  await Deno.writeTextFile(file, await haproxyConfig(backends, port));
  children.push(
    new Deno.Command("haproxy", {
      args: ["-db", "-f", file],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn(),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntilUp(url + "/metrics");
  return url;
}

/** Pushes/s wrk reaches posting typical 110-sample pushes to PATHS grouping paths of `url`. */
async function wrk(url: string, seconds = SECONDS): Promise<number> {
  const bodies: string[] = [];
  for (let i = 0; i < 16; i++) {
    const file = `${dir}/body-${i}.txt`;
    await Deno.writeTextFile(file, typicalPush(i % 4, i));
    bodies.push(file);
  }
  const script = `${dir}/post.lua`;
  await Deno.writeTextFile(
    script,
    `local files = {${bodies.map((f) => JSON.stringify(f)).join(", ")}}\n` +
      `local requests = {}\n` +
      `function init(args)\n` +
      `  for p = 1, ${PATHS} do\n` +
      `    local f = io.open(files[(p - 1) % #files + 1], "rb")\n` +
      `    local body = f:read("*a")\n` +
      `    f:close()\n` +
      `    requests[p] = wrk.format("POST", "/metrics/job/bench/instance/i" .. p, {["Content-Type"] = "text/plain; version=0.0.4"}, body)\n` +
      `  end\n` +
      `end\n` +
      `local n = 0\n` +
      `function request() n = n % #requests + 1; return requests[n] end\n` +
      `function response(status) if status >= 300 then error("status " .. status) end end\n`,
  );
  const output = await new Deno.Command("wrk", {
    args: ["-t2", `-c${CONNECTIONS}`, `-d${seconds}s`, "--timeout", "30s", "-s", script, url],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const rate = text.match(/Requests\/sec:\s+([\d.]+)/);
  if (output.code !== 0 || rate === null || /Non-2xx|timeout [1-9]/.test(text)) {
    throw new Error(`wrk failed for ${url}:\n${text}${new TextDecoder().decode(output.stderr)}`);
  }
  return Number(rate[1]);
}

try {
  const rows: [string, number][] = [];
  const one = await startGateway();
  await wrk(one.api, 2); // warm-up
  rows.push(["1 replica, direct", await wrk(one.api)]);
  const oneBehind = await startHaproxy([one]);
  rows.push(["1 replica behind HAProxy", await wrk(oneBehind)]);
  const three = [one, await startGateway(), await startGateway()];
  const threeBehind = await startHaproxy(three);
  await wrk(threeBehind, 2);
  rows.push(["3 replicas behind HAProxy (balance uri)", await wrk(threeBehind)]);
  const cores = navigator.hardwareConcurrency;
  console.log(
    `wrk -t2 -c${CONNECTIONS} -d${SECONDS}s, 110-sample pushes over ${PATHS} paths, ${cores} cores`,
  );
  for (const [name, rate] of rows) console.log(`${name.padEnd(42)} ${rate.toFixed(0)} pushes/s`);
} finally {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited already
    }
    await child.status;
  }
  await Deno.remove(dir, { recursive: true });
}
