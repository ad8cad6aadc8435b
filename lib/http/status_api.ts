// The status JSON API: `GET /api/v1/status`, `/api/v1/targets`, `/api/v1/families` and
// `/api/v1/rejections`, what the status page shows. Reads only: it changes nothing in the store,
// renders nothing and leaves the scrape's kept text alone.

import { COMMIT, VERSION } from "../core/version.ts";
import type { Store } from "../store/store.ts";
import type { HttpRequest } from "./http1.ts";
import { rawPathname } from "./routes.ts";
import type { SelfMetrics } from "./self_metrics.ts";
import type { StatusLog, TargetEntry } from "./status_log.ts";

/** A flag as the status shows it: its value as given, secrets masked, and where it came from. */
export interface FlagInForce {
  readonly name: string;
  readonly value: string;
  /** `flag`, `env` (its `PAG_` variable) or `default`. */
  readonly source: "flag" | "env" | "default";
}

export interface StatusOptions {
  store: Store;
  metrics: SelfMetrics;
  statusLog: StatusLog;
  /** The flags in force, secrets masked; none shown when absent. */
  flags?: readonly FlagInForce[];
  /** The store's limits, shown beside its size; null (none) when absent. */
  limits?: { maxSeries?: number; maxFamilies?: number; maxStoreBytes?: number };
  /** The clock, in milliseconds; `Date.now` when absent. */
  now?: () => number;
}

/** The most entries one page of a list may ask for, and the default. */
export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;
/** The longest `match` taken, in chars. */
export const MAX_MATCH = 256;

const JSON_HEADERS = {
  "Content-Type": "application/json; charset=utf-8",
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  // A JSON answer is data, never a document: nothing in it may run if it is opened as one.
  "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
};

/** A JSON answer. */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { ...JSON_HEADERS, ...headers },
  });
}

/** A JSON error answer: `{"error": "..."}`. */
export function jsonError(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return json(status, { error: message }, headers);
}

/** A query parameter that cannot be used; answered 400 with its message. */
class QueryError extends Error {}

/** The paths of the status JSON API. */
export const STATUS_API_PATHS: readonly string[] = [
  "/api/v1/status",
  "/api/v1/targets",
  "/api/v1/families",
  "/api/v1/rejections",
];

/** Builds the handler of the four `GET /api/v1/…` reads; it tells them apart by path. */
export function createStatusApiHandler(
  options: StatusOptions,
): (request: HttpRequest) => Response {
  const endpoints: Record<string, (query: URLSearchParams) => unknown> = {
    "/api/v1/status": (query) => {
      checkParams(query, []);
      return statusOf(options);
    },
    "/api/v1/targets": (query) => targetsOf(options, query),
    "/api/v1/families": (query) => familiesOf(options.store, query),
    "/api/v1/rejections": (query) => {
      checkParams(query, []);
      return rejectionsOf(options.statusLog);
    },
  };
  return (request: HttpRequest): Response => {
    const path = rawPathname(request.url);
    const endpoint = endpoints[path];
    if (endpoint === undefined) {
      return jsonError(
        404,
        `not found: ${path}; the API serves ${Object.keys(endpoints).join(", ")}`,
      );
    }
    const url = new URL(request.url);
    try {
      return json(200, endpoint(url.searchParams));
    } catch (error) {
      if (error instanceof QueryError) return jsonError(400, error.message);
      throw error;
    }
  };
}

/** `GET /api/v1/status`: build, uptime, flags, store size, push and rejection counts, bounds. */
export function statusOf(options: StatusOptions) {
  const { store, metrics, statusLog } = options;
  const now = (options.now ?? Date.now)();
  const limits = options.limits ?? {};
  const log = statusLog.stats();
  return {
    build: {
      name: "prom-aggregation-gateway",
      version: VERSION,
      commit: COMMIT,
      deno: Deno.version.deno,
    },
    startTime: new Date(metrics.startTime).toISOString(),
    uptimeSeconds: Math.max(0, Math.round((now - metrics.startTime) / 1000)),
    flags: options.flags ?? [],
    store: {
      series: store.seriesCount,
      // Sources of cumulative input count against maxSeries with the aggregate's series.
      sources: store.sourceCount,
      held: store.seriesCount + store.sourceCount,
      maxSeries: limits.maxSeries ?? null,
      families: store.familyCount,
      maxFamilies: limits.maxFamilies ?? null,
      bytes: store.bytes,
      maxBytes: limits.maxStoreBytes ?? null,
    },
    pushes: metrics.pushCounts(),
    rejectionsByReason: metrics.rejectionCounts(),
    targets: {
      count: log.targets,
      bytes: log.targetBytes,
      maxBytes: log.maxTargetBytes,
      dropped: log.targetsDropped,
    },
    rejections: {
      count: log.rejections,
      bytes: log.rejectionBytes,
      maxEntries: log.maxRejections,
      maxBytes: log.maxRejectionBytes,
      dropped: log.rejectionsDropped,
    },
  };
}

