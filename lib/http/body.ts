// Reads a request body under a size limit, inflating `Content-Encoding: gzip`, so that neither a
// large body nor a gzip bomb is ever held in memory much beyond the limit.

import { gunzipSync } from "node:zlib";
import { RequestError } from "../core/errors.ts";
import type { HttpRequest } from "./http1.ts";

/**
 * Reads the whole body of `request` as bytes. The limit applies to the bytes after
 * decompression; a gzip body is also refused when its compressed bytes alone pass the limit (by
 * more than the few bytes per 64 KiB that gzip adds to data it cannot compress). Throws
 * {@linkcode RequestError}: `body_too_large` (413) over the limit, `unsupported_media_type`
 * (415) for an encoding other than gzip or identity, `bad_encoding` (400) for a corrupt gzip
 * stream, `incomplete_body` (400) for a body that could not be read to its end (a sender that
 * hung up, or sent fewer bytes than its Content-Length).
 */
export async function readBody(request: HttpRequest, maxBytes: number): Promise<Uint8Array> {
  const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  const gzip = encoding === "gzip" || encoding === "x-gzip";
  if (!gzip && encoding !== "identity" && encoding !== "") {
    throw new RequestError(
      `unsupported Content-Encoding "${encoding}": send gzip or no encoding`,
      "unsupported_media_type",
    );
  }
  const tooLarge = () =>
    new RequestError(`body exceeds the limit of ${maxBytes} bytes`, "body_too_large");
  const rawLimit = rawBodyLimit(maxBytes, gzip);
  const raw = await readRaw(request, rawLimit, tooLarge);
  if (!gzip) return raw;
  try {
    // Inflated in one call that stops past the limit: only the limit's worth is ever held.
    // Concatenated gzip members are read as one body, as Go's gzip reader does.
    return gunzipSync(raw, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge();
    throw new RequestError(
      `body is not valid gzip: ${(error as Error).message}`,
      "bad_encoding",
    );
  }
}

/** The body's bytes as sent, refused past `limit`. */
async function readRaw(
  request: HttpRequest,
  limit: number,
  tooLarge: () => RequestError,
): Promise<Uint8Array> {
  // A declared size past the limit is refused before anything is read. Memory follows the
  // bytes that arrive, never the declared size: the server reads the body into a buffer that
  // grows as they come, and stops at its own limit (see `http1.ts`).
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw tooLarge();
  let raw: Uint8Array;
  try {
    raw = await request.bytes();
  } catch (error) {
    if (error instanceof RequestError) {
      throw error.reason === "body_too_large" ? tooLarge() : error;
    }
    throw new RequestError(
      `the body could not be read to its end: ${(error as Error).message}`,
      "incomplete_body",
    );
  }
  if (raw.length > limit) throw tooLarge();
  return raw;
}

/**
 * The most bytes a body may have as sent: `maxBytes`, and for gzip a little more, since deflate
 * stores data it cannot compress in blocks of up to 64 KiB with 5 bytes of framing, and gzip
 * adds 18 bytes of header and trailer.
 */
export function rawBodyLimit(maxBytes: number, gzip = true): number {
  return gzip ? maxBytes + 5 * Math.ceil(maxBytes / 65_535) + 18 : maxBytes;
}
