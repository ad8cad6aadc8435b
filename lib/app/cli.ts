// The command line: `prom-aggregation-gateway [start|version|help] [flags]`. Parses argv,
// runs the command, and returns the exit code for main.ts to exit with.

import { parseArgs } from "node:util";
import { type ApiOptions, createApiHandler } from "../http/api.ts";
import {
  apiOptionsOf,
  type Config,
  ConfigError,
  connectionLimitsOf,
  envName,
  FLAGS,
  labelLimitsOf,
  loadConfig,
  remoteWriteOptionsOf,
} from "./config.ts";
import { createLifecycleHandler } from "../http/lifecycle.ts";
import { createLogger } from "./log.ts";
import { SnapshotError } from "../store/snapshot.ts";
import { createSnapshotter } from "./snapshotter.ts";
import { SelfMetrics } from "../http/self_metrics.ts";
import { ListenError, startServers } from "./server.ts";
import { Store } from "../store/store.ts";
import { createDatagramHandler } from "./udp.ts";
import { RemoteWriter, RemoteWriteSetupError } from "./remote_write.ts";
import { statusOptionsOf } from "./status_flags.ts";
import { COMMIT, NAME, VERSION } from "../core/version.ts";
import { completionScript, isShell, SHELLS } from "./completion.ts";
import { loadWebConfig, WebConfigError } from "./web_config.ts";
import { TlsCertificates } from "./tls.ts";
import { BcryptAuthenticator } from "../http/auth.ts";
import type { HttpHandler } from "../http/http1.ts";
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

const COMMANDS = ["start", "version", "help", "completion", "check-rules"];

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
  if (command === "completion" && !values.help) return printCompletion(positionals, io);
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
    return await start(config, io, statusOptionsOf(config, flags, io.env));
  } catch (error) {
    if (
      !(error instanceof ListenError || error instanceof SnapshotError ||
        error instanceof RemoteWriteSetupError || error instanceof WebConfigError ||
        error instanceof RulesFileError)
    ) throw error;
    if (config.logFormat === "json") {
      // One JSON object per line, as every other line of the run.
      const write = (line: string) => io.stderr(line + "\n");
      createLogger({ level: "error", format: "json", write }).error(error.message);
    } else {
      io.stderr(`${NAME}: ${error.message}\n`);
    }
    return error instanceof WebConfigError ? 2 : 1;
  }
}

async function start(
  config: Config,
  io: CliIo,
  status?: ApiOptions["status"],
): Promise<number> {
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
  const web = config.webConfigFile === undefined ? undefined : loadWebConfig(config.webConfigFile);
  const certificates = web?.tls === undefined
    ? undefined
    : new TlsCertificates(web.tls, logger, metrics.tlsEvents);
  const withHeaders = (handler: HttpHandler): HttpHandler =>
    web === undefined || web.headers.length === 0 ? handler : addHeaders(handler, web.headers);
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
  const remoteWriteOptions = remoteWriteOptionsOf(config);
  const remoteWriter = remoteWriteOptions === undefined
    ? undefined
    : new RemoteWriter(store, remoteWriteOptions, logger);
  await remoteWriter?.checkSecrets();
  if (remoteWriter !== undefined) metrics.addFamilies(() => remoteWriter.families());
  let ready = false;
  let accepting = true;
  const lifecycle = createLifecycleHandler({ store, metrics, isReady: () => ready });
  const servers = await startServers({
    apiListen: config.apiListen,
    lifecycleListen: config.lifecycleListen,
    api: withHeaders(createApiHandler({
      store,
      metrics,
      logger,
      ...apiOptionsOf(config),
      isAccepting: () => accepting,
      status,
      basicAuth: web !== undefined && web.basicAuthUsers.size > 0
        ? new BcryptAuthenticator(web.basicAuthUsers)
        : undefined,
    })),
    lifecycle: withHeaders(
      rules === undefined ? lifecycle : withReload(lifecycle, () => rules.reload()),
    ),
    udpListen: config.udpListen,
    datagram: createDatagramHandler({ store, metrics, logger, labelLimits: labelLimitsOf(config) }),
    prepare: () => snapshots?.load() ?? Promise.resolve(),
    logger,
    limits: connectionLimitsOf(config),
    maxRequestBufferBytes: config.maxRequestBufferBytes,
    events: metrics.connectionEvents,
    wrap: certificates === undefined ? undefined : (conn) => certificates.wrap(conn),
  });
  certificates?.watch();
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
    tls: certificates === undefined ? "off" : "on",
    webAuth: (web?.basicAuthUsers.size ?? 0) > 0 ? "bcrypt" : "off",
    persistenceFile: config.persistenceFile,
    remoteWrite: remoteWriteOptions?.urls.length ?? 0,
  });
  remoteWriter?.start();
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
  remoteWriter?.stop();
  certificates?.stop();
  // A second signal stops the wait for requests in flight; the last snapshot is still written.
  const again = io.stopSignal().then((second) =>
    logger.warn("second signal: not waiting for requests in flight", { signal: second })
  );
  await Promise.race([servers.shutdown(), again]);
  // A request still in flight is answered 503 if its body arrives now, and changes nothing.
  accepting = false;
  // Every accepted push is in the store now, and no more can come: the last snapshot, and the
  // last remote write (within min(--remoteWriteTimeout, 5 s)) meanwhile.
  const flushed = remoteWriter?.flush();
  const saved = (await snapshots?.save({ final: true })) ?? true;
  await flushed;
  logger.info("stopped");
  return saved ? 0 : 1;
}

/** `completion SHELL`: the completion script of the commands and flags, on stdout. */
function printCompletion(positionals: string[], io: CliIo): number {
  const shell = positionals[1];
  if (positionals.length !== 2 || !isShell(shell)) {
    io.stderr(`${NAME}: completion needs one shell: ${SHELLS.join(", ")}; see --help\n`);
    return 2;
  }
  io.stdout(completionScript(shell, COMMANDS, FLAGS));
  return 0;
}

/** `handler` with the response headers of `http_server_config.headers` added to each answer. */
function addHeaders(
  handler: HttpHandler,
  headers: ReadonlyArray<readonly [string, string]>,
): HttpHandler {
  return async (request) => {
    const response = await handler(request);
    for (const [name, value] of headers) response.headers.set(name, value);
    return response;
  };
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
       ${NAME} completion bash|zsh|fish
       ${NAME} check-rules FILE

An aggregating push gateway for Prometheus: senders push increments, the gateway sums them
per series, and Prometheus scrapes the aggregate from the API listener's /metrics.

Commands:
  start     run the gateway (the default)
  version   print the version and exit
  help      print this help and exit
  completion bash|zsh|fish
            print a shell completion script for the commands and flags
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
