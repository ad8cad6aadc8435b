// Entry point of the prom-aggregation-gateway executable: runs the command line and owns
// the process exit code.

import { runCli } from "./lib/app/cli.ts";

/** Who waits for the next SIGTERM or SIGINT; the listeners are added once, at the first call. */
const waiting: ((signal: string) => void)[] = [];
let listening = false;

/** Resolves with the name of the next SIGTERM or SIGINT the process receives. */
function stopSignal(): Promise<string> {
  if (!listening) {
    listening = true;
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(signal, () => {
        for (const resolve of waiting.splice(0)) resolve(signal);
      });
    }
  }
  return new Promise((resolve) => waiting.push(resolve));
}

if (import.meta.main) {
  // A write past the file size limit (`ulimit -f`) raises SIGXFSZ, whose default action ends
  // the process, and the aggregate with it. With a listener the write fails with EFBIG
  // instead, which the snapshot logs and counts while the gateway goes on serving.
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGXFSZ", () => {});
  const encoder = new TextEncoder();
  const code = await runCli(Deno.args, {
    env: Deno.env.toObject(),
    stdout: (text) => Deno.stdout.writeSync(encoder.encode(text)),
    stderr: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    stopSignal,
    onHangup: (listener) => Deno.addSignalListener("SIGHUP", listener),
  });
  Deno.exit(code);
}
