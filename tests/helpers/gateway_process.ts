// Test helper: runs the gateway as a real process on free ports and reads its log lines.

export const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

const LINE_TIMEOUT_MS = 20_000;

/**
 * The permissions of `deno task start` and `deno task compile`, by the name of their set in
 * deno.json, which defines them once: the tests prove they suffice.
 */
export const PERMISSION_SET = "gateway";

/** `deno run` with the gateway's permission set, read from the project's deno.json. */
const RUN_WITH_SET = ["run", `-P=${PERMISSION_SET}`, "--config", CONFIG];

/**
 * The flags that the permission set in deno.json stands for, for a program run away from
 * the project (a bundle in an empty folder has no deno.json to name the set in).
 */
export function gatewayPermissionFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(CONFIG));
  const set: Record<string, unknown> | undefined = config.permissions?.[PERMISSION_SET];
  if (set === undefined) throw new Error(`deno.json has no permission set "${PERMISSION_SET}"`);
  return Object.entries(set).flatMap(([name, value]) => {
    if (value === true) return [`--allow-${name}`];
    if (value === false) return [];
    if (Array.isArray(value)) return [`--allow-${name}=${value.join(",")}`];
    throw new Error(`permission "${name}" of set "${PERMISSION_SET}": unsupported value`);
  });
}

/**
 * Whether `line` is deno's own warning that permission sets are experimental, which it
 * writes to stderr before the gateway writes anything: it is no line of the gateway's.
 */
function isDenoWarning(line: string): boolean {
  return line.includes("Permissions in the config file is an experimental feature");
}

/** A gateway process started by {@linkcode startGateway}. */
export interface GatewayProcess extends AsyncDisposable {
  readonly api: string;
  readonly lifecycle: string;
  /** The UDP listener's `{hostname, port}`, when args include `--udpListen`. */
  readonly udp: { hostname: string; port: number } | undefined;
  readonly child: Deno.ChildProcess;
  /** Every stderr line so far. */
  readonly lines: string[];
  /** Resolves with the first line (already read or still to come) that contains `text`. */
  waitForLine(text: string): Promise<string>;
  /** Sends `signal` and resolves with the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

export interface StartOptions {
  /** The script or bundle to run; main.ts by default. */
  script?: string;
  cwd?: string;
  env?: Record<string, string>;
  /** A program and its options that runs deno, such as `setpriv` with the privileges to drop. */
  wrapper?: string[];
  /** How long to wait for a log line, the listeners' included; 20 s by default. */
  lineTimeoutMs?: number;
  /**
   * How deno gets the gateway's permissions: by the set's name in deno.json (the default, as
   * `deno task start` runs it), or as the flags the set stands for, for a `script` outside the
   * project.
   */
  permissions?: "set" | "flags";
}

/** Runs `deno run <script> <args>` with both listeners on 127.0.0.1:0 unless args say otherwise. */
export async function startGateway(
  args: string[] = [],
  options: StartOptions = {},
): Promise<GatewayProcess> {
  // deno itself, or the wrapper with deno as its last argument.
  const [program, ...before] = [...options.wrapper ?? [], Deno.execPath()];
  const child = new Deno.Command(program, {
    args: [
      ...before,
      ...options.permissions === "flags" ? ["run", ...gatewayPermissionFlags()] : RUN_WITH_SET,
      options.script ?? MAIN,
      "--apiListen",
      "127.0.0.1:0",
      "--lifecycleListen",
      "127.0.0.1:0",
      ...args,
    ],
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();

  const lines: string[] = [];
  const waiters: { test: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  const { promise: ended, resolve: closed } = Promise.withResolvers<void>();
  (async () => {
    let buffered = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (isDenoWarning(line)) continue;
        lines.push(line);
        for (const waiter of waiters.filter((w) => w.test(line))) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
    closed();
  })();

  const lineTimeout = options.lineTimeoutMs ?? LINE_TIMEOUT_MS;
  const waitFor = (test: (line: string) => boolean, what: string): Promise<string> => {
    const seen = lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      new Promise<string>((resolve) => waiters.push({ test, resolve })),
      // A bound, not a wait: a gateway that never logs the line fails the test, not hangs it.
      new Promise<string>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no line with ${what} in ${lineTimeout} ms:\n${lines.join("\n")}`));
        }, lineTimeout);
      }),
      ended.then(() => {
        const late = lines.find(test);
        if (late !== undefined) return late;
        throw new Error(`gateway exited without logging ${what}:\n${lines.join("\n")}`);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  const waitForLine = (text: string) => waitFor((line) => line.includes(text), `"${text}"`);

  // The "listening" line, in either log format: listener=api address=127.0.0.1:41234
  // or {"listener":"api","address":"127.0.0.1:41234"}.
  const addressOf = async (listener: string) => {
    const line = await waitFor(
      (l) => l.includes(`listener=${listener} `) || l.includes(`"listener":"${listener}"`),
      `the ${listener} address`,
    );
    return "http://" + line.match(/address[=":]+([^" ]+)/)![1];
  };
  const api = await addressOf("api");
  const lifecycle = await addressOf("lifecycle");
  let udp: { hostname: string; port: number } | undefined;
  if (args.includes("--udpListen")) {
    const { hostname, port } = new URL(await addressOf("udp"));
    udp = { hostname: hostname.replace(/^\[|\]$/g, ""), port: Number(port) };
  }
  let status: Promise<Deno.CommandStatus> | undefined;
  const stop = (signal: Deno.Signal = "SIGTERM") => {
    if (status === undefined) {
      try {
        child.kill(signal);
      } catch {
        // it has exited already
      }
      status = Promise.all([child.status, ended]).then(([s]) => s);
    }
    return status;
  };
  return {
    api,
    lifecycle,
    udp,
    child,
    lines,
    waitForLine,
    stop,
    async [Symbol.asyncDispose]() {
      await stop("SIGKILL");
    },
  };
}

/**
 * Runs the CLI to completion and returns its exit code and output. A command still running
 * after {@linkcode LINE_TIMEOUT_MS} (a gateway that started when it should have refused to)
 * is stopped with SIGTERM, so the test fails on its exit code instead of hanging.
 */
export async function runCommand(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...RUN_WITH_SET, MAIN, ...args],
    env,
    stdin: "null",
    signal: AbortSignal.timeout(LINE_TIMEOUT_MS),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr).split(/(?<=\n)/).filter((l) => !isDenoWarning(l))
      .join(""),
  };
}
