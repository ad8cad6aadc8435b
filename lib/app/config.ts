// The gateway's settings: the flag table (names, defaults, help), the `PAG_` environment
// variables, and the validation that turns them into a Config. The only module that reads
// the environment.

import type { CorsPolicy } from "../http/cors.ts";
import { GAUGE_BEHAVIORS } from "../core/merge.ts";
import { LOG_FORMATS, LOG_LEVELS } from "./log.ts";
import type { ApiOptions } from "../http/api.ts";
import { rawBodyLimit } from "../http/body.ts";
import type { ConnectionLimits } from "../http/http1.ts";
import type { LabelLimits } from "../ingest/push_builder.ts";
import { isLabelName, type Label } from "../core/model.ts";
import type { RemoteWriteAuth, RemoteWriteOptions, Secret } from "./remote_write.ts";

/** Where a listener binds. `hostname` undefined means every interface (`:8080`). */
export interface ListenAddress {
  hostname: string | undefined;
  port: number;
}

/** Where a value came from: `explicit` when given on the command line. */
export interface FlagSource {
  explicit: boolean;
}

/**
 * A command-line flag; its environment variable is `PAG_` + the name in upper case. This table
 * is the one place a flag is defined: it feeds the argument parser, `--help`, the docs' flag
 * list (scripts/docs_flags.ts) and the {@linkcode Config} type.
 */
export interface FlagSpec<N extends string = string, T = unknown> {
  name: N;
  default: string;
  description: string;
  /** May be given more than once; the values are joined with commas. */
  multiple?: boolean;
  /** The values it takes, when they are a fixed list: shell completion offers them. */
  choices?: readonly string[];
  /** Turns the text into the value; throws {@linkcode ConfigError} naming what is wrong. */
  parse: (value: string, source: FlagSource) => T;
}

/** Keeps a flag's name and value type for {@linkcode Config}. */
function flag<const N extends string, T>(spec: FlagSpec<N, T>): FlagSpec<N, T> {
  return spec;
}

