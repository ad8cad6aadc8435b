// `POST /-/reload` on the lifecycle listener: reloads `--rulesFile`, answering 200 with the
// rules in force or 400 with the reason the new file was refused (the old rules stay).

import type { HttpHandler, HttpRequest } from "./http1.ts";

/** What a reload did: whether the new rules are in force, and a one-line message. */
export interface ReloadResult {
  ok: boolean;
  message: string;
}

/** The lifecycle handler `inner` with `/-/reload` in front of it. */
export function withReload(
  inner: (request: HttpRequest) => Response,
  reload: () => Promise<ReloadResult>,
): HttpHandler {
  return (request) => {
    if (new URL(request.url).pathname !== "/-/reload") return inner(request);
    if (request.method !== "POST" && request.method !== "PUT") {
      return answer(405, `${request.method} is not allowed on /-/reload; use POST, PUT`, {
        Allow: "POST, PUT",
      });
    }
    return reload().then(({ ok, message }) => answer(ok ? 200 : 400, message));
  };
}

function answer(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(message + "\n", {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", ...headers },
  });
}
