// The API listener's handler: pushes, deletes and the aggregate scrape, with CORS and auth.
// The one place that maps the domain errors to HTTP status codes.

import { createAuthenticator } from "./auth.ts";
import { readBody } from "./body.ts";
import { corsHeaders, type CorsPolicy, preflightHeaders } from "./cors.ts";
import { deflatePiece, GZIP_HEADER, GzipSum } from "../expose/gzip.ts";
import { ParseError, PushError, type RejectionReason, RequestError } from "../core/errors.ts";
import { parseGroupingPath } from "../ingest/grouping.ts";
import type { HttpRequest } from "./http1.ts";
import type { Logger } from "../core/logger.ts";
import { parseDeltas } from "../ingest/parse_json.ts";
import { parseProtobuf } from "../ingest/parse_protobuf.ts";
import type { Label } from "../core/model.ts";
import type { LabelLimits, PushLimits } from "../ingest/push_builder.ts";
import { SeriesCache, SeriesCacheBudget, targetBytes } from "../ingest/series_cache.ts";
import { parseTextBody } from "../ingest/parse_text.ts";
import { TEXT_CONTENT_TYPE } from "../expose/render.ts";
import type { SelfMetrics } from "./self_metrics.ts";
import { ScrapeCutOff, type Store, type StoreReader } from "../store/store.ts";

export interface ApiOptions {
  store: Store;
  metrics: SelfMetrics;
  logger: Logger;
  cors: CorsPolicy;
  /** No users: pushes and deletes need no auth. */
  authUsers: ReadonlyMap<string, string>;
  maxBodyBytes: number;
  labelLimits: LabelLimits;
  /** `--maxBucketsPerSeries`, checked as a push is parsed; none when absent. */
  maxBucketsPerSeries?: number;
  /**
   * `--maxPushCacheBytes`: what the per-path series caches and the paths they are kept for may
   * take together; `DEFAULT_PUSH_CACHE_BYTES` when absent.
   */
  maxPushCacheBytes?: number;
  /**
   * False once shutdown has given up on the requests in flight and the last snapshot is being
   * written: a push whose body arrives after that is answered 503 and not applied, so that it
   * is never acknowledged and then lost. Always true when absent.
   */
  isAccepting?: () => boolean;
}

const STATUS_BY_REASON: Record<RejectionReason, number> = {
  parse: 400,
  invalid_push: 400,
  type_conflict: 400,
  bad_path: 400,
  bad_encoding: 400,
  incomplete_body: 400,
  unsupported_media_type: 415,
  body_too_large: 413,
  unauthorized: 401,
  origin_not_allowed: 403,
  series_limit: 429,
  label_limit: 400,
  bytes_limit: 429,
  family_limit: 429,
  bucket_limit: 400,
  overloaded: 503,
};

const ROOT_METHODS = "GET, HEAD, POST, PUT, OPTIONS";
const DELTA_METHODS = "POST, OPTIONS";

/** Where pushprom senders post JSON deltas: pushprom's own `/`, and a path that says so. */
const DELTA_PATHS = new Set(["/", "/api/v1/deltas"]);
const GROUPED_METHODS = "POST, PUT, DELETE, OPTIONS";

/** The formats a push body can be in. */
export type BodyFormat = "text" | "openmetrics" | "protobuf";

const PROTOBUF_TYPE = "application/vnd.google.protobuf";
const PROTOBUF_PARAMETERS = "proto=io.prometheus.client.MetricFamily; encoding=delimited";

/**
 * Chooses the parser by `Content-Type`: protobuf (delimited MetricFamily messages, parameters
 * in any order) and OpenMetrics text by their media types, the text format 0.0.4 for anything
 * else, since clients such as prom-client send no Content-Type at all.
 */
export function bodyFormat(contentType: string | null): BodyFormat {
  const [mediaType, ...parameters] = (contentType ?? "").split(";").map((p) => p.trim());
  switch (mediaType.toLowerCase()) {
    case "application/openmetrics-text":
      return "openmetrics";
    case PROTOBUF_TYPE: {
      const values = new Map(parameters.map((p) => {
        const eq = p.indexOf("=");
        return [
          p.slice(0, eq).trim().toLowerCase(),
          p.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"),
        ];
      }));
      if (
        values.get("proto") !== "io.prometheus.client.MetricFamily" ||
        values.get("encoding") !== "delimited"
      ) {
        throw new RequestError(
          `protobuf bodies must be "${PROTOBUF_TYPE}; ${PROTOBUF_PARAMETERS}"`,
          "unsupported_media_type",
        );
      }
      return "protobuf";
    }
    default:
      return "text";
  }
}

