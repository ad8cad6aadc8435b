// Test helper: runs Debian's real HAProxy with the shipped deploy/haproxy/haproxy.cfg, its
// bind address and server lines pointed at the test's gateways: the test runs the template,
// not a copy of it.

import { freePort } from "./free_port.ts";
import { waitUntil } from "./wait.ts";

export const HAPROXY_TEMPLATE = new URL("../../deploy/haproxy/haproxy.cfg", import.meta.url)
  .pathname;

/** A gateway as HAProxy sees it: its API and lifecycle addresses (`http://host:port`). */
export interface Backend {
  api: string;
  lifecycle: string;
}

export interface HaproxyProcess extends AsyncDisposable {
  readonly url: string;
  readonly config: string;
  log(): string;
}

/**
 * The shipped config with `bind` on `port` and one server line per backend (health checks on
 * its lifecycle port); `balance` replaces the balance line when given (`roundrobin`). Another
 * shipped file than haproxy.cfg may be given as `template`.
 */
export async function haproxyConfig(
  backends: readonly Backend[],
  port: number,
  balance?: string,
  template: string = HAPROXY_TEMPLATE,
): Promise<string> {
  let text = await Deno.readTextFile(template);
  const servers = backends.map((b, i) => {
    const api = new URL(b.api);
    return `    server gw${i + 1} ${api.host} port ${new URL(b.lifecycle).port}`;
  });
  const count = (pattern: RegExp) => text.match(pattern)?.length ?? 0;
  if (
    count(/^\s*bind .*$/gm) !== 1 || count(/^\s*server .*$/gm) === 0 ||
    count(/^\s*default-server .*$/gm) !== 1 || count(/^\s*balance .*$/gm) !== 1
  ) {
    throw new Error(`${template}: expected one bind, default-server and balance line`);
  }
  text = text.replace(/^(\s*)bind .*$/m, `$1bind 127.0.0.1:${port}`);
  text = text.replace(/^\s*server .*\n/gm, "");
  text = text.replace(/^(\s*default-server .*)$/m, `$1\n${servers.join("\n")}`);
  if (balance !== undefined) text = text.replace(/^(\s*)balance .*$/m, `$1balance ${balance}`);
  return text;
}

/** Starts HAProxy in the foreground with {@linkcode haproxyConfig}; resolves once it answers. */
export async function startHaproxy(
  dir: string,
  backends: readonly Backend[],
  balance?: string,
  template?: string,
): Promise<HaproxyProcess> {
  const port = freePort();
  const config = await haproxyConfig(backends, port, balance, template);
  await Deno.writeTextFile(`${dir}/haproxy.cfg`, config);
  const child = new Deno.Command("haproxy", {
    args: ["-db", "-f", `${dir}/haproxy.cfg`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const chunks: string[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) chunks.push(chunk);
  };
  const collecting = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  child.status.then(() => exited = true);
  const url = `http://127.0.0.1:${port}`;
  const log = () => chunks.join("");
  const process: HaproxyProcess = {
    url,
    config,
    log,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited already
      }
      await child.status;
      await collecting;
    },
  };
  try {
    // Up once every backend passed its health checks: a push then reaches a gateway.
    await waitUntil(() => `HAProxy up:\n${log()}`, async () => {
      if (exited) throw new Error(`HAProxy exited:\n${log()}`);
      try {
        const response = await fetch(`${url}/metrics`);
        await response.body?.cancel();
        return response.status === 200;
      } catch {
        return false;
      }
    }, { timeoutMs: 30_000, intervalMs: 100 });
  } catch (error) {
    await process[Symbol.asyncDispose]();
    throw error;
  }
  return process;
}
