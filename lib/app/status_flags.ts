// What the status page shows of the settings: each flag's value as given, with where it came
// from, and secrets masked (passwords of --AuthUsers, any flag named like a secret, the values of
// --remoteWriteHeader but a few known harmless ones, credentials and query values of URLs), and
// the store's limits. The page is as open as the scrape, so masking errs on the side of hiding.

import type { StatusOptions } from "../http/status_api.ts";
import { type Config, envName, FLAGS } from "./config.ts";

/** What replaces a secret. */
export const MASK = "***";

/** Flag names whose whole value is a secret. */
const SECRET_NAME = /pass(word|wd)?|secret|token|credential|api_?key|private|bearer/i;

/** Flags that name a file (which holds the secret): the path is shown, not the file. */
const FILE_NAME = /File$/;

/** Flags whose values are URLs, so their credentials and query values are masked. */
const URL_FLAGS: ReadonlySet<string> = new Set(["remoteWriteURL"]);

/**
 * The `--remoteWriteHeader` headers whose values are shown: a tenant, the protocol's version, a
 * client's name. Any other header may carry a key (`X-API-Key`, `X-Auth-Token`, a vendor's), so
 * its value is masked; its name is shown.
 */
const PLAIN_HEADERS: ReadonlySet<string> = new Set([
  "x-scope-orgid",
  "x-prometheus-remote-write-version",
  "user-agent",
]);

/**
 * The flags in force and the limits, for the status page, from the parsed command-line `flags`
 * and the environment, with the same precedence as `loadConfig`: a flag, else its non-empty
 * `PAG_` variable, else the default.
 */
export function statusOptionsOf(
  config: Config,
  flags: Readonly<Record<string, string | string[] | undefined>>,
  env: Readonly<Record<string, string>>,
): Pick<StatusOptions, "flags" | "limits"> {
  return {
    flags: FLAGS.map((spec) => {
      const given = flags[spec.name];
      const fromEnv = env[envName(spec.name)];
      const [value, source] = given !== undefined
        ? [[given].flat().join(","), "flag" as const]
        : fromEnv !== undefined && fromEnv !== ""
        ? [fromEnv, "env" as const]
        : [spec.default, "default" as const];
      return { name: spec.name, value: maskFlag(spec.name, value), source };
    }),
    limits: {
      maxSeries: config.maxSeries,
      maxFamilies: config.maxFamilies,
      maxStoreBytes: config.maxStoreBytes,
    },
  };
}

/** The value of flag `name` as the status page may show it. */
export function maskFlag(name: string, value: string): string {
  if (value === "") return value;
  if (name === "AuthUsers") {
    // user=password,…: the users are shown, never a password (nor a malformed entry).
    return value.split(",").map((entry) => {
      const eq = entry.indexOf("=");
      return eq <= 0 ? (entry === "" ? "" : MASK) : `${entry.slice(0, eq)}=${MASK}`;
    }).join(",");
  }
  if (name === "remoteWriteHeader") {
    // Name=value,…: the names are shown, and the values of PLAIN_HEADERS only.
    return value.split(",").map((entry) => {
      const eq = entry.indexOf("=");
      if (eq <= 0) return entry === "" ? "" : MASK;
      const header = entry.slice(0, eq);
      return PLAIN_HEADERS.has(header.toLowerCase()) ? entry : `${header}=${MASK}`;
    }).join(",");
  }
  if (FILE_NAME.test(name)) return maskSecretsIn(value);
  if (SECRET_NAME.test(name)) return MASK;
  if (URL_FLAGS.has(name)) return maskUrls(value);
  return maskSecretsIn(value);
}

/**
 * Comma-separated URLs with their credentials and query values masked: the password of the user
 * information, or all of it when it has no password (a token is often sent as the user name,
 * `https://glc_…@host`), and the value of every query parameter whatever its name (`?t=…`).
 * Scheme, host, path and the parameters' names stay.
 */
export function maskUrls(value: string): string {
  return value
    .replace(
      /\/\/([^/?#@\s,:]*)(:[^/?#@\s,]*)?@/g,
      (_, user: string, password?: string) =>
        password === undefined ? `//${MASK}@` : `//${user}:${MASK}@`,
    )
    .replace(/([?&;][^=&#\s,]*=)[^&;#\s,]*/g, `$1${MASK}`);
}

/**
 * `value` with what looks like a secret inside it masked: the password of a URL
 * (`https://user:secret@host`), query parameters named like secrets (`?token=…`), and the
 * credentials of an `Authorization`-style value (`Bearer …`, `Basic …`).
 */
export function maskSecretsIn(value: string): string {
  return value
    .replace(/(\/\/[^/:@\s]*:)[^@/\s]*@/g, `$1${MASK}@`)
    .replace(
      /([?&;][^=&#\s]*(?:token|secret|pass|key|auth|sig|credential)[^=&#\s]*=)[^&#\s,]*/gi,
      `$1${MASK}`,
    )
    .replace(/\b(bearer|basic)\s+[^\s,]+/gi, `$1 ${MASK}`);
}
