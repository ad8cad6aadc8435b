// Reads a request body under a size limit, inflating `Content-Encoding: gzip` as it streams,
// so neither a large body nor a gzip bomb is ever held in memory beyond the limit.

import { RequestError } from "./errors.ts";

/**
 * Reads the whole body of `request` as bytes. The limit applies to the bytes after
 * decompression. Throws {@linkcode RequestError}: `body_too_large` (413) over the limit,
 * `unsupported_media_type` (415) for an encoding other than gzip or identity, `bad_encoding`
 * (400) for a corrupt gzip stream.
 */
export async function readBody(request: Request, maxBytes: number): Promise<Uint8Array> {
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
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (!gzip && declared > maxBytes) throw tooLarge();
  if (!gzip && declared <= maxBytes) {
    // The common case: a plain body of a declared size within the limit, read in one call.
    // The HTTP layer ends the body at its Content-Length, so it cannot grow past the limit.
    // (`request.body` is not touched first: in Deno that makes a stream, and the read then
    // goes through it instead of taking the whole body at once.)
    return new Uint8Array(await request.arrayBuffer());
  }
  if (request.body === null) return new Uint8Array(0);

  let stream: ReadableStream<Uint8Array> = request.body;
  if (gzip) {
    stream = stream.pipeThrough(
      new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>,
    );
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw tooLarge();
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof RequestError) throw error;
    if (gzip) throw new RequestError("body is not valid gzip", "bad_encoding");
    throw error;
  } finally {
    reader.cancel().catch(() => {});
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
