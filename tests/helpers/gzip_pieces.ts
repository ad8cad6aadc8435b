// Test helper: gzip bodies built as the scrape builds them, from pieces compressed one by one.

import { concatBytes } from "../../lib/core/bytes.ts";
import { deflatePiece, GZIP_HEADER, GzipSum } from "../../lib/expose/gzip.ts";
import { random } from "./seeded.ts";

/** A gzip body of `pieces`, each compressed on its own, as the scrape builds it. */
export function gzipOf(pieces: Uint8Array[]): Uint8Array<ArrayBuffer> {
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
export function randomPieces(seed: number): Uint8Array[] {
  const next = random(seed);
  return Array.from({ length: 1 + Math.floor(next() * 6) }, () => {
    let text = "";
    const lines = [0, 1, 50, 5000][Math.floor(next() * 4)];
    for (let i = 0; i < lines; i++) text += `x{a="${Math.floor(next() * 1e6)}",b="é"} ${next()}\n`;
    return encoder.encode(text);
  });
}
