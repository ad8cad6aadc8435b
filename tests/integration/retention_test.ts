// Heap retention, measured in a process of its own: only there can a test force a full
// garbage collection (--expose-gc) and read what stays, whatever else the test runner holds.

import assert from "node:assert/strict";

Deno.test("what the gateway keeps from a push does not keep the push's body alive", async () => {
  // 100 bodies of 1 MB, each pushed 3 times (so that caches and templates fill): a name, HELP
  // text, key or cache entry that were a view into its body would keep about 100 MB.
  const script = new URL("./testdata/retention.ts", import.meta.url).pathname;
  // No permission: the script only drives the API handler in memory.
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--v8-flags=--expose-gc", script],
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const grown = Number(new TextDecoder().decode(output.stdout).trim());
  assert.ok(grown < 20 * 1024 * 1024, `the heap grew by ${grown} bytes`);
});
