// Test helper: runs Debian's real Prometheus on a free port with a given configuration, and
// queries it through its HTTP API.

import { freePort } from "./free_port.ts";
import { waitUntil } from "./wait.ts";

/** One result of an instant query. */
export interface QuerySample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusProcess extends AsyncDisposable {
  readonly url: string;
  /** Everything Prometheus logged so far. */
  log(): string;
  /** Runs an instant query; throws unless Prometheus answers success. */
  query(promql: string): Promise<QuerySample[]>;
}

/**
 * Starts Prometheus with `config` (YAML) and `args`, data and config in `dir`; resolves once
 * its API answers.
 */
export async function startPrometheus(
  dir: string,
  config: string,
  args: string[] = [],
): Promise<PrometheusProcess> {
  const port = freePort();
  await Deno.writeTextFile(`${dir}/prometheus.yml`, config);
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...args,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const chunks: string[] = [];
  const collecting = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      chunks.push(chunk);
    }
  })();
  const url = `http://127.0.0.1:${port}`;
  const log = () => chunks.join("");
  const query = async (promql: string): Promise<QuerySample[]> => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = await response.json();
    if (body.status !== "success") throw new Error(`query ${promql}: ${JSON.stringify(body)}`);
    return body.data.result;
  };
  const process: PrometheusProcess = {
    url,
    log,
    query,
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
    await waitUntil(() => `Prometheus ready:\n${log()}`, async () => {
      try {
        const response = await fetch(`${url}/-/ready`);
        await response.body?.cancel();
        return response.status === 200;
      } catch {
        return false;
      }
    }, { timeoutMs: 60_000, intervalMs: 100 });
  } catch (error) {
    await process[Symbol.asyncDispose]();
    throw error;
  }
  return process;
}
