// What the status page shows of the settings: each flag's value as given, with where it came
// from, and secrets masked (passwords of --AuthUsers, any flag named like a secret, passwords
// and tokens inside URLs and header values), and the store's limits.

import type { StatusOptions } from "../http/status_api.ts";
import { type Config, envName, FLAGS } from "./config.ts";

/** What replaces a secret. */
export const MASK = "***";

/** Flag names whose whole value is a secret. */
const SECRET_NAME = /pass(word|wd)?|secret|token|credential|api_?key|private|bearer/i;

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
  if (SECRET_NAME.test(name)) return MASK;
  return maskSecretsIn(value);
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
