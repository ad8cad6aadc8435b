// The scrape's gzip bodies, read by a real gzip(1) process; tests/unit/gzip_test.ts checks
// them with zlib and DecompressionStream, in process.

import assert from "node:assert/strict";
import { concatBytes } from "../../lib/core/bytes.ts";
import { gzipOf, randomPieces } from "../helpers/gzip_pieces.ts";

Deno.test("gzip(1) reads the body, and finds nothing after it", async () => {
  const pieces = randomPieces(7);
  const child = new Deno.Command("gzip", {
    args: ["-dc"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(gzipOf(pieces));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0);
  assert.equal(new TextDecoder().decode(stderr), "", "no warning of trailing data");
  assert.deepEqual(stdout, concatBytes(pieces));
});
