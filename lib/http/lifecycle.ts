// The lifecycle listener's handler: liveness and readiness for orchestrators, and the
// gateway's own metrics for Prometheus.

import type { HttpRequest } from "./http1.ts";
import { TEXT_CONTENT_TYPE } from "../expose/render.ts";
import type { SelfMetrics, StoreStats } from "./self_metrics.ts";
import { COMMIT, NAME, VERSION } from "../core/version.ts";

export interface LifecycleOptions {
  /** What the self metrics report of the store; expired series are dropped before each report. */
  store: StoreStats & { expire(): number };
  metrics: SelfMetrics;
  /** False until the gateway can take traffic (for example while a snapshot loads). */
  isReady: () => boolean;
}

/** Builds the lifecycle listener's `(Request) => Response` handler. */
export function createLifecycleHandler(
  options: LifecycleOptions,
): (request: HttpRequest) => Response {
  const status = (alive: boolean) =>
    Response.json({ name: NAME, alive, version: VERSION, commitSHA: COMMIT }, {
      status: alive ? 200 : 503,
    });
  const plain = (code: number, body: string, headers: Record<string, string> = {}) =>
    new Response(body, {
      status: code,
      headers: { "Content-Type": "text/plain; charset=utf-8", ...headers },
    });

  return (request) => {
    const { pathname } = new URL(request.url);
    const known = ["/healthy", "/ready", "/-/healthy", "/-/ready", "/metrics"].includes(pathname);
    if (!known) return plain(404, `not found: ${pathname}\n`);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return plain(405, `${request.method} is not allowed on ${pathname}; use GET, HEAD\n`, {
        Allow: "GET, HEAD",
      });
    }
    switch (pathname) {
      case "/healthy":
        return status(true);
      case "/ready":
        return status(options.isReady());
      case "/-/healthy":
        return plain(200, "OK\n");
      case "/-/ready":
        return options.isReady() ? plain(200, "OK\n") : plain(503, "Service Unavailable\n");
      default:
        options.store.expire(); // pag_series never counts a series a scrape would not show
        return new Response(options.metrics.render(options.store), {
          headers: { "Content-Type": TEXT_CONTENT_TYPE },
        });
    }
  };
}
