// What the gateway downloads: only what it runs. Deno downloads every npm package of
// deno.json's imports and of deno.lock when `deno task start` runs, so those hold the runtime's
// three (a YAML parser, bcrypt, snappy) and nothing else; the test-only npm packages
// (prom-client, playwright-core, …) live in tests/deno.lock.

import assert from "node:assert/strict";
import { withTempDir } from "../helpers/temp_dir.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The npm packages the gateway runs, and nothing else, as deno.lock pins them. */
const RUNTIME_PACKAGES = ["bcryptjs@3.0.3", "snappyjs@0.7.0", "yaml@2.9.1"];

Deno.test("deno task start downloads only the gateway's own npm packages into an empty DENO_DIR", async () => {
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`));
  assert.deepEqual(Object.keys(lock.npm ?? {}).sort(), RUNTIME_PACKAGES, "deno.lock");
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.deepEqual(
    Object.values(config.imports ?? {}).sort(),
    RUNTIME_PACKAGES.map((name) => `npm:${name}`),
    "deno.json's import map",
  );

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
    const downloaded = [];
    for await (const entry of Deno.readDir(`${denoDir}/npm/registry.npmjs.org`)) {
      for await (const version of Deno.readDir(`${denoDir}/npm/registry.npmjs.org/${entry.name}`)) {
        if (version.isDirectory) downloaded.push(`${entry.name}@${version.name}`);
      }
    }
    assert.deepEqual(downloaded.sort(), RUNTIME_PACKAGES, "DENO_DIR/npm");
  }, "pag-deno-dir-");
});
