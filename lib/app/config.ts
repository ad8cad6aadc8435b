// The gateway's settings: the flag table (names, defaults, help), the `PAG_` environment
// variables, and the validation that turns them into a Config. The only module that reads
// the environment.

import type { CorsPolicy } from "../http/cors.ts";
import { GAUGE_BEHAVIORS, type GaugeBehavior } from "../core/merge.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log.ts";
import type { ConnectionLimits } from "../http/http1.ts";
import type { LabelLimits } from "../ingest/push_builder.ts";

/** Where a listener binds. `hostname` undefined means every interface (`:8080`). */
export interface ListenAddress {
  hostname: string | undefined;
  port: number;
}

export interface Config {
  apiListen: ListenAddress;
  lifecycleListen: ListenAddress;
  cors: CorsPolicy;
  authUsers: Map<string, string>;
  gaugeBehavior: GaugeBehavior;
  logLevel: LogLevel;
  logFormat: LogFormat;
  maxBodyBytes: number;
  /** Undefined: no UDP listener. */
  udpListen: ListenAddress | undefined;
  maxSeries: number;
  labelLimits: LabelLimits;
  maxBucketsPerSeries: number;
  maxFamilies: number;
  maxStoreBytes: number;
  maxPushCacheBytes: number;
  /** Milliseconds; 0: series never expire. */
  seriesTTL: number;
  /** Undefined: no persistence. */
  persistenceFile: string | undefined;
  /** Milliseconds between snapshots. */
  persistenceInterval: number;
  /** The API listener's connection limits (times in milliseconds). */
  connectionLimits: ConnectionLimits;
  maxRequestBufferBytes: number;
  maxScrapeBacklogBytes: number;
}

/** A command-line flag; its environment variable is `PAG_` + the name in upper case. */
export interface FlagSpec {
  name: string;
  default: string;
  description: string;
  /** May be given more than once; the values are joined with commas. */
  multiple?: boolean;
}

export const FLAGS: readonly FlagSpec[] = [
  {
    name: "apiListen",
    default: ":8080",
    description: "Listen for pushes and scrapes on this host:port",
  },
  {
    name: "lifecycleListen",
    default: ":8888",
    description: "Listen for health checks and the gateway's own metrics on this host:port",
  },
  {
    name: "maxSeries",
    default: "1000000",
    description: "Most series the gateway holds; a push that would add more is refused (429)",
  },
  {
    name: "maxLabelsPerSeries",
    default: "64",
    description: "Most labels on one series, path labels included (400 beyond)",
  },
  {
    name: "maxLabelValueLength",
    default: "4096",
    description: "Longest label value, in characters (400 beyond)",
  },
  {
    name: "maxBucketsPerSeries",
    default: "256",
    description:
      'Most buckets of one histogram series, le="+Inf" included, pushed or merged with the stored bounds (400 beyond)',
  },
  {
    name: "maxFamilies",
    default: "10000",
    description:
      "Most metric families the gateway holds; a push that would add more is refused (429)",
  },
  {
    name: "maxStoreBytes",
    default: "268435456",
    description:
      "Most bytes the aggregate may take in memory, as estimated from its names, labels, values and scrape text; a push that would take more is refused (429)",
  },
  {
    name: "maxPushCacheBytes",
    default: "8388608",
    description:
      "Bytes the per-path caches of pushed series text and push paths may take together; past it they start over",
  },
  {
    name: "seriesTTL",
    default: "0",
    description: "Drop a series no push touched for this long, such as 30m or 1h30m; 0: never",
  },
  {
    name: "persistenceFile",
    default: "",
    description: "Keep the aggregate across restarts in this file (off when empty)",
  },
  {
    name: "persistenceInterval",
    default: "30s",
    description: "How often the aggregate is written to --persistenceFile, such as 30s or 5m",
  },
  {
    name: "udpListen",
    default: "",
    description: "Also take JSON deltas as UDP datagrams on this host:port (off when empty)",
  },
  {
    name: "cors",
    default: "*",
    description: "Origins allowed to call the API: * or a comma-separated list of origins",
  },
  {
    name: "AuthUsers",
    default: "",
    multiple: true,
    description: "Require HTTP Basic auth for pushes and deletes: user=pass,user2=pass2",
  },
  {
    name: "gaugeBehavior",
    default: "replace",
    description: "How pushed gauges combine: replace, sum, max or min",
  },
  {
    name: "logLevel",
    default: "info",
    description: "Least severe log level: debug, info, warn or error",
  },
  { name: "logFormat", default: "text", description: "Log line format: text (logfmt) or json" },
  {
    name: "maxBodyBytes",
    default: "8388608",
    description: "Largest push body in bytes, after gzip decompression (413 beyond)",
  },
  {
    name: "maxConnections",
    default: "512",
    description:
      "Most connections the API listener keeps open; more are closed at once (the lifecycle listener keeps 64)",
  },
  {
    name: "maxHeaderBytes",
    default: "65536",
    description: "Largest request line and headers in bytes (431 beyond)",
  },
  {
    name: "maxRequestBufferBytes",
    default: "67108864",
    description:
      "Bytes all connections together may hold of requests being read; a request that needs more is a 503",
  },
  {
    name: "readHeaderTimeout",
    default: "10s",
    description: "Close a connection whose request line and headers take longer than this",
  },
  {
    name: "readTimeout",
    default: "30s",
    description: "Close a connection whose request (headers and body) takes longer than this",
  },
  {
    name: "idleTimeout",
    default: "60s",
    description: "Close a keep-alive connection that waits longer than this for its next request",
  },
  {
    name: "writeTimeout",
    default: "60s",
    description:
      "Close a connection whose response (a scrape to a slow reader) takes longer than this to send",
  },
  {
    name: "maxScrapeBacklogBytes",
    default: "67108864",
    description:
      "Bytes of scrape text kept for scrapes still being sent after their families changed; scrapes that need more are cut off",
  },
];

