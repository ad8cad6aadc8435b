// deploy/prom-aggregation-gateway.service, checked by systemd's own tools: `systemd-analyze
// verify` finds no error, and `systemd-analyze security --offline` rates its exposure at 1.5 or
// less. verify also checks that ExecStart's program exists, so it reads a copy of the unit whose
// only change is that path, pointing at an executable that runs this checkout's gateway.

import assert from "node:assert/strict";
import { withTempDir } from "../helpers/temp_dir.ts";
import { MAIN } from "../helpers/gateway_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const UNIT = `${ROOT}deploy/prom-aggregation-gateway.service`;
const NAME = "prom-aggregation-gateway.service";
const EXEC_START = "ExecStart=/usr/local/bin/prom-aggregation-gateway start";

async function analyze(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("systemd-analyze", {
    args,
    stdin: "null",
    env: { SYSTEMD_COLORS: "0", SYSTEMD_PAGER: "" },
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Runs `fn` with a copy of the unit whose ExecStart runs this checkout's gateway. */
async function withRunnableUnit(fn: (unit: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const program = `${dir}/prom-aggregation-gateway`;
    await Deno.writeTextFile(
      program,
      `#!/bin/sh\nexec ${Deno.execPath()} run -P=gateway --config ${ROOT}deno.json ${MAIN} "$@"\n`,
    );
    await Deno.chmod(program, 0o755);
    const lines = (await Deno.readTextFile(UNIT)).split("\n");
    assert.equal(lines.filter((l) => l === EXEC_START).length, 1, "the unit's ExecStart");
    const copy = lines.map((l) => l === EXEC_START ? `ExecStart=${program} start` : l);
    await Deno.writeTextFile(`${dir}/${NAME}`, copy.join("\n"));
    await fn(`${dir}/${NAME}`);
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("systemd-analyze verify finds nothing wrong with the unit", async () => {
  await withRunnableUnit(async (unit) => {
    const { code, stdout, stderr } = await analyze(["verify", unit]);
    assert.equal(code, 0, stderr);
    assert.equal(stdout + stderr, "");
  });
  // The unit as shipped, where no gateway is installed: verify does look at ExecStart.
  if (!(await exists("/usr/local/bin/prom-aggregation-gateway"))) {
    const { code, stderr } = await analyze(["verify", UNIT]);
    assert.equal(code, 1);
    assert.equal(
      stderr,
      `${NAME}: Command /usr/local/bin/prom-aggregation-gateway is not executable: No such file or directory\n`,
    );
  }
});

Deno.test("systemd-analyze security --offline rates the unit's exposure at 1.5 or less", async () => {
  await withRunnableUnit(async (unit) => {
    // The threshold is in tenths: 15 is an exposure of 1.5.
    const { code, stdout, stderr } = await analyze([
      "security",
      "--offline=true",
      "--threshold=15",
      "--no-pager",
      unit,
    ]);
    assert.equal(code, 0, stdout + stderr);
    const exposure = stdout.match(
      /Overall exposure level for prom-aggregation-gateway\.service: (\d+\.\d)/,
    )?.[1];
    assert.ok(exposure !== undefined, stdout);
    assert.ok(Number(exposure) <= 1.5, `exposure ${exposure}`);
  });
});

Deno.test("the unit's Documentation= points at this project's docs", async () => {
  const text = await Deno.readTextFile(UNIT);
  const docs = [...text.matchAll(/^Documentation=(.+)$/gm)].flatMap((m) => m[1].split(" "));
  assert.deepEqual(docs, [
    "file:///usr/local/share/doc/prom-aggregation-gateway/install.md",
    "file:///usr/local/share/doc/prom-aggregation-gateway/operations.md",
  ]);
  // docs/install.md copies docs/ there; each page named exists in this checkout.
  for (const url of docs) {
    const file = url.replace("file:///usr/local/share/doc/prom-aggregation-gateway/", "docs/");
    assert.ok(await exists(`${ROOT}${file}`), file);
  }
});
