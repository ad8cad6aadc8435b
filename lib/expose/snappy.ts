// Snappy block compression, as remote write sends its bodies: a typed wrapper of the
// `snappyjs` npm package, which ships no types.
// Format: https://github.com/google/snappy/blob/main/format_description.txt

import { compress, uncompress } from "snappyjs";

/** `bytes` compressed in the snappy block format (no framing). */
export function snappyCompress(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return compress(bytes) as Uint8Array<ArrayBuffer>;
}

/**
 * A snappy block uncompressed; throws if it is malformed or would be longer than `maxLength`
 * bytes, which the block states in its header before anything is allocated.
 */
export function snappyUncompress(bytes: Uint8Array, maxLength: number): Uint8Array<ArrayBuffer> {
  return uncompress(bytes, maxLength) as Uint8Array<ArrayBuffer>;
}