export const FLAGS = [
  flag({
    name: "apiListen",
    default: ":8080",
    description: "Listen for pushes and scrapes on this host:port",
    parse: parseListenAddress,
  }),
  flag({
    name: "lifecycleListen",
    default: ":8888",
    description: "Listen for health checks and the gateway's own metrics on this host:port",
    parse: parseListenAddress,
  }),
  flag({
    name: "maxSeries",
    default: "1000000",
    description: "Most series the gateway holds; a push that would add more is refused (429)",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "maxLabelsPerSeries",
    default: "64",
    description: "Most labels on one series, path labels included (400 beyond)",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "maxLabelValueLength",
    default: "4096",
    description: "Longest label value or metric name, in bytes of UTF-8 (400 beyond)",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "maxBucketsPerSeries",
    default: "256",
    description:
      'Most buckets of one histogram series, le="+Inf" included, pushed or merged with the stored bounds (400 beyond)',
    parse: parsePositiveInteger,
  }),
  flag({
    name: "maxSamplesPerPush",
    default: "100000",
    description:
      "Most samples (lines) one push may hold; a larger push is refused whole with 413 as it is read",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "maxFamilies",
    default: "10000",
    description:
      "Most metric families the gateway holds; a push that would add more is refused (429)",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "maxStoreBytes",
    default: "268435456",
    description:
      "Bytes the aggregate may take in memory, estimated from names, labels, values and scrape text (429 beyond)",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "maxPushCacheBytes",
    default: "8388608",
    description:
      "Bytes the per-path caches of pushed series text, templates and push paths may take; past it they start over",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "seriesTTL",
    default: "0",
    description: "Drop a series no push touched for this long, such as 30m or 1h30m; 0: never",
    parse: parseDuration,
  }),
  flag({
    name: "persistenceFile",
    default: "",
    description: "Keep the aggregate across restarts in this file (off when empty)",
    parse: (v) => v === "" ? undefined : v,
  }),
  flag({
    name: "rulesFile",
    default: "",
    description: "Per-metric rules and cumulative input from this YAML file (off when empty)",
    parse: (v) => v === "" ? undefined : v,
  }),
  flag({
    name: "persistenceInterval",
    default: "30s",
    description:
      "How often the aggregate is written to --persistenceFile if it changed, such as 30s or 5m",
    parse: parseInterval,
  }),
  flag({
    name: "udpListen",
    default: "",
    description: "Also take JSON deltas as UDP datagrams on this host:port (off when empty)",
    parse: (v) => v === "" ? undefined : parseListenAddress(v),
  }),
  flag({
    name: "cors",
    default: "*",
    description:
      "Origins allowed to call the API: * or a comma-separated list such as https://app.example.com",
    parse: parseCors,
  }),
  flag({
    name: "AuthUsers",
    default: "",
    multiple: true,
    description:
      "Require HTTP Basic auth for pushes and deletes: user=pass,user2=pass2; may be repeated",
    parse: (v, source) => parseAuthUsers(v, source.explicit),
  }),
  flag({
    name: "webConfigFile",
    default: "",
    description:
      "Prometheus web configuration file: TLS for both listeners, bcrypt basic_auth_users for every API request (off when empty)",
    parse: (v) => v === "" ? undefined : v,
  }),
  flag({
    name: "gaugeBehavior",
    default: "replace",
    description: "How pushed gauges combine: replace, sum, max or min",
    choices: GAUGE_BEHAVIORS,
    parse: (v) => parseChoice(v, GAUGE_BEHAVIORS),
  }),
  flag({
    name: "logLevel",
    default: "info",
    description: "Least severe log level: debug (logs every push), info, warn or error",
    choices: LOG_LEVELS,
    parse: (v) => parseChoice(v, LOG_LEVELS),
  }),
  flag({
    name: "logFormat",
    default: "text",
    description: "Log format, one line per event on stderr: text (logfmt) or json",
    choices: LOG_FORMATS,
    parse: (v) => parseChoice(v, LOG_FORMATS),
  }),
  flag({
    name: "maxBodyBytes",
    default: "8388608",
    description: "Largest push body in bytes, after gzip decompression (413 beyond)",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "maxConnections",
    default: "512",
    description:
      "Most connections the API listener keeps open; more are closed at once (the lifecycle listener keeps 64)",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "maxHeaderBytes",
    default: "65536",
    description: "Largest request line and headers in bytes (431 beyond)",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "maxRequestBufferBytes",
    default: "67108864",
    description:
      "Bytes all connections together may hold of requests being read; a request that needs more is a 503",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "readHeaderTimeout",
    default: "10s",
    description:
      "Answer 408 and close a connection whose request line and headers take longer than this",
    parse: parseTimeout,
  }),
  flag({
    name: "readTimeout",
    default: "30s",
    description:
      "Answer 408 and close a connection whose request (headers and body) takes longer; nothing is applied",
    parse: parseTimeout,
  }),
  flag({
    name: "idleTimeout",
    default: "60s",
    description: "Close a keep-alive connection that waits longer than this for its next request",
    parse: parseTimeout,
  }),
  flag({
    name: "writeTimeout",
    default: "60s",
    description:
      "Close a connection whose response (a scrape to a slow reader) takes longer than this to send",
    parse: parseTimeout,
  }),
  flag({
    name: "maxScrapeBacklogBytes",
    default: "67108864",
    description:
      "Bytes of scrape text kept for scrapes still being sent after their families changed; more cuts them off",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "remoteWriteURL",
    default: "",
    multiple: true,
    description:
      "Also send the aggregate by Prometheus remote write 1.0 to this http(s) URL; may be repeated or comma-separated",
    parse: parseRemoteWriteUrls,
  }),
  flag({
    name: "remoteWriteInterval",
    default: "30s",
    description: "How often the aggregate is sent to each --remoteWriteURL, such as 15s or 1m",
    parse: parseInterval,
  }),
  flag({
    name: "remoteWriteLabel",
    default: "",
    multiple: true,
    description:
      "Add this name=value label to every series sent by remote write (series' own labels win); may be repeated",
    parse: parseRemoteWriteLabels,
  }),
  flag({
    name: "remoteWriteHeader",
    default: "",
    multiple: true,
    description:
      "Send this Name=value HTTP header with every remote write request, such as X-Scope-OrgID=team-a; may be repeated",
    parse: parseRemoteWriteHeaders,
  }),
  flag({
    name: "remoteWriteTimeout",
    default: "30s",
    description: "Give up a remote write request after this long and try it again",
    parse: parseTimeout,
  }),
  flag({
    name: "remoteWriteMaxSamplesPerRequest",
    default: "2000",
    description: "Most samples in one remote write request (and at most 1 MiB before compression)",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "remoteWriteMaxQueueBytes",
    default: "67108864",
    description:
      "Compressed bytes waiting for each remote write receiver at most; the oldest requests are dropped beyond",
    parse: parsePositiveInteger,
  }),
  flag({
    name: "remoteWriteUsername",
    default: "",
    description: "HTTP Basic user name for the remote write receivers (with a password)",
    parse: (v) => v,
  }),
  flag({
    name: "remoteWritePasswordFile",
    default: "",
    description: "File holding the HTTP Basic password for remote write, read at each request",
    parse: (v) => v,
  }),
  flag({
    name: "remoteWritePassword",
    default: "",
    description:
      "HTTP Basic password for remote write; prefer the _FILE flag or the environment variable",
    parse: (v) => v,
  }),
  flag({
    name: "remoteWriteBearerTokenFile",
    default: "",
    description: "File holding a bearer token for the remote write receivers, read at each request",
    parse: (v) => v,
  }),
  flag({
    name: "remoteWriteBearerToken",
    default: "",
    description:
      "Bearer token for the remote write receivers; prefer the _FILE flag or the environment variable",
    parse: (v) => v,
  }),
] as const;