/** A flag or environment value that cannot be used; the message names it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The environment variable that sets `flag`. */
export function envName(flag: string): string {
  return "PAG_" + flag.toUpperCase();
}

/**
 * Builds the Config from parsed flag values and the environment. An explicit flag beats its
 * environment variable, which beats the default. Throws {@linkcode ConfigError}.
 */
export function loadConfig(
  flags: Readonly<Record<string, string | string[] | undefined>>,
  env: Readonly<Record<string, string>> = Deno.env.toObject(),
): Config {
  const raw: Record<string, { value: string; source: string }> = {};
  for (const spec of FLAGS) {
    const flag = flags[spec.name];
    const fromEnv = env[envName(spec.name)];
    if (flag !== undefined) {
      raw[spec.name] = { value: [flag].flat().join(","), source: `--${spec.name}` };
    } else if (fromEnv !== undefined && fromEnv !== "") {
      // An empty variable is unset, as in the Go gateway (viper): a Helm chart or a compose
      // file often renders every variable, the unused ones empty.
      raw[spec.name] = { value: fromEnv, source: envName(spec.name) };
    } else {
      raw[spec.name] = { value: spec.default, source: `--${spec.name}` };
    }
  }
  const read = <T>(name: string, parse: (value: string) => T): T => {
    const { value, source } = raw[name];
    try {
      return parse(value);
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(`${source}: ${error.message}`);
      throw error;
    }
  };
  return {
    apiListen: read("apiListen", parseListenAddress),
    lifecycleListen: read("lifecycleListen", parseListenAddress),
    cors: read("cors", parseCors),
    authUsers: read("AuthUsers", (v) => parseAuthUsers(v, flags.AuthUsers !== undefined)),
    gaugeBehavior: read("gaugeBehavior", (v) => parseChoice(v, GAUGE_BEHAVIORS)),
    logLevel: read("logLevel", (v) => parseChoice(v, LOG_LEVELS)),
    logFormat: read("logFormat", (v) => parseChoice(v, LOG_FORMATS)),
    maxBodyBytes: read("maxBodyBytes", parsePositiveInteger),
    udpListen: read("udpListen", (v) => v === "" ? undefined : parseListenAddress(v)),
    maxSeries: read("maxSeries", parsePositiveInteger),
    labelLimits: {
      maxLabels: read("maxLabelsPerSeries", parsePositiveInteger),
      maxValueLength: read("maxLabelValueLength", parsePositiveInteger),
    },
    maxBucketsPerSeries: read("maxBucketsPerSeries", parsePositiveInteger),
    maxFamilies: read("maxFamilies", parsePositiveInteger),
    maxStoreBytes: read("maxStoreBytes", parsePositiveInteger),
    maxPushCacheBytes: read("maxPushCacheBytes", parsePositiveInteger),
    seriesTTL: read("seriesTTL", parseDuration),
    persistenceFile: read("persistenceFile", (v) => v === "" ? undefined : v),
    connectionLimits: {
      maxConnections: read("maxConnections", parsePositiveInteger),
      maxHeaderBytes: read("maxHeaderBytes", parsePositiveInteger),
      maxBodyBytes: read("maxBodyBytes", parsePositiveInteger),
      readHeaderTimeout: read("readHeaderTimeout", parseTimeout),
      readTimeout: read("readTimeout", parseTimeout),
      idleTimeout: read("idleTimeout", parseTimeout),
      writeTimeout: read("writeTimeout", parseTimeout),
    },
    maxRequestBufferBytes: read("maxRequestBufferBytes", parsePositiveInteger),
    maxScrapeBacklogBytes: read("maxScrapeBacklogBytes", parsePositiveInteger),
    persistenceInterval: read("persistenceInterval", (v) => {
      const ms = parseDuration(v);
      if (ms < 100) throw new ConfigError(`"${v}" is shorter than 100ms`);
      return ms;
    }),
  };
}

