import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { concatBytes } from "../../lib/core/bytes.ts";
import { gzipOf, randomPieces } from "../helpers/gzip_pieces.ts";

const encoder = new TextEncoder();

Deno.test("a body of pieces compressed one by one is one gzip member any reader inflates", async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const pieces = randomPieces(seed);
    const body = gzipOf(pieces);
    const plain = concatBytes(pieces);
    // zlib checks the trailer's CRC-32 and length.
    assert.deepEqual(new Uint8Array(gunzipSync(body)), plain, `seed ${seed}`);
    const stream = new Blob([body]).stream().pipeThrough(new DecompressionStream("gzip"));
    assert.deepEqual(new Uint8Array(await new Response(stream).arrayBuffer()), plain);
  }
});

Deno.test("the trailer holds the CRC-32 and the length, which a reader checks", () => {
  const body = gzipOf([encoder.encode("a 1\n")]);
  const view = new DataView(body.buffer);
  assert.equal(view.getUint32(body.length - 4, true), 4);
  body[body.length - 8] ^= 1;
  assert.throws(() => gunzipSync(body));
});
