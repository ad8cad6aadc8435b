// The API listener's handler: CORS and auth, the route table, and the answer to every error.
// Pushes, deltas and deletes are handled in push_handler.ts, the scrape in scrape.ts.

import { ParseError, PushError, RequestError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Store } from "../store/store.ts";
import { refusal, text } from "./answers.ts";
import { type BcryptResult, createAuthenticator } from "./auth.ts";
import { corsHeaders, type CorsPolicy, preflightHeaders } from "./cors.ts";
import type { HttpRequest } from "./http1.ts";
import { PushHandler, type PushOptions } from "./push_handler.ts";
import { API_ROUTES, type HandlerName, matchRoute, rawPathname } from "./routes.ts";
import { createScrapeHandler } from "./scrape.ts";
import type { SelfMetrics } from "./self_metrics.ts";
import {
  createStatusApiHandler,
  jsonError,
  STATUS_API_PATHS,
  type StatusOptions,
} from "./status_api.ts";
import { recordRefusal, StatusLog } from "./status_log.ts";
import { statusPage } from "./status_page.ts";

export interface ApiOptions extends PushOptions {
  store: Store;
  metrics: SelfMetrics;
  logger: Logger;
  cors: CorsPolicy;
  /** No users: pushes and deletes need no auth. */
  authUsers: ReadonlyMap<string, string>;
  /**
   * `basic_auth_users` of --webConfigFile: when set, every request but a CORS preflight needs
   * credentials it accepts, or, for pushes and deletes, credentials of `authUsers`.
   */
  basicAuth?: {
    verify(authorization: string | null, remoteAddress?: string): Promise<BcryptResult>;
  };
  /** What the status page shows besides the store and the log: flags in force and limits. */
  status?: Pick<StatusOptions, "flags" | "limits">;
}

/**
 * The handlers that change the aggregate, and so need auth and count as pushes or not; and those
 * that answer other origins' pages (`cors`): what browsers push to, and the scrape, as the Go
 * gateway did. The status page and its API never do, so no page elsewhere can read the flags,
 * targets or refused senders' addresses through its visitors' browsers.
 */
const CHANGES: Record<HandlerName, { auth: boolean; isPush: boolean; cors: boolean }> = {
  push: { auth: true, isPush: true, cors: true },
  deltas: { auth: true, isPush: true, cors: true },
  delete: { auth: true, isPush: false, cors: true },
  scrape: { auth: false, isPush: false, cors: true },
  status: { auth: false, isPush: false, cors: false },
  status_api: { auth: false, isPush: false, cors: false },
};

/**
 * Whether the answer to `request`, routed to `handler`, gets CORS headers: a route of a `cors`
 * handler, or a preflight of one (by its `Access-Control-Request-Method`).
 */
function corsApplies(request: HttpRequest, handler: string): boolean {
  if (handler === "preflight") {
    const method = request.headers.get("access-control-request-method") ?? "";
    const match = matchRoute(API_ROUTES, method, rawPathname(request.url));
    return match.kind === "handler" && CHANGES[match.handler].cors;
  }
  return Object.hasOwn(CHANGES, handler) && CHANGES[handler as HandlerName].cors;
}

/** Builds the API listener's `(Request) => Response` handler. */
export function createApiHandler(
  options: ApiOptions,
): (request: HttpRequest) => Promise<Response> {
  const { metrics, logger } = options;
  const authenticate = options.authUsers.size > 0
    ? createAuthenticator(options.authUsers)
    : undefined;
  const statusLog = options.statusLog ?? new StatusLog();
  const pushes = new PushHandler({ ...options, statusLog });
  const scrape = createScrapeHandler(options);
  const statusApi = createStatusApiHandler({ ...options, ...options.status, statusLog });
  const handlers: Record<
    HandlerName,
    (request: HttpRequest, rest: string) => Response | Promise<Response>
  > = {
    push: (request, rest) => pushes.push(request, rest),
    deltas: (request) => pushes.pushDeltas(request),
    delete: (_, rest) => pushes.delete(rest),
    scrape: (request) => scrape(request),
    status: (request) => statusPage(request),
    status_api: (request) => statusApi(request),
  };

  /** Answers a request that threw: a refusal counted by reason, or a 500 for the unexpected. */
  const answerError = (error: unknown, isPush: boolean): Response => {
    if (isPush) metrics.countPush("rejected", 0);
    if (
      error instanceof ParseError || error instanceof PushError || error instanceof RequestError
    ) {
      metrics.countRejection(error.reason);
      logger.debug("request refused", { reason: error.reason, error: error.message });
      return refusal(error.reason, error.message);
    }
    logger.error("request failed", { error: String(error), stack: (error as Error)?.stack });
    return text(500, "internal error");
  };

  const { basicAuth } = options;
  /** Throws the refusal of a request whose credentials `basic_auth_users` does not accept. */
  const checkBasicAuth = async (request: HttpRequest): Promise<void> => {
    const result = await basicAuth!.verify(
      request.headers.get("authorization"),
      request.remoteAddress,
    );
    if (result === "ok") return;
    metrics.countAuthFailure(result);
    if (result === "busy") {
      throw new RequestError("too many password checks at once; retry in a second", "overloaded");
    }
    throw new RequestError("valid Basic credentials are required", "unauthorized");
  };

  /** Routes a request; returns the handler name for the metrics and the response. */
  const route = async (request: HttpRequest): Promise<[string, Response]> => {
    const method = request.method;
    if (method === "OPTIONS") return ["preflight", new Response(null, { status: 204 })];
    const pathname = rawPathname(request.url);
    const match = matchRoute(API_ROUTES, method, pathname);
    if (basicAuth !== undefined && match.kind !== "handler") {
      // basic_auth_users guard every request: not even what is not found is told without it.
      try {
        await checkBasicAuth(request);
      } catch (error) {
        return ["unauthorized", answerError(error, false)];
      }
    }
    switch (match.kind) {
      case "not_found":
        if (pathname.startsWith("/api/v1/")) {
          return ["not_found", jsonError(404, `not found: ${pathname}`)];
        }
        return [
          "not_found",
          text(
            404,
            `not found: ${pathname} (the API serves /metrics, and / or /api/v1/deltas for JSON deltas)`,
          ),
        ];
      case "method_not_allowed":
        if (STATUS_API_PATHS.includes(pathname)) {
          const message = `${method} is not allowed on ${pathname}; use ${match.allow}`;
          return ["method_not_allowed", jsonError(405, message, { Allow: match.allow })];
        }
        return [
          "method_not_allowed",
          text(405, `${method} is not allowed on ${pathname}; use ${match.allow}`, {
            Allow: match.allow,
          }),
        ];
    }
    const { auth, isPush } = CHANGES[match.handler];
    try {
      if (basicAuth !== undefined) {
        // A push or delete with --AuthUsers credentials needs no bcrypt; anything else does.
        const plain = auth && authenticate?.(request.headers.get("authorization"));
        if (!plain) await checkBasicAuth(request);
      } else if (
        auth && authenticate !== undefined &&
        !authenticate(request.headers.get("authorization"))
      ) {
        throw new RequestError("valid Basic credentials are required", "unauthorized");
      }
      return [match.handler, await handlers[match.handler](request, match.rest)];
    } catch (error) {
      const response = answerError(error, isPush);
      recordRefusal(statusLog, request, pathname, match, error, response.status);
      return [match.handler, response];
    }
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
      if (cors !== undefined && corsApplies(request, handler)) {
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