/** Parses `host:port`, `:port` or `[ipv6]:port`; port 0 picks a free port. */
export function parseListenAddress(value: string): ListenAddress {
  const colon = value.lastIndexOf(":");
  if (colon === -1) throw new ConfigError(`"${value}" is not host:port or :port`);
  let hostname: string | undefined = value.slice(0, colon);
  const portText = value.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new ConfigError(`"${value}" has no valid port (0 to 65535)`);
  }
  if (hostname.startsWith("[") && hostname.endsWith("]")) hostname = hostname.slice(1, -1);
  if (hostname.includes(":") && !value.startsWith("[")) {
    throw new ConfigError(`"${value}": write an IPv6 address in brackets, as [::1]:8080`);
  }
  return { hostname: hostname === "" ? undefined : hostname, port };
}

function parseCors(value: string): CorsPolicy {
  const entries = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (entries.length === 0) throw new ConfigError(`give * or at least one origin`);
  if (entries.includes("*")) {
    if (entries.length > 1) throw new ConfigError(`"*" cannot be combined with origins`);
    return { allowAll: true, origins: new Set() };
  }
  const origins = new Set<string>();
  for (const entry of entries) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(entry);
    } catch {
      parsed = undefined;
    }
    // An origin is scheme, host and port. `https://App.example.com/` names one too: it is kept
    // as browsers send it in `Origin`, `https://app.example.com`.
    if (parsed === undefined || parsed.origin === "null" || parsed.href !== parsed.origin + "/") {
      throw new ConfigError(`"${entry}" is not an origin such as https://example.com:8443`);
    }
    origins.add(parsed.origin);
  }
  return { allowAll: false, origins };
}

/**
 * Parses `user=password,…`. What would turn auth off while the operator meant it on is refused,
 * since it would fail open: a value of commas only, an empty value given on the command line
 * (`--AuthUsers "$USERS"` with the variable unset), an empty password.
 */
function parseAuthUsers(value: string, given: boolean): Map<string, string> {
  const users = new Map<string, string>();
  for (const [i, entry] of value.split(",").entries()) {
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    // The entry is not echoed: it may well hold a password (`alice:secret`).
    if (eq <= 0) throw new ConfigError(`entry ${i + 1} is not user=password`);
    const user = entry.slice(0, eq);
    if (user.includes(":")) throw new ConfigError(`user name "${user}" contains ":"`);
    if (users.has(user)) throw new ConfigError(`user "${user}" is given twice`);
    if (eq === entry.length - 1) throw new ConfigError(`user "${user}" has an empty password`);
    users.set(user, entry.slice(eq + 1));
  }
  if (users.size === 0 && (value !== "" || given)) {
    // Only commas, or nothing: no secret to hide.
    throw new ConfigError(
      `"${value}" has no user=password entry; leave the flag out to turn auth off`,
    );
  }
  return users;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a duration as Go writes them (`90s`, `1h30m`, `500ms`, `0`) into milliseconds. */
export function parseDuration(value: string): number {
  if (value === "0") return 0;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== value) {
    throw new ConfigError(`"${value}" is not a duration such as 30s, 5m or 1h30m`);
  }
  return parts.reduce((ms, [, n, unit]) => ms + Number(n) * DURATION_UNITS[unit], 0);
}

/** A duration of at least 10 ms: a timeout of 0 would close every connection at once. */
function parseTimeout(value: string): number {
  const ms = parseDuration(value);
  if (ms < 10) throw new ConfigError(`"${value}" is shorter than 10ms`);
  return ms;
}

function parseChoice<T extends string>(value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`"${value}" is not one of ${choices.join(", ")}`);
}

function parsePositiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n === 0) {
    throw new ConfigError(`"${value}" is not a positive whole number`);
  }
  return n;
}
