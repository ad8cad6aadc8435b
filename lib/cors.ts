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
 * The CORS headers for a request from `origin` to `url`: undefined when there is nothing to add
 * (no `Origin`, or a page of the gateway's own origin, which is not a cross-origin request),
 * `"forbidden"` when the origin is not allowed, otherwise the headers to add to the response.
 */
export function corsHeaders(
  policy: CorsPolicy,
  origin: string | null,
  url: string,
): Record<string, string> | "forbidden" | undefined {
  if (origin === null) return undefined;
  if (policy.allowAll) return { "Access-Control-Allow-Origin": "*" };
  if (policy.origins.has(origin)) {
    return { "Access-Control-Allow-Origin": origin, "Vary": "Origin" };
  }
  // Same origin: a page served from the gateway's own host, as behind a proxy that serves the
  // app and the gateway under one name. By either scheme, since a proxy may end TLS.
  const host = hostOf(url);
  if (origin === `http://${host}` || origin === `https://${host}`) return undefined;
  return "forbidden";
}

/** The `host[:port]` of an absolute URL, as the request names it. */
function hostOf(url: string): string {
  const start = url.indexOf("://") + 3;
  const end = url.indexOf("/", start);
  return url.slice(start, end === -1 ? url.length : end);
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
