// A/B of the push path between source trees (git worktrees of two commits, say): one gateway per
// tree, started side by side, and wrk pushing the load benchmark's 16 bodies of 110 samples to
// each in turn for ROUNDS rounds of 4 s. Prints each tree's median server CPU per push (from
// /proc, steadier than the rate when the machine is shared) and push rate. Asserts nothing.
//
//   git worktree add --detach /tmp/base <commit>
//   deno run --allow-all bench/push_ab.ts /tmp/base . /tmp/base .

import { freePort } from "../tests/helpers/free_port.ts";
import { pushWithWrk, writePushBodies } from "./wrk.ts";

const trees = Deno.args;
if (trees.length === 0) throw new Error("usage: push_ab.ts TREE [TREE…]");
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 6);
const SECONDS = 4;

const dir = await Deno.makeTempDir();
const bodyFiles = await writePushBodies(dir);

interface Gateway {
  tree: string;
  child: Deno.ChildProcess;
  url: string;
  cpu: number[];
  rate: number[];
}

const gateways: Gateway[] = trees.map((tree) => {
  const api = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      `${tree}/main.ts`,
      "--apiListen",
      `127.0.0.1:${api}`,
      "--lifecycleListen",
      `127.0.0.1:${freePort()}`,
      "--logLevel",
      "warn",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return { tree, child, url: `http://127.0.0.1:${api}/metrics/job/bench`, cpu: [], rate: [] };
});

try {
  for (const gateway of gateways) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await (await fetch(gateway.url.replace(/\/job\/bench$/, ""))).body?.cancel();
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
  // Round 0 warms every gateway up and is not counted.
  for (let round = 0; round <= ROUNDS; round++) {
    for (const gateway of gateways) {
      const run = await pushWithWrk(gateway.url, {
        pid: gateway.child.pid,
        bodyFiles,
        seconds: SECONDS,
        connections: 16,
        dir,
      });
      if (round === 0) continue;
      gateway.cpu.push(run.cpu);
      gateway.rate.push(run.rate);
    }
  }
} finally {
  for (const gateway of gateways) {
    gateway.child.kill("SIGTERM");
    await gateway.child.status;
  }
  await Deno.remove(dir, { recursive: true });
}

const median = (values: number[]) => values.toSorted((a, b) => a - b)[values.length >> 1];
for (const { tree, cpu, rate } of gateways) {
  console.log(
    `${tree}: server CPU per push ${median(cpu).toFixed(1)} µs ` +
      `[${cpu.map((v) => v.toFixed(0)).join(" ")}], ${median(rate).toFixed(0)} pushes/s`,
  );
}
