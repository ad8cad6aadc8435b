// The program must not depend on its source tree: bundled to one file (and, where the Deno
// runtime for `deno compile` can be downloaded, compiled to one binary), it runs from an
// empty folder and serves pushes.

import assert from "node:assert/strict";
import { MAIN, PERMISSION_SET, startGateway } from "../helpers/gateway_process.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

async function run(args: string[], cwd?: string): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), { args, cwd, stdin: "null" }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
}

/** Pushes twice and checks the aggregate and /healthy of a running gateway. */
async function checkGateway(api: string, lifecycle: string): Promise<void> {
  const healthy = await fetch(lifecycle + "/healthy");
  assert.equal((await healthy.json()).alive, true);
  for (let i = 0; i < 2; i++) {
    const response = await fetch(api + "/metrics/job/standalone", {
      method: "POST",
      body: "# TYPE runs_total counter\nruns_total 1\n",
    });
    assert.equal(response.status, 202);
  }
  assert.equal(
    await (await fetch(api + "/metrics")).text(),
    '# TYPE runs_total counter\nruns_total{job="standalone"} 2\n',
  );
}

Deno.test("a deno bundle of main.ts runs from an empty folder", async () => {
  await withTempDir(async (dir) => {
    const bundle = `${dir}/prom-aggregation-gateway.js`;
    await run(["bundle", "--quiet", "--platform", "deno", "-o", bundle, MAIN]);
    const empty = `${dir}/empty`;
    await Deno.mkdir(empty);
    // No deno.json there to name the permission set in: the flags it stands for.
    await using gateway = await startGateway([], {
      script: bundle,
      cwd: empty,
      permissions: "flags",
    });
    await checkGateway(gateway.api, gateway.lifecycle);
    assert.deepEqual([...Deno.readDirSync(empty)], [], "it writes nothing to its folder");
    assert.equal((await gateway.stop()).code, 0);
  });
});

const compile = Deno.env.get("PAG_TEST_COMPILE") === "1";

Deno.test({
  name: compile
    ? "deno compile builds one executable that runs from an empty folder"
    : "deno compile builds one executable (NOT RUN: needs the denort download; set PAG_TEST_COMPILE=1)",
  ignore: !compile,
  async fn() {
    await withTempDir(async (dir) => {
      const binary = `${dir}/prom-aggregation-gateway`;
      // As `deno task compile` does, from the project's folder, where deno.json names the set.
      await run([
        "compile",
        "--quiet",
        `-P=${PERMISSION_SET}`,
        "-o",
        binary,
        MAIN,
      ], new URL("../../", import.meta.url).pathname);
      const child = new Deno.Command(binary, {
        args: ["--apiListen", "127.0.0.1:0", "--lifecycleListen", "127.0.0.1:0"],
        cwd: dir,
        stderr: "piped",
        stdout: "null",
      }).spawn();
      try {
        const addresses: Record<string, string> = {};
        const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
        let text = "";
        while (Object.keys(addresses).length < 2) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`the binary exited:\n${text}`);
          text += value;
          for (const [, name, address] of text.matchAll(/listener=(\w+) address=(\S+)/g)) {
            addresses[name] = "http://" + address;
          }
        }
        await checkGateway(addresses.api, addresses.lifecycle);
        reader.releaseLock();
      } finally {
        child.kill("SIGTERM");
        assert.equal((await child.status).code, 0);
        await child.stderr.cancel().catch(() => {});
      }
    });
  },
});
