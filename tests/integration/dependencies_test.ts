// What the gateway downloads: only what it runs. The test-only npm packages (prom-client,
// playwright-core) live in tests/deno.lock, since Deno downloads every npm package of
// deno.json's imports and of deno.lock each time `deno task start` runs.

import assert from "node:assert/strict";
import { withTempDir } from "../helpers/temp_dir.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("deno task start downloads no npm package into an empty DENO_DIR", async () => {
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`));
  assert.deepEqual(Object.keys(lock.npm ?? {}), [], "deno.lock holds no npm package");
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.equal(config.imports, undefined, "deno.json has no import map to download");

  await withTempDir(async (denoDir) => {
    // `version` runs the whole start path of the task, then exits.
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "start", "version"],
      cwd: ROOT,
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(new TextDecoder().decode(output.stdout), /^prom-aggregation-gateway /);
    assert.doesNotMatch(stderr, /Download/);
    const npm = [];
    try {
      for await (const entry of Deno.readDir(`${denoDir}/npm`)) npm.push(entry.name);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    assert.deepEqual(npm, [], "nothing in DENO_DIR/npm");
  }, "pag-deno-dir-");
});
