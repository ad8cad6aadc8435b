// The aggregate scrape, `GET /metrics`: the store's text streamed as it renders, gzipped piece by
// piece when the scraper accepts it.

import type { Logger } from "../core/logger.ts";
import { deflatePiece, GZIP_HEADER, GzipSum } from "../expose/gzip.ts";
import { TEXT_CONTENT_TYPE } from "../expose/render.ts";
import type { Store } from "../store/store.ts";
import { ScrapeCutOff, type StoreReader } from "../store/store_reader.ts";
import type { HttpRequest } from "./http1.ts";
import type { SelfMetrics } from "./self_metrics.ts";

export interface ScrapeOptions {
  store: Store;
  metrics: SelfMetrics;
  logger: Logger;
}

/** Builds the handler of `GET` and `HEAD /metrics`. */
export function createScrapeHandler(options: ScrapeOptions): (request: HttpRequest) => Response {
  const { store, metrics, logger } = options;
  return (request: HttpRequest): Response => {
    // Vary either way: the body depends on Accept-Encoding, gzipped or not.
    const headers: Record<string, string> = {
      "Content-Type": TEXT_CONTENT_TYPE,
      "Vary": "Accept-Encoding",
    };
    const gzip = acceptsGzip(request.headers.get("accept-encoding"));
    if (gzip) headers["Content-Encoding"] = "gzip";
    const reader = store.read();
    let deflated = 0;
    const chunks = scrapeChunks(reader, gzip, () => deflated++);
    // The render time counts the scrapes that rendered or compressed anything: the ones that
    // found every piece ready cost only the writing.
    const done = (ms: number) => {
      if (reader.rendered > 0 || deflated > 0) metrics.observeRender(ms / 1000);
    };
    if (request.method === "HEAD") {
      const started = performance.now();
      let length = 0;
      try {
        for (const chunk of chunks) length += chunk.byteLength;
      } finally {
        reader.close();
      }
      done(performance.now() - started);
      headers["Content-Length"] = String(length);
      return new Response(null, { headers });
    }
    const abandon = (error?: unknown) => {
      reader.close();
      // The status line is sent: the scraper sees the body cut short, the log says why.
      if (error instanceof ScrapeCutOff) {
        logger.warn("scrape cut off", { error: error.message });
      } else if (error !== undefined) {
        logger.error("scrape failed while sending", {
          error: String(error),
          stack: (error as Error)?.stack,
        });
      }
    };
    return new Response(streamOf(chunks, done, abandon), { headers });
  };
}

/**
 * The chunks of a scrape body, each made when asked for: the pieces of the store's text, or a
 * gzip body of them. A piece is rendered when the body reaches it, and compressed on its own
 * (see `gzip.ts`), so the first chunks are on their way while the rest renders; a piece keeps
 * its compressed bytes until its family changes. `onDeflate` is told of each piece compressed.
 * The read closes itself at its end.
 */
function* scrapeChunks(
  reader: StoreReader,
  gzip: boolean,
  onDeflate: () => void,
): Generator<Uint8Array<ArrayBuffer>> {
  if (!gzip) {
    for (let piece; (piece = reader.next()) !== undefined;) yield piece.plain;
    return;
  }
  yield GZIP_HEADER;
  const sum = new GzipSum();
  for (let piece; (piece = reader.next()) !== undefined;) {
    sum.add(piece.plain);
    if (piece.deflated === undefined) {
      piece.deflated = deflatePiece(piece.plain);
      onDeflate();
    }
    yield piece.deflated;
  }
  yield sum.trailer();
}

/**
 * A body stream of `chunks`, each made when the stream wants the next one, so that making them
 * overlaps their sending. `done` gets the milliseconds spent making them once all are made;
 * `abandon` runs if the stream ends before, cancelled by the server (its client hung up) or
 * failed (with the error).
 */
function streamOf(
  chunks: Generator<Uint8Array<ArrayBuffer>>,
  done: (ms: number) => void,
  abandon: (error?: unknown) => void,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  let spent = 0;
  return new ReadableStream({
    pull(controller) {
      const started = performance.now();
      let next;
      try {
        next = chunks.next();
      } catch (error) {
        abandon(error);
        throw error;
      }
      spent += performance.now() - started;
      if (next.done) {
        controller.close();
        done(spent);
      } else {
        controller.enqueue(next.value);
      }
    },
    cancel() {
      abandon();
    },
  });
}

/**
 * Whether an `Accept-Encoding` header accepts gzip: by a `gzip` entry with a non-zero q (or none),
 * or else by `*`. An explicit `gzip;q=0` refuses gzip whatever `*` says (RFC 9110, 12.5.3).
 */
export function acceptsGzip(header: string | null): boolean {
  if (header === null) return false;
  let wildcard = false;
  for (const part of header.split(",")) {
    const [coding, ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    if (coding !== "gzip" && coding !== "x-gzip" && coding !== "*") continue;
    const q = params.find((p) => p.startsWith("q="));
    const accepted = q === undefined || Number(q.slice(2)) > 0;
    if (coding !== "*") return accepted;
    wildcard = accepted;
  }
  return wildcard;
}
