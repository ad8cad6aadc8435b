// Pushes, JSON deltas and deletes: the requests that change the aggregate. Reads the body,
// parses it in the format its Content-Type names, and applies it to the store whole.

import { RequestError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Label } from "../core/model.ts";
import { parseGroupingPath } from "../ingest/grouping.ts";
import { parseDeltas } from "../ingest/parse_json.ts";
import type { LabelLimits, PushLimits } from "../ingest/push_builder.ts";
import { SeriesCache, SeriesCacheBudget, targetBytes } from "../ingest/series_cache.ts";
import type { Store } from "../store/store.ts";
import { text } from "./answers.ts";
import { readBody } from "./body.ts";
import { BODY_FORMATS, type BodyFormat, bodyFormat } from "./formats.ts";
import type { HttpRequest } from "./http1.ts";
import type { SelfMetrics } from "./self_metrics.ts";
import type { StatusLog } from "./status_log.ts";

export interface PushOptions {
  store: Store;
  metrics: SelfMetrics;
  logger: Logger;
  maxBodyBytes: number;
  labelLimits: LabelLimits;
  /** `--maxBucketsPerSeries`, checked as a push is parsed; none when absent. */
  maxBucketsPerSeries?: number;
  /** `--maxSamplesPerPush`, checked as a push is parsed; none when absent. */
  maxSamplesPerPush?: number;
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
  /** Where accepted pushes and deletes are recorded for the status page; nowhere when absent. */
  statusLog?: StatusLog;
}

/** The grouping labels of JSON deltas, which have no path: one array, so one status target. */
const NO_GROUPING: readonly Label[] = [];

/** What the handler keeps of a push path: its grouping labels and its series cache. */
interface Target {
  grouping: Label[];
  cache: SeriesCache;
}

/**
 * Handles the requests that change the aggregate. Errors are thrown (ParseError, PushError,
 * RequestError) for the caller to answer; a request that throws changed nothing.
 */
export class PushHandler {
  readonly #options: PushOptions;
  /**
   * Per push path: its grouping labels, and a series cache for them (a cached key includes
   * them). Senders push to the same paths again and again, so a path is parsed once. The paths
   * and the caches draw on one budget of bytes (a path can be as long as the headers allow),
   * and all start over when it is spent.
   */
  readonly #targets = new Map<string, Target>();
  readonly #cacheBudget: SeriesCacheBudget;
  /** What a push is checked against as it is parsed, the store's room included. */
  readonly #limits: PushLimits;
  /** The Content-Type of the last push, and its format: senders send one type again and again. */
  #lastType: string | null = null;
  #lastFormat: BodyFormat = "text";
  readonly #utf8 = new TextDecoder("utf-8", { fatal: true });
  readonly #lenientUtf8 = new TextDecoder("utf-8");
  readonly #decode = (body: Uint8Array) => this.#decodeText(body);

  constructor(options: PushOptions) {
    this.#options = options;
    this.#cacheBudget = new SeriesCacheBudget(options.maxPushCacheBytes);
    options.metrics.trackPushCache(this.#cacheBudget);
    this.#limits = {
      ...options.labelLimits,
      maxBuckets: options.maxBucketsPerSeries,
      maxSamples: options.maxSamplesPerPush,
      room: options.store,
    };
  }

  /** A push of a body to `path` (the grouping path after `/metrics`): 202 once applied. */
  async push(request: HttpRequest, path: string): Promise<Response> {
    const { store, metrics, logger } = this.#options;
    const { grouping, cache } = this.#targetOf(path);
    const format = this.#formatOf(request.headers.get("content-type"));
    const body = await readBody(request, this.#options.maxBodyBytes);
    const push = BODY_FORMATS[format].parse(body, {
      grouping,
      limits: this.#limits,
      cache,
      decode: this.#decode,
    });
    if (!this.#accepting()) return this.#tooLate();
    const result = store.apply(push);
    metrics.countPush("accepted", result.samples);
    this.#options.statusLog?.pushed(grouping, result.samples);
    logger.debug("push accepted", {
      path,
      format,
      samples: result.samples,
      newSeries: result.newSeries,
    });
    return new Response(null, { status: 202 });
  }

  /** pushprom's JSON deltas; its answer is 200 with `ok`. */
  async pushDeltas(request: HttpRequest): Promise<Response> {
    const { store, metrics, logger } = this.#options;
    const body = await readBody(request, this.#options.maxBodyBytes);
    const deltas = parseDeltas(this.#decodeText(body), this.#limits);
    if (!this.#accepting()) return this.#tooLate();
    const result = store.applyDeltas(deltas);
    metrics.countPush("accepted", result.samples);
    this.#options.statusLog?.pushed(NO_GROUPING, result.samples);
    logger.debug("deltas accepted", { deltas: result.samples, newSeries: result.newSeries });
    return new Response("ok", { headers: { "Content-Type": "text/plain; charset=utf-8" } });
  }

  /** Removes every series with all the labels of `path`: 202. */
  delete(path: string): Response {
    const match = parseGroupingPath(path);
    // No labels, or only empty values, would match every series, or every series without
    // those labels: a stray `/metrics//` or `/metrics/job@base64/=` must not empty the gateway.
    if (match.every(([, value]) => value === "")) {
      throw new RequestError(
        `DELETE needs a grouping label with a value, as in /metrics/job/<job>; "${path}" has none`,
        "bad_path",
      );
    }
    const removed = this.#options.store.delete(match);
    this.#options.statusLog?.deleted(match);
    this.#options.logger.debug("series deleted", { path, removed });
    return new Response(null, { status: 202 });
  }

  #targetOf(path: string): Target {
    let target = this.#targets.get(path);
    if (target === undefined) {
      const grouping = parseGroupingPath(path);
      // Spending may start the budget over, which empties the targets too.
      this.#cacheBudget.spend(this.#targets, targetBytes(path, grouping));
      this.#targets.set(path, target = { grouping, cache: new SeriesCache(this.#cacheBudget) });
    }
    return target;
  }

  #formatOf(contentType: string | null): BodyFormat {
    if (contentType !== this.#lastType) {
      this.#lastFormat = bodyFormat(contentType);
      this.#lastType = contentType;
    }
    return this.#lastFormat;
  }

  #accepting(): boolean {
    return this.#options.isAccepting?.() ?? true;
  }

  /** The answer to a change that came too late, after shutdown stopped accepting. */
  #tooLate(): Response {
    this.#options.metrics.countPush("rejected", 0);
    return text(503, "the gateway is shutting down; retry elsewhere or later", {
      "Connection": "close",
    });
  }

  /** The body as text; throws a `bad_encoding` RequestError when it is not valid UTF-8. */
  #decodeText(body: Uint8Array): string {
    // The lenient decoder is several times faster than the fatal one. It writes U+FFFD for
    // invalid bytes, and a body is mostly ASCII, where searching for U+FFFD costs nothing;
    // only a body that has one is decoded again to tell a sent U+FFFD from invalid bytes.
    const decoded = this.#lenientUtf8.decode(body);
    if (!decoded.includes("\uFFFD")) return decoded;
    try {
      return this.#utf8.decode(body);
    } catch {
      throw new RequestError("body is not valid UTF-8", "bad_encoding");
    }
  }
}