/** The settings: each flag's parsed value, by flag name. */
export type Config = {
  -readonly [F in (typeof FLAGS)[number] as F["name"]]: ReturnType<F["parse"]>;
};

/** The label limits of a series (`--maxLabelsPerSeries`, `--maxLabelValueLength`). */
export function labelLimitsOf(config: Config): LabelLimits {
  return { maxLabels: config.maxLabelsPerSeries, maxValueLength: config.maxLabelValueLength };
}

/** What the API handler takes from the settings (all but its store, metrics and logger). */
export function apiOptionsOf(
  config: Config,
): Omit<ApiOptions, "store" | "metrics" | "logger" | "isAccepting"> {
  return {
    cors: config.cors,
    authUsers: config.AuthUsers,
    maxBodyBytes: config.maxBodyBytes,
    labelLimits: labelLimitsOf(config),
    maxBucketsPerSeries: config.maxBucketsPerSeries,
    maxSamplesPerPush: config.maxSamplesPerPush,
    maxPushCacheBytes: config.maxPushCacheBytes,
  };
}

/**
 * The API listener's connection limits, times in milliseconds. The server reads a body up to
 * what a gzip body of `--maxBodyBytes` may take as sent; the handler checks the exact limit.
 */
export function connectionLimitsOf(config: Config): ConnectionLimits {
  return {
    maxConnections: config.maxConnections,
    maxHeaderBytes: config.maxHeaderBytes,
    maxBodyBytes: rawBodyLimit(config.maxBodyBytes),
    readHeaderTimeout: config.readHeaderTimeout,
    readTimeout: config.readTimeout,
    idleTimeout: config.idleTimeout,
    writeTimeout: config.writeTimeout,
  };
}

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
  const config: Record<string, unknown> = {};
  for (const spec of FLAGS) {
    const { value, source } = raw[spec.name];
    try {
      config[spec.name] = spec.parse(value, { explicit: flags[spec.name] !== undefined });
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(`${source}: ${error.message}`);
      throw error;
    }
  }
  remoteWriteAuthOf(config as Config);
  return config as Config;
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
      throw new ConfigError(
        `"${withoutPassword(entry)}" is not an origin such as https://example.com:8443`,
      );
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

