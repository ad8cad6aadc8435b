// Test helper: runs Debian's Pushgateway (prometheus-pushgateway), which parses pushes with
// Prometheus' own expfmt, as a real process on a free port.

import { freePort } from "./free_port.ts";
import { waitUntil } from "./wait.ts";

/** A Pushgateway started by {@linkcode startPushgateway}. */
export interface PushgatewayProcess extends AsyncDisposable {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
}

/** Starts `prometheus-pushgateway` and resolves once it answers `/-/ready`. */
export async function startPushgateway(): Promise<PushgatewayProcess> {
  const port = freePort();
  const child = new Deno.Command("prometheus-pushgateway", {
    args: [`--web.listen-address=127.0.0.1:${port}`, "--log.level=error"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  await waitUntil("the Pushgateway answers /-/ready", async () => {
    if (exited) throw new Error(`prometheus-pushgateway exited: ${JSON.stringify(await status)}`);
    try {
      const response = await fetch(url + "/-/ready");
      await response.body?.cancel();
      return response.ok;
    } catch {
      return false;
    }
  }, { timeoutMs: 30_000 });
  return {
    url,
    async [Symbol.asyncDispose]() {
      if (!exited) child.kill("SIGTERM");
      await status;
    },
  };
}