/** Builds the API listener's `(Request) => Response` handler. */
export function createApiHandler(options: ApiOptions): (request: HttpRequest) => Promise<Response> {
  const { store, metrics, logger } = options;
  const authenticate = options.authUsers.size > 0
    ? createAuthenticator(options.authUsers)
    : undefined;
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const lenientUtf8 = new TextDecoder("utf-8");

  // Per push path: its grouping labels, and a series cache for them (a cached key includes
  // them). Senders push to the same paths again and again, so a path is parsed once. The paths
  // and the caches draw on one budget of bytes (a path can be as long as the headers allow),
  // and all start over when it is spent.
  const targets = new Map<string, { grouping: Label[]; cache: SeriesCache }>();
  const cacheBudget = new SeriesCacheBudget(options.maxPushCacheBytes);
  const forgetTargets = { clear: () => targets.clear() };
  metrics.trackPushCache(cacheBudget);
  const targetOf = (path: string): { grouping: Label[]; cache: SeriesCache } => {
    let target = targets.get(path);
    if (target === undefined) {
      const grouping = parseGroupingPath(path);
      cacheBudget.spend(forgetTargets, targetBytes(path, grouping)); // may empty `targets`
      targets.set(path, target = { grouping, cache: new SeriesCache(cacheBudget) });
    }
    return target;
  };
  // What a push is checked against as it is parsed; the store's room lets a push that cannot
  // fit be refused before it is built whole.
  const pushLimits: PushLimits = {
    ...options.labelLimits,
    maxBuckets: options.maxBucketsPerSeries,
    room: store,
  };

  // The Content-Type of the last push, and its format: senders send one type again and again.
  let lastType: string | null = null;
  let lastFormat: BodyFormat = "text";
  const formatOf = (contentType: string | null): BodyFormat => {
    if (contentType !== lastType) {
      lastFormat = bodyFormat(contentType);
      lastType = contentType;
    }
    return lastFormat;
  };

  const isAccepting = options.isAccepting ?? (() => true);
  /** The answer to a change that came too late, after shutdown stopped accepting. */
  const tooLate = (): Response => {
    metrics.countPush("rejected", 0);
    return text(503, "the gateway is shutting down; retry elsewhere or later", {
      "Connection": "close",
    });
  };

  /** Refuses a request; counts the reason, and for a push also the push. */
  const reject = (error: Error & { reason: RejectionReason }, isPush: boolean): Response => {
    metrics.countRejection(error.reason);
    if (isPush) metrics.countPush("rejected", 0);
    logger.debug("request refused", { reason: error.reason, error: error.message });
    const headers: Record<string, string> = {};
    if (error.reason === "unauthorized") {
      headers["WWW-Authenticate"] = 'Basic realm="prom-aggregation-gateway", charset="UTF-8"';
    }
    if (error.reason === "overloaded") headers["Retry-After"] = "1";
    return text(STATUS_BY_REASON[error.reason], error.message, headers);
  };

  const checkAuth = (request: HttpRequest): void => {
    if (authenticate !== undefined && !authenticate(request.headers.get("authorization"))) {
      throw new RequestError("valid Basic credentials are required", "unauthorized");
    }
  };

  const push = async (request: HttpRequest, path: string): Promise<Response> => {
    checkAuth(request);
    const { grouping, cache } = targetOf(path);
    const format = formatOf(request.headers.get("content-type"));
    const limits = pushLimits;
    const body = await readBody(request, options.maxBodyBytes);
    const push = format === "protobuf"
      ? parseProtobuf(body, grouping, limits)
      : parseTextBody(body, decodeText, format === "openmetrics", grouping, limits, cache);
    if (!isAccepting()) return tooLate();
    const result = store.apply(push);
    metrics.countPush("accepted", result.samples);
    logger.debug("push accepted", {
      path,
      format,
      samples: result.samples,
      newSeries: result.newSeries,
    });
    return new Response(null, { status: 202 });
  };

  /** pushprom's answer: 200 with `ok`. */
  const pushDeltas = async (request: HttpRequest): Promise<Response> => {
    checkAuth(request);
    const deltas = parseDeltas(
      decodeText(await readBody(request, options.maxBodyBytes)),
      pushLimits,
    );
    if (!isAccepting()) return tooLate();
    const result = store.applyDeltas(deltas);
    metrics.countPush("accepted", result.samples);
    logger.debug("deltas accepted", { deltas: result.samples, newSeries: result.newSeries });
    return new Response("ok", { headers: { "Content-Type": "text/plain; charset=utf-8" } });
  };

  /** The body as text; throws a `bad_encoding` RequestError when it is not valid UTF-8. */
  const decodeText = (body: Uint8Array): string => {
    // The lenient decoder is several times faster than the fatal one. It writes U+FFFD for
    // invalid bytes, and a body is mostly ASCII, where searching for U+FFFD costs nothing;
    // only a body that has one is decoded again to tell a sent U+FFFD from invalid bytes.
    const text = lenientUtf8.decode(body);
    if (!text.includes("\uFFFD")) return text;
    try {
      return utf8.decode(body);
    } catch {
      throw new RequestError("body is not valid UTF-8", "bad_encoding");
    }
  };

  const remove = (request: HttpRequest, path: string): Response => {
    checkAuth(request);
    const match = parseGroupingPath(path);
    // No labels, or only empty values, would match every series, or every series without
    // those labels: a stray `/metrics//` or `/metrics/job@base64/=` must not empty the gateway.
    if (match.every(([, value]) => value === "")) {
      throw new RequestError(
        `DELETE needs a grouping label with a value, as in /metrics/job/<job>; "${path}" has none`,
        "bad_path",
      );
    }
    const removed = store.delete(match);
    logger.debug("series deleted", { path, removed });
    return new Response(null, { status: 202 });
  };

  const scrape = (request: HttpRequest): Response => {
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

  /** Routes a request; returns the response and the handler name for the metrics. */
  const route = async (request: HttpRequest): Promise<[string, Response]> => {
    const pathname = rawPathname(request.url);
    if (request.method === "OPTIONS") {
      return ["preflight", new Response(null, { status: 204 })];
    }
    if (DELTA_PATHS.has(pathname)) {
      if (request.method !== "POST") {
        const message = `${request.method} is not allowed on ${pathname}; use ${DELTA_METHODS}`;
        return ["method_not_allowed", text(405, message, { Allow: DELTA_METHODS })];
      }
      try {
        return ["deltas", await pushDeltas(request)];
      } catch (error) {
        return ["deltas", handleError(error, true)];
      }
    }
    if (pathname !== "/metrics" && !pathname.startsWith("/metrics/")) {
      const message =
        `not found: ${pathname} (the API serves /metrics, and / or /api/v1/deltas for JSON deltas)`;
      return ["not_found", text(404, message)];
    }
    const rest = pathname.slice("/metrics".length);
    const isRoot = rest === "" || rest === "/";
    const method = request.method;
    if (method === "POST" || method === "PUT") {
      try {
        return ["push", await push(request, rest)];
      } catch (error) {
        return ["push", handleError(error, true)];
      }
    }
    if (method === "GET" || method === "HEAD") {
      if (isRoot) return ["scrape", scrape(request)];
    } else if (method === "DELETE" && !isRoot) {
      try {
        return ["delete", remove(request, rest)];
      } catch (error) {
        return ["delete", handleError(error, false)];
      }
    }
    const allow = isRoot ? ROOT_METHODS : GROUPED_METHODS;
    return [
      "method_not_allowed",
      text(405, `${method} is not allowed on ${pathname}; use ${allow}`, { Allow: allow }),
    ];
  };

  const handleError = (error: unknown, isPush: boolean): Response => {
    if (
      error instanceof ParseError || error instanceof PushError || error instanceof RequestError
    ) {
      return reject(error, isPush);
    }
    logger.error("request failed", { error: String(error), stack: (error as Error)?.stack });
    if (isPush) metrics.countPush("rejected", 0);
    return text(500, "internal error");
  };

  return async (request: HttpRequest): Promise<Response> => {
    const started = performance.now();
    let handler = "cors";
    let response: Response;
    const cors = corsHeaders(options.cors, request.headers.get("origin"));
    if (cors === "forbidden") {
      metrics.countRejection("origin_not_allowed");
      response = text(403, `origin ${request.headers.get("origin")} is not allowed (--cors)`);
    } else {
      [handler, response] = await route(request);
      if (cors !== undefined) {
        for (const [name, value] of Object.entries(cors)) {
          // Vary lists every header the answer depends on: Origin joins Accept-Encoding.
          if (name === "Vary") response.headers.append(name, value);
          else response.headers.set(name, value);
        }
        if (handler === "preflight") {
          const requested = request.headers.get("access-control-request-headers");
          for (const [name, value] of Object.entries(preflightHeaders(requested))) {
            response.headers.set(name, value);
          }
        }
      }
    }
    metrics.observeRequest(handler, response.status, (performance.now() - started) / 1000);
    return response;
  };
}

/** The most chars of an error message sent back: messages quote what was pushed. */
const MAX_MESSAGE = 1024;

/** `message`, cut to {@linkcode MAX_MESSAGE} chars with a note of what was left out. */
function boundMessage(message: string): string {
  if (message.length <= MAX_MESSAGE) return message;
  return `${message.slice(0, MAX_MESSAGE)}… (${message.length - MAX_MESSAGE} more chars)`;
}

/** A plain-text answer; the message is bounded, since it may quote what a sender sent. */
function text(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(boundMessage(message) + "\n", {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * The path of a request URL exactly as sent. `new URL().pathname` would resolve `..` and
 * `%2e%2e` segments, which would silently drop grouping labels from a push or a DELETE.
 */
export function rawPathname(url: string): string {
  const scheme = url.indexOf("://");
  const start = url.indexOf("/", scheme === -1 ? 0 : scheme + 3);
  if (start === -1) return "/";
  let end = url.length;
  for (const stop of ["?", "#"]) {
    const at = url.indexOf(stop, start);
    if (at !== -1 && at < end) end = at;
  }
  return url.slice(start, end);
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
