// wrk posting pushes for the load benchmarks (load.ts, push_ab.ts): the bodies, the Lua script
// that sends them in turn, and the server's CPU time per push, read from /proc.

import { typicalPush } from "./bodies.ts";

/** Writes 16 pushes of the same 110 series with different values into `dir`; their paths. */
export async function writePushBodies(dir: string): Promise<string[]> {
  const files = Array.from({ length: 16 }, (_, round) => `${dir}/body${round}.txt`);
  for (const [round, file] of files.entries()) {
    await Deno.writeTextFile(file, typicalPush(0, round));
  }
  return files;
}

/** CPU time a process has used, user and system, in microseconds (from /proc). */
export async function cpuMicros(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name, which is in parentheses and may hold spaces: utime and
  // stime are the 14th and 15th fields, in clock ticks of 1/100 s.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

export interface PushRun {
  /** Pushes per second. */
  rate: number;
  /** The server's CPU time per push, in microseconds. */
  cpu: number;
}

export interface WrkOptions {
  /** The server process, whose CPU time is read. */
  pid: number;
  bodyFiles: readonly string[];
  seconds: number;
  connections: number;
  /** Where the Lua script is written. */
  dir: string;
  /** wrk's `--timeout`, such as "30s"; its default when absent. */
  timeout?: string;
}

/**
 * Pushes/s that wrk reaches posting `bodyFiles` in turn to `url`: the same series with values
 * that change from push to push, as a sender's pushes are. Also the server's CPU time per push,
 * which depends less than the rate on what else the machine is doing. Throws when wrk fails or
 * a push is refused.
 */
export async function pushWithWrk(url: string, options: WrkOptions): Promise<PushRun> {
  const script = `${options.dir}/post.lua`;
  await Deno.writeTextFile(
    script,
    `local files = {${options.bodyFiles.map((f) => JSON.stringify(f)).join(", ")}}\n` +
      `local requests = {}\n` +
      `function init(args)\n` +
      `  for i, name in ipairs(files) do\n` +
      `    local f = io.open(name, "rb")\n` +
      `    requests[i] = wrk.format("POST", nil, {["Content-Type"] = "text/plain; version=0.0.4"}, f:read("*a"))\n` +
      `    f:close()\n` +
      `  end\n` +
      `end\n` +
      `local n = 0\n` +
      `function request() n = n % #requests + 1; return requests[n] end\n` +
      `function response(status) if status >= 300 then error("status " .. status) end end\n`,
  );
  const timeout = options.timeout === undefined ? [] : ["--timeout", options.timeout];
  const cpuBefore = await cpuMicros(options.pid);
  const output = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      ...timeout,
      "-s",
      script,
      url,
    ],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const rate = text.match(/Requests\/sec:\s+([\d.]+)/);
  if (output.code !== 0 || rate === null || /Non-2xx|timeout [1-9]/.test(text)) {
    throw new Error(`wrk failed for ${url}:\n${text}${new TextDecoder().decode(output.stderr)}`);
  }
  const cpu = await cpuMicros(options.pid) - cpuBefore;
  const requests = Number(text.match(/(\d+) requests in/)![1]);
  return { rate: Number(rate[1]), cpu: cpu / requests };
}
