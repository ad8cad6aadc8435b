// Cross-origin rules for browser senders (`--cors`): which origins may call the API, and the
// headers that tell the browser so.
// https://fetch.spec.whatwg.org/#http-cors-protocol

/** `*` allows every origin; otherwise only the listed ones. */
export interface CorsPolicy {
  allowAll: boolean;
  origins: ReadonlySet<string>;
}

const ALLOWED_METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
const ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding";

/**
 * The CORS headers for a request from `origin`: undefined when the request has no `Origin`
 * (not a cross-origin browser request, so nothing to add), `"forbidden"` when the origin is
 * not allowed, otherwise the headers to add to the response.
 */
export function corsHeaders(
  policy: CorsPolicy,
  origin: string | null,
): Record<string, string> | "forbidden" | undefined {
  if (origin === null) return undefined;
  if (policy.allowAll) return { "Access-Control-Allow-Origin": "*" };
  if (!policy.origins.has(origin)) return "forbidden";
  return { "Access-Control-Allow-Origin": origin, "Vary": "Origin" };
}

/**
 * The extra headers of a preflight answer. The requested headers are echoed because a
 * wildcard in `Access-Control-Allow-Headers` does not cover `Authorization`.
 */
export function preflightHeaders(requestedHeaders: string | null): Record<string, string> {
  return {
    "Access-Control-Allow-Methods": ALLOWED_METHODS,
    "Access-Control-Allow-Headers": requestedHeaders ?? ALLOWED_HEADERS,
    "Access-Control-Max-Age": "600",
  };
}
