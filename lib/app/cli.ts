// The command line: `prom-aggregation-gateway [start|version|help] [flags]`. Parses argv,
// runs the command, and returns the exit code for main.ts to exit with.

import { parseArgs } from "node:util";
import { createApiHandler } from "../http/api.ts";
import {
  apiOptionsOf,
  type Config,
  ConfigError,
  connectionLimitsOf,
  envName,
  FLAGS,
  labelLimitsOf,
  loadConfig,
} from "./config.ts";
import { createLifecycleHandler } from "../http/lifecycle.ts";
import { createLogger } from "./log.ts";
import { SnapshotError } from "../store/snapshot.ts";
import { createSnapshotter } from "./snapshotter.ts";
import { SelfMetrics } from "../http/self_metrics.ts";
import { ListenError, startServers } from "./server.ts";
import { Store } from "../store/store.ts";
import { createDatagramHandler } from "./udp.ts";
import { COMMIT, NAME, VERSION } from "../core/version.ts";
import { checkRules, RulesLoader } from "./rules_loader.ts";
import { RulesFileError } from "./rules_file.ts";
import { withReload } from "../http/reload.ts";

export interface CliIo {
  env: Readonly<Record<string, string>>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Resolves with the next SIGTERM or SIGINT the process receives after the call. */
  stopSignal: () => Promise<string>;
  /** Calls `listener` on every SIGHUP (asked for only with --rulesFile); none when absent. */
  onHangup?: (listener: () => void) => void;
}

const COMMANDS = ["start", "version", "help", "check-rules"];

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
  if (command === "check-rules" && !values.help) return await checkRules(positionals.slice(1), io);
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
  let config: Config;
  try {
    config = loadConfig(flags, io.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`${NAME}: ${error.message}\n`);
    return 2;
  }
  try {
    return await start(config, io);
  } catch (error) {
    if (
      !(error instanceof ListenError || error instanceof SnapshotError ||
        error instanceof RulesFileError)
    ) throw error;
    if (config.logFormat === "json") {
      // One JSON object per line, as every other line of the run.
      const write = (line: string) => io.stderr(line + "\n");
      createLogger({ level: "error", format: "json", write }).error(error.message);
    } else {
      io.stderr(`${NAME}: ${error.message}\n`);
    }
    return 1;
  }
}

async function start(config: Config, io: CliIo): Promise<number> {
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const store = new Store({
    gaugeBehavior: config.gaugeBehavior,
    maxSeries: config.maxSeries,
    maxFamilies: config.maxFamilies,
    maxStoreBytes: config.maxStoreBytes,
    maxBucketsPerSeries: config.maxBucketsPerSeries,
    seriesTTL: config.seriesTTL,
    maxScrapeBacklogBytes: config.maxScrapeBacklogBytes,
  });
  const metrics = new SelfMetrics();
  const rules = config.rulesFile === undefined
    ? undefined
    : new RulesLoader(config.rulesFile, store, logger);
  if (rules !== undefined) {
    await rules.start(); // an invalid file stops the start, before any listener opens
    metrics.trackRules(rules);
    io.onHangup?.(() => {
      rules.reload().catch((error) =>
        logger.error("rules reload failed", { error: String(error) })
      );
    });
  }
  const snapshots = config.persistenceFile === undefined
    ? undefined
    : createSnapshotter(config.persistenceFile, store, metrics, logger);
  let ready = false;
  let accepting = true;
  const lifecycle = createLifecycleHandler({ store, metrics, isReady: () => ready });
  const servers = await startServers({
    apiListen: config.apiListen,
    lifecycleListen: config.lifecycleListen,
    api: createApiHandler({
      store,
      metrics,
      logger,
      ...apiOptionsOf(config),
      isAccepting: () => accepting,
    }),
    lifecycle: rules === undefined ? lifecycle : withReload(lifecycle, () => rules.reload()),
    udpListen: config.udpListen,
    datagram: createDatagramHandler({ store, metrics, logger, labelLimits: labelLimitsOf(config) }),
    prepare: () => snapshots?.load() ?? Promise.resolve(),
    logger,
    limits: connectionLimitsOf(config),
    maxRequestBufferBytes: config.maxRequestBufferBytes,
    events: metrics.connectionEvents,
  });
  ready = true;
  if (config.udpListen !== undefined && config.AuthUsers.size > 0) {
    logger.warn("--udpListen takes deltas without auth: --AuthUsers guards HTTP only", {
      udpListen: `${config.udpListen.hostname ?? ""}:${config.udpListen.port}`,
    });
  }
  logger.info("started", {
    version: VERSION,
    gaugeBehavior: config.gaugeBehavior,
    auth: config.AuthUsers.size > 0 ? "basic" : "off",
    persistenceFile: config.persistenceFile,
  });
  // Expiry also runs at every scrape; the timer frees memory between scrapes.
  const expiry = config.seriesTTL > 0
    ? setInterval(() => {
      const expired = store.expire();
      if (expired > 0) logger.debug("series expired", { expired });
    }, Math.min(Math.max(config.seriesTTL / 4, 1000), 60_000))
    : undefined;
  const persist = snapshots === undefined
    ? undefined
    : setInterval(() => snapshots.save(), config.persistenceInterval);

  const signal = await io.stopSignal();
  logger.info("shutting down: finishing in-flight requests", { signal });
  ready = false;
  clearInterval(expiry);
  clearInterval(persist);
  // A second signal stops the wait for requests in flight; the last snapshot is still written.
  const again = io.stopSignal().then((second) =>
    logger.warn("second signal: not waiting for requests in flight", { signal: second })
  );
  await Promise.race([servers.shutdown(), again]);
  // A request still in flight is answered 503 if its body arrives now, and changes nothing.
  accepting = false;
  // Every accepted push is in the store now, and no more can come: the last snapshot.
  const saved = (await snapshots?.save({ final: true })) ?? true;
  logger.info("stopped");
  return saved ? 0 : 1;
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
       ${NAME} check-rules FILE

An aggregating push gateway for Prometheus: senders push increments, the gateway sums them
per series, and Prometheus scrapes the aggregate from the API listener's /metrics.

Commands:
  start     run the gateway (the default)
  version   print the version and exit
  help      print this help and exit
  check-rules FILE
            check a --rulesFile: exit 0, or 1 with FILE:LINE: reason (see docs/rules.md)

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
