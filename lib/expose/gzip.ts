// A gzip body (RFC 1952) built from pieces compressed one at a time, so that a scrape can send
// each piece while the next one renders, and keep each piece's compressed bytes until it changes.
//
// The body is one gzip member: a header, one deflate stream and a trailer. Each piece is
// compressed on its own into deflate blocks that end with a sync flush (an empty stored block,
// not marked final), so the pieces' blocks follow one another as one stream; an empty final block
// ends it. Every gzip reader reads it as any other gzip body.

import { constants, crc32, deflateRawSync } from "node:zlib";

/** The gzip header: deflate, no flags, no time, unknown OS. */
export const GZIP_HEADER: Uint8Array<ArrayBuffer> = new Uint8Array([
  0x1f,
  0x8b,
  8,
  0,
  0,
  0,
  0,
  0,
  0,
  255,
]);

/**
 * `plain` as deflate blocks that end on a byte boundary without ending the stream. Level 1
 * compresses a scrape about six times faster than the default level, for a body a little
 * larger; a scrape is read once, so speed wins.
 */
export function deflatePiece(plain: Uint8Array): Uint8Array<ArrayBuffer> {
  const deflated = deflateRawSync(plain, { level: 1, finishFlush: constants.Z_SYNC_FLUSH });
  // A copy when the bytes are a view into a larger buffer, which a cache would keep whole.
  return deflated.byteLength === deflated.buffer.byteLength
    ? new Uint8Array(deflated.buffer as ArrayBuffer)
    : new Uint8Array(deflated);
}

/** Running CRC-32 and length of the uncompressed body, for the trailer. */
export class GzipSum {
  #crc = 0;
  #size = 0;

  add(plain: Uint8Array): void {
    this.#crc = crc32(plain, this.#crc);
    this.#size += plain.byteLength;
  }

  /** The end of the body: an empty final deflate block, then the CRC-32 and length mod 2^32. */
  trailer(): Uint8Array<ArrayBuffer> {
    const trailer = new Uint8Array(10);
    trailer[0] = 0x03; // a final block with fixed codes holding only its end code
    const view = new DataView(trailer.buffer);
    view.setUint32(2, this.#crc >>> 0, true);
    view.setUint32(6, this.#size % 2 ** 32, true);
    return trailer;
  }
}
