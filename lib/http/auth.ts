// HTTP Basic authentication: plain passwords for pushes and deletes (`--AuthUsers`), and bcrypt
// hashes for every request (`basic_auth_users` of --webConfigFile).

import { createHash, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";

/** Checks a request's `Authorization` header; returns whether it names a configured user. */
export type Authenticator = (authorization: string | null) => boolean;

/**
 * Builds the check for `users` (name to password). Every configured credential is compared
 * with the offered one through SHA-256 digests of equal length, all of them every time, so the
 * time taken says nothing about which user or how much of a password matched.
 */
export function createAuthenticator(users: ReadonlyMap<string, string>): Authenticator {
  const digests = [...users].map(([user, password]) => digest(`${user}:${password}`));
  return (authorization) => {
    const offered = digest(readBasicCredentials(authorization) ?? "\0");
    let match = false;
    for (const expected of digests) match = timingSafeEqual(offered, expected) || match;
    return match;
  };
}

/** What a bcrypt check found: `busy` when too many checks wait already (answered 503). */
export type BcryptResult = "ok" | "missing" | "wrong" | "busy";

export interface BcryptLimits {
  /** Bytes the cache of verified credentials may take, at about 200 bytes an entry. */
  maxCacheBytes: number;
  /** bcrypt comparisons running at once. */
  maxRunning: number;
  /** Comparisons waiting for a turn; one more is `busy`. */
  maxWaiting: number;
  /** How long a slot rests after a comparison, as a share of the comparison's time. */
  restRatio: number;
}

export const BCRYPT_LIMITS: BcryptLimits = {
  maxCacheBytes: 256 * 1024,
  maxRunning: 1,
  maxWaiting: 16,
  restRatio: 1,
};

/** What one cached credential is counted as: its 64-char key, and the map's entry. */
const CACHE_ENTRY_BYTES = 200;
/** Go's bcrypt hashes at most 72 bytes of a password; a longer one was never hashed. */
const MAX_BCRYPT_PASSWORD = 72;

/**
 * Checks Basic credentials against bcrypt hashes (`basic_auth_users`). bcrypt is slow on
 * purpose (about 100 ms at cost 10 here), so a sender of wrong passwords could burn the CPU:
 * a successful check is cached, keyed by a SHA-256 of user and password, in at most
 * `maxCacheBytes` (oldest dropped first); at most `maxRunning` comparisons run at once, each
 * followed by a pause as long as it took (bcrypt takes at most half of the thread),
 * `maxWaiting` more queue, and any beyond are `busy` at once. Credentials seen before are answered from the cache without waiting, so a
 * flood of wrong passwords delays only first checks. An unknown user costs a comparison too,
 * as in exporter-toolkit, so that timing does not tell which users exist.
 */
export class BcryptAuthenticator {
  readonly #users: ReadonlyMap<string, string>;
  readonly #limits: BcryptLimits;
  readonly #verified = new Map<string, true>();
  /**
   * A hash compared for unknown users: the costliest of the configured ones. A known user's
   * wrong password takes its own hash's time, so users of a cheaper cost than the others show
   * in the timing; docs/operations.md asks for one cost for all, rather than pad answers.
   */
  readonly #decoy: string;
  #running = 0;
  readonly #waiting: Array<() => void> = [];
  /** The sources (see {@linkcode sourceOf}) with a check waiting or running. */
  readonly #sources = new Set<string>();

  constructor(users: ReadonlyMap<string, string>, limits: BcryptLimits = BCRYPT_LIMITS) {
    this.#users = users;
    this.#limits = limits;
    this.#decoy = [...users.values()].sort((a, b) => a.slice(4, 6).localeCompare(b.slice(4, 6)))
      .at(-1) ?? "";
  }

  /** Credentials in the cache now. */
  get cached(): number {
    return this.#verified.size;
  }

  /**
   * Checks `authorization`. `remoteAddress` (`host:port`, as the HTTP server gives it) limits
   * each source to one check waiting or running at a time: a sender of wrong passwords takes at
   * most one of the `maxWaiting` places, however many connections it opens, so the others stay
   * for everyone else. IPv6 sources are counted by their /64, which one host commonly holds.
   */
  async verify(authorization: string | null, remoteAddress?: string): Promise<BcryptResult> {
    const credentials = readBasicCredentials(authorization);
    if (credentials === undefined) return "missing";
    const colon = credentials.indexOf(":");
    if (colon === -1) return "wrong";
    const user = credentials.slice(0, colon);
    const password = credentials.slice(colon + 1);
    if (new TextEncoder().encode(password).length > MAX_BCRYPT_PASSWORD) return "wrong";
    const key = digestHex(`${user}\0${password}`);
    if (this.#verified.has(key)) return "ok";
    const hash = this.#users.get(user);
    const source = remoteAddress === undefined ? undefined : sourceOf(remoteAddress);
    if (source !== undefined) {
      if (this.#sources.has(source)) return "busy";
      this.#sources.add(source);
    }
    try {
      return await this.#check(key, password, hash);
    } finally {
      if (source !== undefined) this.#sources.delete(source);
    }
  }

  async #check(key: string, password: string, hash: string | undefined): Promise<BcryptResult> {
    if (!(await this.#turn())) return "busy";
    let match: boolean;
    const started = performance.now();
    try {
      match = await bcrypt.compare(password, hash ?? this.#decoy);
    } catch {
      match = false;
    }
    // bcryptjs works on the main thread in slices of up to 100 ms, and the next comparison in
    // line would start at once: the slot is held as long again, idle, so that requests with
    // cached credentials get at least half of the thread however many comparisons wait.
    const rest = (performance.now() - started) * this.#limits.restRatio;
    if (rest > 0) setTimeout(() => this.#release(), rest);
    else this.#release();
    if (!match || hash === undefined) return "wrong";
    this.#verified.set(key, true);
    const most = Math.max(1, Math.floor(this.#limits.maxCacheBytes / CACHE_ENTRY_BYTES));
    while (this.#verified.size > most) {
      this.#verified.delete(this.#verified.keys().next().value!);
    }
    return "ok";
  }

  /** Passes the comparison slot to the next in line, or frees it. */
  #release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#running--;
    else next();
  }

  /** Waits for a free comparison slot; false at once when too many wait already. */
  async #turn(): Promise<boolean> {
    if (this.#running < this.#limits.maxRunning) {
      this.#running++;
      return true;
    }
    if (this.#waiting.length >= this.#limits.maxWaiting) return false;
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return true;
  }
}

/**
 * Who a check is counted against: the host of `remoteAddress` (`host:port` or `[v6]:port`); for
 * IPv6, its first 64 bits (an IPv4-mapped address is its IPv4 address).
 */
export function sourceOf(remoteAddress: string): string {
  let host = remoteAddress;
  if (host.startsWith("[")) host = host.slice(1, host.indexOf("]"));
  else if (host.indexOf(":") === host.lastIndexOf(":")) host = host.replace(/:\d*$/, "");
  if (!host.includes(":")) return host;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped !== null) return mapped[1];
  const [head, tail] = host.split("::");
  const front = head === "" ? [] : head.split(":");
  const back = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined
    ? front
    : [...front, ...Array(Math.max(0, 8 - front.length - back.length)).fill("0"), ...back];
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "").toLowerCase()).join(":") + "::/64";
}

function digestHex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The `user:password` of a `Basic` authorization header, or undefined. */
function readBasicCredentials(authorization: string | null): string | undefined {
  if (authorization === null) return undefined;
  const space = authorization.indexOf(" ");
  if (space === -1 || authorization.slice(0, space).toLowerCase() !== "basic") return undefined;
  try {
    const binary = atob(authorization.slice(space + 1).trim());
    return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}
