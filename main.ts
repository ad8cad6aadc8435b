// Entry point of the prom-aggregation-gateway executable: runs the command line and owns
// the process exit code.

import { runCli } from "./lib/cli.ts";

/** Resolves with the name of the first SIGTERM or SIGINT the process receives. */
function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(signal, () => resolve(signal));
    }
  });
}

if (import.meta.main) {
  const encoder = new TextEncoder();
  const code = await runCli(Deno.args, {
    env: Deno.env.toObject(),
    stdout: (text) => Deno.stdout.writeSync(encoder.encode(text)),
    stderr: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    stopSignal,
  });
  Deno.exit(code);
}
