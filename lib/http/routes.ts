// The API listener's routes as one table: which path and method reach which handler. The
// `Allow` header of a 405 and the 404 for unknown paths follow from it.

/** The handlers a route can name; also the `handler` label of the request metrics. */
export type HandlerName =
  | "push"
  | "deltas"
  | "delete"
  | "scrape"
  | "status"
  | "status_api";

/** A route: a path, or a path prefix that a grouping path follows, and its methods. */
export interface Route {
  /** The exact path; with `prefix`, what the path starts with. */
  readonly path: string;
  /** The route takes any path that starts with `path` (the rest is the grouping path). */
  readonly prefix?: boolean;
  readonly methods: Readonly<Partial<Record<string, HandlerName>>>;
}

/**
 * Every route of the API listener, tried in order. `OPTIONS` (CORS preflight) is answered on
 * every path and is not listed.
 */
export const API_ROUTES: readonly Route[] = [
  // pushprom's senders post their JSON deltas to `/`; `/api/v1/deltas` says what it is.
  { path: "/", methods: { POST: "deltas", GET: "status", HEAD: "status" } },
  { path: "/api/v1/deltas", methods: { POST: "deltas" } },
  { path: "/metrics", methods: { GET: "scrape", HEAD: "scrape", POST: "push", PUT: "push" } },
  { path: "/metrics/", methods: { GET: "scrape", HEAD: "scrape", POST: "push", PUT: "push" } },
  { path: "/metrics/", prefix: true, methods: { POST: "push", PUT: "push", DELETE: "delete" } },
  // The status page's assets and its JSON API (status_page.ts, status_api.ts).
  { path: "/static/status.js", methods: { GET: "status", HEAD: "status" } },
  { path: "/static/status.css", methods: { GET: "status", HEAD: "status" } },
  { path: "/api/v1/status", methods: { GET: "status_api" } },
  { path: "/api/v1/targets", methods: { GET: "status_api" } },
  { path: "/api/v1/families", methods: { GET: "status_api" } },
  { path: "/api/v1/rejections", methods: { GET: "status_api" } },
];

/** Where a request goes: a handler with the rest of the path, or a 405 or 404 to answer. */
export type RouteMatch =
  | { kind: "handler"; handler: HandlerName; route: Route; rest: string }
  | { kind: "method_not_allowed"; allow: string }
  | { kind: "not_found" };

/** The route of `method` on the raw `pathname`, from `routes`. */
export function matchRoute(
  routes: readonly Route[],
  method: string,
  pathname: string,
): RouteMatch {
  for (const route of routes) {
    const matched = route.prefix ? pathname.startsWith(route.path) : pathname === route.path;
    if (!matched) continue;
    const handler = route.methods[method];
    if (handler === undefined) return { kind: "method_not_allowed", allow: allowOf(route) };
    const rest = route.path.startsWith("/metrics") ? pathname.slice("/metrics".length) : "";
    return { kind: "handler", handler, route, rest };
  }
  return { kind: "not_found" };
}

/** The `Allow` header of a route: its methods and OPTIONS. */
export function allowOf(route: Route): string {
  return [...Object.keys(route.methods), "OPTIONS"].join(", ");
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
