// The command line: `prom-aggregation-gateway [start|version|help] [flags]`. Parses argv,
// runs the command, and returns the exit code for main.ts to exit with.

import { parseArgs } from "node:util";
import { createApiHandler } from "./api.ts";
import { ConfigError, envName, FLAGS, loadConfig } from "./config.ts";
import { createLifecycleHandler } from "./lifecycle.ts";
import { createLogger } from "./log.ts";
import { SelfMetrics } from "./self_metrics.ts";
import { ListenError, startServers } from "./server.ts";
import { Store } from "./store.ts";
import { createDatagramHandler } from "./udp.ts";
import { COMMIT, NAME, VERSION } from "./version.ts";

export interface CliIo {
  env: Readonly<Record<string, string>>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Resolves when the process is asked to stop (SIGTERM or SIGINT). */
  stopSignal: () => Promise<string>;
}

const COMMANDS = ["start", "version", "help"];

/** Runs the command line; resolves to the process exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let values: Record<string, string | string[] | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(
          FLAGS.map((f) => [f.name, { type: "string" as const, multiple: f.multiple ?? false }]),
        ),
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    io.stderr(`${NAME}: ${describeArgsError(error as Error & { code?: string })}; see --help\n`);
    return 2;
  }
  const command = positionals[0] ?? "start";
  if (positionals.length > 1 || !COMMANDS.includes(command)) {
    const what = COMMANDS.includes(command)
      ? `unexpected argument "${positionals[1]}"`
      : `unknown command "${command}"`;
    io.stderr(`${NAME}: ${what}; see --help\n`);
    return 2;
  }
  if (values.help || command === "help") {
    io.stdout(helpText());
    return 0;
  }
  if (values.version || command === "version") {
    io.stdout(`${NAME} ${VERSION} (commit ${COMMIT}, deno ${Deno.version.deno})\n`);
    return 0;
  }
  const flags = values as Record<string, string | string[] | undefined>;
  try {
    return await start(loadConfig(flags, io.env), io);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof ListenError) {
      io.stderr(`${NAME}: ${error.message}\n`);
      return error instanceof ConfigError ? 2 : 1;
    }
    throw error;
  }
}

async function start(config: ReturnType<typeof loadConfig>, io: CliIo): Promise<number> {
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const store = new Store({ gaugeBehavior: config.gaugeBehavior });
  const metrics = new SelfMetrics();
  let ready = true;
  const servers = await startServers({
    apiListen: config.apiListen,
    lifecycleListen: config.lifecycleListen,
    api: createApiHandler({
      store,
      metrics,
      logger,
      cors: config.cors,
      authUsers: config.authUsers,
      maxBodyBytes: config.maxBodyBytes,
    }),
    lifecycle: createLifecycleHandler({ store, metrics, isReady: () => ready }),
    udpListen: config.udpListen,
    datagram: createDatagramHandler({ store, metrics, logger }),
    logger,
  });
  if (config.udpListen !== undefined && config.authUsers.size > 0) {
    logger.warn("--udpListen takes deltas without auth: --AuthUsers guards HTTP only", {
      udpListen: `${config.udpListen.hostname ?? ""}:${config.udpListen.port}`,
    });
  }
  logger.info("started", {
    version: VERSION,
    gaugeBehavior: config.gaugeBehavior,
    auth: config.authUsers.size > 0 ? "basic" : "off",
  });
  const signal = await io.stopSignal();
  logger.info("shutting down: finishing in-flight requests", { signal });
  ready = false;
  await servers.shutdown();
  logger.info("stopped");
  return 0;
}

/** A one-line reason for a parseArgs error, which node:util words at length. */
function describeArgsError(error: Error & { code?: string }): string {
  const flag = error.message.match(/'(-[^' ]+)/)?.[1];
  if (flag === undefined) return error.message;
  if (error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown flag ${flag}`;
  if (error.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return `flag ${flag} needs a value`;
  return error.message;
}

/** The `--help` text: every flag with its default and environment variable. */
export function helpText(): string {
  let text = `Usage: ${NAME} [start|version|help] [flags]

An aggregating push gateway for Prometheus: senders push increments, the gateway sums them
per series, and Prometheus scrapes the aggregate from the API listener's /metrics.

Commands:
  start     run the gateway (the default)
  version   print the version and exit
  help      print this help and exit

Flags (each also read from its environment variable; a flag given on the command line wins):
`;
  for (const flag of FLAGS) {
    const shown = flag.default === "" ? "none" : flag.default;
    text += `  --${flag.name} value\n      ${flag.description}\n      default ${shown}, env ${
      envName(flag.name)
    }\n`;
  }
  return text;
}
