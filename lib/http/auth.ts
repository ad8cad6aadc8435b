// HTTP Basic authentication for pushes and deletes (`--AuthUsers`).

import { createHash, timingSafeEqual } from "node:crypto";

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