/** The time between snapshots: at least 100 ms. */
function parseInterval(value: string): number {
  const ms = parseDuration(value);
  if (ms < 100) throw new ConfigError(`"${value}" is shorter than 100ms`);
  return ms;
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

/**
 * `text` for an error message: a URL's user info is masked (`http://bob:***@host`, or `***@`
 * for a user name alone, which may be a token), even in a URL too malformed to parse.
 */
export function withoutPassword(text: string): string {
  const at = text.lastIndexOf("@");
  if (at === -1) return text;
  const start = /^[A-Za-z][A-Za-z0-9+.-]*:[/\\]*/.exec(text)?.[0].length ?? 0;
  if (at < start) return text;
  const colon = text.indexOf(":", start);
  const user = colon !== -1 && colon < at ? text.slice(start, colon) + ":***" : "***";
  return text.slice(0, start) + user + text.slice(at);
}

/**
 * Parses comma-separated http(s) URLs; credentials belong in the auth flags, not the URL. A
 * comma always separates URLs (the flag's repeats are joined with commas too): one inside a
 * URL is written %2C.
 */
function parseRemoteWriteUrls(value: string): URL[] {
  const urls: URL[] = [];
  for (const entry of value.split(",")) {
    if (entry.trim() === "") continue;
    let url: URL;
    try {
      url = new URL(entry.trim());
    } catch {
      throw new ConfigError(
        `"${withoutPassword(entry)}" is not a URL such as http://prometheus:9090/api/v1/write` +
          (value.includes(",") ? "; a comma separates URLs: write one inside a URL as %2C" : ""),
      );
    }
    if (url.username !== "" || url.password !== "") {
      // Not echoed: it holds a password.
      throw new ConfigError(
        "a URL holds credentials: give them with --remoteWriteUsername and --remoteWritePasswordFile",
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ConfigError(`"${withoutPassword(entry)}" is not an http or https URL`);
    }
    urls.push(url);
  }
  return urls;
}

/** Parses `name=value,…` into labels sorted by name. */
function parseRemoteWriteLabels(value: string): Label[] {
  const labels: Label[] = [];
  for (const entry of value.split(",")) {
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    const name = entry.slice(0, eq);
    if (eq <= 0 || eq === entry.length - 1) {
      throw new ConfigError(`"${entry}" is not name=value with a non-empty value`);
    }
    if (!isLabelName(name) || name.startsWith("__")) {
      throw new ConfigError(`"${name}" is not a label name (reserved: __ at the start)`);
    }
    if (labels.some(([n]) => n === name)) throw new ConfigError(`label "${name}" is given twice`);
    labels.push([name, entry.slice(eq + 1)]);
  }
  return labels.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/** Headers the remote write protocol or the auth flags set: not to be given as extra headers. */
const RESERVED_HEADERS = [
  "authorization",
  "content-encoding",
  "content-length",
  "content-type",
  "host",
  "user-agent",
  "x-prometheus-remote-write-version",
];

/** Parses `Name=value,…` into header pairs. */
function parseRemoteWriteHeaders(value: string): [string, string][] {
  const headers: [string, string][] = [];
  for (const entry of value.split(",")) {
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    const name = entry.slice(0, eq);
    if (eq <= 0 || eq === entry.length - 1) {
      throw new ConfigError(`"${name || entry}" is not Name=value with a non-empty value`);
    }
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new ConfigError(`"${name}" is not an HTTP header name`);
    }
    if (RESERVED_HEADERS.includes(name.toLowerCase())) {
      throw new ConfigError(`"${name}" is set by the gateway; it cannot be given`);
    }
    if (/[\r\n\0]/.test(entry)) throw new ConfigError(`header "${name}" has a line break`);
    headers.push([name, entry.slice(eq + 1)]);
  }
  return headers;
}

/**
 * The receivers' credentials, from the remote write flags: Basic (a user name and one password
 * source) or a bearer token (one source), never both. Throws {@linkcode ConfigError}.
 */
export function remoteWriteAuthOf(config: Config): RemoteWriteAuth | undefined {
  const secret = (value: string, file: string, what: string): Secret | undefined => {
    if (value !== "" && file !== "") {
      throw new ConfigError(`give the ${what} as a value or as a file, not both`);
    }
    return value !== "" ? { value } : file !== "" ? { file } : undefined;
  };
  const password = secret(
    config.remoteWritePassword,
    config.remoteWritePasswordFile,
    "remote write password",
  );
  const token = secret(
    config.remoteWriteBearerToken,
    config.remoteWriteBearerTokenFile,
    "remote write bearer token",
  );
  const username = config.remoteWriteUsername;
  if (token !== undefined && (password !== undefined || username !== "")) {
    throw new ConfigError("remote write takes Basic auth or a bearer token, not both");
  }
  if (token !== undefined) return { kind: "bearer", token };
  if (password === undefined && username === "") return undefined;
  if (password === undefined) {
    throw new ConfigError("--remoteWriteUsername needs --remoteWritePasswordFile");
  }
  if (username === "" || username.includes(":")) {
    throw new ConfigError('a remote write password needs --remoteWriteUsername, without ":"');
  }
  return { kind: "basic", username, password };
}

/** What the remote writer takes from the settings; undefined when no URL is given. */
export function remoteWriteOptionsOf(config: Config): RemoteWriteOptions | undefined {
  if (config.remoteWriteURL.length === 0) return undefined;
  return {
    urls: config.remoteWriteURL,
    intervalMs: config.remoteWriteInterval,
    labels: config.remoteWriteLabel,
    headers: config.remoteWriteHeader,
    auth: remoteWriteAuthOf(config),
    timeoutMs: config.remoteWriteTimeout,
    maxSamplesPerRequest: config.remoteWriteMaxSamplesPerRequest,
    maxQueueBytes: config.remoteWriteMaxQueueBytes,
  };
}
