// A/B of the push path between source trees (git worktrees of two commits, say): one gateway per
// tree, started side by side, and wrk pushing the load benchmark's 16 bodies of 110 samples to
// each in turn for ROUNDS rounds of 4 s. Prints each tree's median server CPU per push (from
// /proc, steadier than the rate when the machine is shared) and push rate. Asserts nothing.
//
//   git worktree add --detach /tmp/base <commit>
//   deno run --allow-all bench/push_ab.ts /tmp/base . /tmp/base .

import { typicalPush } from "./bodies.ts";

const trees = Deno.args;
if (trees.length === 0) throw new Error("usage: push_ab.ts TREE [TREE…]");
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 6);
const SECONDS = 4;

const dir = await Deno.makeTempDir();
const bodies: string[] = [];
for (let i = 0; i < 16; i++) {
  const file = `${dir}/body${i}.txt`;
  await Deno.writeTextFile(file, typicalPush(0, i));
  bodies.push(file);
}
const script = `${dir}/post.lua`;
await Deno.writeTextFile(
  script,
  `local files = {${bodies.map((f) => JSON.stringify(f)).join(", ")}}\n` +
    `local requests = {}\n` +
    `function init(args)\n` +
    `  for i, name in ipairs(files) do\n` +
    `    local f = io.open(name, "rb")\n` +
    `    requests[i] = wrk.format("POST", nil, {["Content-Type"] = "text/plain; version=0.0.4"}, f:read("*a"))\n` +
    `    f:close()\n` +
    `  end\n` +
    `end\n` +
    `local n = 0\n` +
    `function request() n = n % #requests + 1; return requests[n] end\n` +
    `function response(status) if status >= 300 then error("status " .. status) end end\n`,
);

/** CPU time a process has used, user and system, in microseconds. */
function cpuMicros(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

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
      const before = cpuMicros(gateway.child.pid);
      const output = await new Deno.Command("wrk", {
        args: ["-t1", "-c16", `-d${SECONDS}s`, "-s", script, gateway.url],
        stdout: "piped",
      }).output();
      const requests = Number(
        new TextDecoder().decode(output.stdout).match(/(\d+) requests in/)?.[1],
      );
      if (round === 0 || !(requests > 0)) continue;
      gateway.cpu.push((cpuMicros(gateway.child.pid) - before) / requests);
      gateway.rate.push(requests / SECONDS);
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