/** `GET /api/v1/targets?match=&limit=&offset=`: the push targets, most recently pushed first. */
export function targetsOf(options: StatusOptions, query: URLSearchParams) {
  const { match, limit, offset } = pageParams(query);
  let targets = options.statusLog.targets();
  if (match !== "") targets = targets.filter((t) => t.key.toLowerCase().includes(match));
  return {
    total: targets.length,
    offset,
    limit,
    targets: targets.slice(offset, offset + limit).map(targetJson),
  };
}

function targetJson(target: TargetEntry) {
  return {
    labels: Object.fromEntries(target.labels),
    path: groupingPath(target.labels),
    lastPush: new Date(target.lastPush).toISOString(),
    pushes: target.pushes,
    series: target.series,
    lastError: target.lastError === undefined ? null : {
      time: new Date(target.lastError.time).toISOString(),
      reason: target.lastError.reason,
      message: target.lastError.message,
    },
  };
}

/**
 * `GET /api/v1/families?match=&limit=&offset=`: the families sorted by name, those whose name
 * holds `match` (case-insensitive). The store keeps the sorted order between changes to the set
 * of families, so a page costs a pass over the families, not a sort.
 */
export function familiesOf(store: Store, query: URLSearchParams) {
  const { match, limit, offset } = pageParams(query);
  let families = store.families();
  if (match !== "") families = families.filter((f) => f.name.toLowerCase().includes(match));
  return {
    total: families.length,
    offset,
    limit,
    families: families.slice(offset, offset + limit).map((family) => ({
      name: family.name,
      type: family.type,
      help: family.help ?? null,
      series: family.series.size,
    })),
  };
}

/** `GET /api/v1/rejections`: the refused requests kept, most recent first. */
export function rejectionsOf(statusLog: StatusLog) {
  const stats = statusLog.stats();
  return {
    dropped: stats.rejectionsDropped,
    rejections: statusLog.rejections().map((r) => ({
      time: new Date(r.time).toISOString(),
      remoteAddress: r.remoteAddress,
      method: r.method,
      path: r.path,
      reason: r.reason,
      status: r.status,
      message: r.message,
    })),
  };
}

/**
 * The path that pushes to, or deletes, the target with `labels`: `/metrics/job/a/…`, a value
 * that is not plain text written in base64url (`name@base64/…`) so that any value round-trips.
 */
export function groupingPath(labels: readonly (readonly [string, string])[]): string {
  let path = "/metrics";
  for (const [name, value] of labels) {
    // "." and ".." would be resolved away by a browser or curl before the request is sent.
    if (/^[A-Za-z0-9_.~-]+$/.test(value) && value !== "." && value !== "..") {
      path += `/${name}/${value}`;
    } else path += `/${name}@base64/${base64url(value)}`;
  }
  return path;
}

function base64url(value: string): string {
  const bytes = new TextEncoder().encode(value);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** `match`, `limit` and `offset` of a list; throws {@linkcode QueryError} naming a bad one. */
function pageParams(query: URLSearchParams): { match: string; limit: number; offset: number } {
  checkParams(query, ["match", "limit", "offset"]);
  const match = query.get("match") ?? "";
  if (match.length > MAX_MATCH) {
    throw new QueryError(`match is ${match.length} chars long, more than ${MAX_MATCH}`);
  }
  return {
    match: match.toLowerCase(),
    limit: integerParam(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
    offset: integerParam(query, "offset", 0, 0, Number.MAX_SAFE_INTEGER),
  };
}

function checkParams(query: URLSearchParams, known: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of query.keys()) {
    if (!known.includes(name)) {
      const takes = known.length === 0 ? "it takes none" : `it takes ${known.join(", ")}`;
      throw new QueryError(`unknown parameter "${name.slice(0, 64)}"; ${takes}`);
    }
    if (seen.has(name)) throw new QueryError(`parameter "${name}" is given twice`);
    seen.add(name);
  }
}

function integerParam(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = query.get(name);
  if (text === null) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new QueryError(`${name} must be a whole number ${range}, not "${text.slice(0, 64)}"`);
  }
  return value;
}
