import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { concatBytes } from "../lib/expose/render.ts";
import { deflatePiece, GZIP_HEADER, GzipSum } from "../lib/expose/gzip.ts";
import { random } from "./seeded.ts";

/** A gzip body of `pieces`, each compressed on its own, as the scrape builds it. */
function gzipOf(pieces: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const sum = new GzipSum();
  const chunks: Uint8Array[] = [GZIP_HEADER];
  for (const piece of pieces) {
    sum.add(piece);
    chunks.push(deflatePiece(piece));
  }
  chunks.push(sum.trailer());
  return concatBytes(chunks);
}

const encoder = new TextEncoder();

/** Pieces of random text lines, of random sizes (none, small, and past zlib's 64 KB window). */
function randomPieces(seed: number): Uint8Array[] {
  const next = random(seed);
  return Array.from({ length: 1 + Math.floor(next() * 6) }, () => {
    let text = "";
    const lines = [0, 1, 50, 5000][Math.floor(next() * 4)];
    for (let i = 0; i < lines; i++) text += `x{a="${Math.floor(next() * 1e6)}",b="é"} ${next()}\n`;
    return encoder.encode(text);
  });
}

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

Deno.test("the trailer holds the CRC-32 and the length, which a reader checks", () => {
  const body = gzipOf([encoder.encode("a 1\n")]);
  const view = new DataView(body.buffer);
  assert.equal(view.getUint32(body.length - 4, true), 4);
  body[body.length - 8] ^= 1;
  assert.throws(() => gunzipSync(body));
});
