// Reads and checks the Prometheus exporter-toolkit web configuration file (`--webConfigFile`):
// TLS for both listeners, response headers, and bcrypt basic auth for the API listener.
// https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md
//
// Every field of the spec is either honoured or refused at start with the reason: a setting
// the Deno TLS stack cannot apply (client certificates, cipher suites, curves, TLS 1.0/1.1,
// HTTP/2) is never accepted and then ignored.

import { isMap, isScalar, LineCounter, parseDocument, visit } from "yaml";
import { dirname, isAbsolute, join } from "node:path";

/** The TLS versions Deno's TLS stack (rustls) speaks, by their exporter-toolkit names. */
const TLS_VERSIONS: Record<string, "TLSv1.2" | "TLSv1.3"> = {
  TLS12: "TLSv1.2",
  TLS13: "TLSv1.3",
};

/** The response headers the spec lets a file set, with the values it accepts (any when empty). */
const HEADERS: Record<string, readonly string[]> = {
  "Content-Security-Policy": [],
  "X-Frame-Options": ["deny", "sameorigin"],
  "X-Content-Type-Options": ["nosniff"],
  "X-XSS-Protection": [],
  "Strict-Transport-Security": [],
};

const CLIENT_AUTH_TYPES = [
  "NoClientCert",
  "RequestClientCert",
  "RequireAnyClientCert",
  "VerifyClientCertIfGiven",
  "RequireAndVerifyClientCert",
];

/** A bcrypt hash as Go's bcrypt and htpasswd write it: `$2a$`, `$2b$` or `$2y$`, cost 4 to 31. */
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;

/** The largest web configuration file read: about 14 000 users. */
export const MAX_WEB_CONFIG_BYTES = 1024 * 1024;
/** The largest certificate or key file read: a long certificate chain takes tens of KiB. */
export const MAX_PEM_BYTES = 1024 * 1024;

/** Where the server's certificate and key come from: a file (re-read when it changes) or inline. */
export type PemSource = { file: string } | { inline: string };

export interface TlsServerSettings {
  cert: PemSource;
  key: PemSource;
  /** In node:tls words. */
  minVersion: "TLSv1.2" | "TLSv1.3";
  maxVersion: "TLSv1.2" | "TLSv1.3";
}

export interface WebConfig {
  /** The file read, as given. */
  file: string;
  /** Undefined: plain HTTP. */
  tls: TlsServerSettings | undefined;
  /** Headers added to every response of both listeners. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** User to bcrypt hash; empty: no basic auth. */
  basicAuthUsers: ReadonlyMap<string, string>;
}

/** The file cannot be read or is not a web configuration this gateway can honour. */
export class WebConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebConfigError";
  }
}

/** Reads `file` and checks it; throws a {@linkcode WebConfigError} naming the file and why. */
export function loadWebConfig(file: string): WebConfig {
  return parseWebConfig(readSmallFile(file, MAX_WEB_CONFIG_BYTES, "--webConfigFile"), file);
}

/**
 * Reads the text of `file` if it is a regular file of at most `maxBytes`; otherwise throws a
 * {@linkcode WebConfigError} that names it as `what`. A FIFO, a device (`/dev/zero`) or a
 * directory is refused before it is read: opening a FIFO waits for a writer, and a device may
 * never end. It is checked by name and again, once open, by its handle.
 */
export function readSmallFile(file: string, maxBytes: number, what: string): string {
  const fail = (why: string): never => {
    throw new WebConfigError(`cannot read ${what} "${file}": ${why}`);
  };
  const check = (info: Deno.FileInfo) => {
    if (!info.isFile) fail("not a regular file");
    if (info.size > maxBytes) fail(`larger than ${maxBytes} bytes`);
  };
  try {
    check(Deno.statSync(file));
    using handle = Deno.openSync(file, { read: true });
    check(handle.statSync());
    const buffer = new Uint8Array(maxBytes + 1);
    let length = 0;
    for (
      let n;
      length < buffer.length && (n = handle.readSync(buffer.subarray(length))) !== null;
    ) {
      length += n;
    }
    if (length > maxBytes) fail(`larger than ${maxBytes} bytes`);
    return new TextDecoder().decode(buffer.subarray(0, length));
  } catch (error) {
    if (error instanceof WebConfigError) throw error;
    return fail((error as Error).message);
  }
}

/**
 * Parses the YAML `text` of web configuration file `file`. File names in it are relative to
 * the file's folder, as exporter-toolkit reads them.
 */
export function parseWebConfig(text: string, file: string): WebConfig {
  const fail = (why: string): never => {
    throw new WebConfigError(`--webConfigFile "${file}": ${why}`);
  };
  let document: unknown;
  try {
    document = parseYamlUniqueKeys(text);
  } catch (error) {
    fail(`not valid YAML: ${(error as Error).message.split("\n")[0].replace(/:$/, "")}`);
  }
  document ??= {};
  const top = mapping(document, "the file", fail);
  checkKeys(
    top,
    "the file",
    ["tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"],
    fail,
  );
  if (top.rate_limit !== undefined && top.rate_limit !== null) {
    fail(
      "rate_limit is not supported: the gateway bounds each client with its own limits " +
        "(--maxConnections, --maxRequestBufferBytes, the timeouts); remove it",
    );
  }
  const directory = dirname(file);
  return {
    file,
    tls: parseTls(top.tls_server_config, directory, fail),
    headers: parseHttp(top.http_server_config, fail),
    basicAuthUsers: parseUsers(top.basic_auth_users, fail),
  };
}

/**
 * Parses YAML, refusing a mapping that repeats a key. The yaml package's own `uniqueKeys`
 * compares every key with every other (20 000 users took 6.5 s); this keeps a set per mapping.
 */
function parseYamlUniqueKeys(text: string): unknown {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { uniqueKeys: false, lineCounter });
  if (document.errors.length > 0) throw document.errors[0];
  visit(document, {
    Map(_, map) {
      if (!isMap(map)) return;
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = `${typeof pair.key.value}:${String(pair.key.value)}`;
        if (seen.has(key)) {
          const { line, col } = lineCounter.linePos(pair.key.range?.[0] ?? 0);
          throw new Error(`Map keys must be unique at line ${line}, column ${col}`);
        }
        seen.add(key);
      }
    },
  });
  return document.toJS({ maxAliasCount: 10 });
}

function parseTls(
  value: unknown,
  directory: string,
  fail: (why: string) => never,
): TlsServerSettings | undefined {
  if (value === undefined || value === null) return undefined;
  const where = "tls_server_config";
  const tls = mapping(value, where, fail);
  checkKeys(tls, where, [
    "cert",
    "key",
    "client_ca",
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "client_allowed_sans",
    "min_version",
    "max_version",
    "cipher_suites",
    "prefer_server_cipher_suites",
    "curve_preferences",
  ], fail);
  const str = (name: string) => optionalString(tls[name], `${where}.${name}`, fail);
  const cert = str("cert"), certFile = str("cert_file");
  const key = str("key"), keyFile = str("key_file");
  const clientCa = str("client_ca"), clientCaFile = str("client_ca_file");
  const clientAuth = str("client_auth_type") ?? "NoClientCert";
  if (!CLIENT_AUTH_TYPES.includes(clientAuth)) {
    fail(`${where}.client_auth_type "${clientAuth}" is not one of ${CLIENT_AUTH_TYPES.join(", ")}`);
  }
  if (clientAuth !== "NoClientCert") {
    fail(
      `${where}.client_auth_type "${clientAuth}" is not supported: Deno's TLS server checks ` +
        `neither a client certificate's CA nor that the client holds its key; use ` +
        `basic_auth_users, or a proxy in front that checks client certificates`,
    );
  }
  if (clientCa !== undefined || clientCaFile !== undefined) {
    // As exporter-toolkit: a CA without a policy that uses it is a mistake.
    fail(`${where}: client_ca_file or client_ca is set but client_auth_type is NoClientCert`);
  }
  if (nonEmptyList(tls.client_allowed_sans, `${where}.client_allowed_sans`, fail)) {
    fail(`${where}.client_allowed_sans needs client certificates, which are not supported`);
  }
  if (nonEmptyList(tls.cipher_suites, `${where}.cipher_suites`, fail)) {
    fail(
      `${where}.cipher_suites is not supported: Deno's TLS stack (rustls) offers its own ` +
        `secure suites and cannot be restricted to a list; remove it`,
    );
  }
  if (nonEmptyList(tls.curve_preferences, `${where}.curve_preferences`, fail)) {
    fail(
      `${where}.curve_preferences is not supported: Deno's TLS stack (rustls) chooses the ` +
        `curves; remove it`,
    );
  }
  const prefer = tls.prefer_server_cipher_suites;
  if (prefer !== undefined && prefer !== null && typeof prefer !== "boolean") {
    fail(`${where}.prefer_server_cipher_suites must be true or false`);
  }
  const minVersion = tlsVersion(str("min_version") ?? "TLS12", `${where}.min_version`, fail);
  const maxVersion = tlsVersion(str("max_version") ?? "TLS13", `${where}.max_version`, fail);
  if (minVersion > maxVersion) {
    fail(`${where}.min_version is above max_version`);
  }
  // As exporter-toolkit: a section with no certificate, key or CA at all means plain HTTP.
  if ([cert, certFile, key, keyFile].every((v) => v === undefined)) return undefined;
  if (cert !== undefined && certFile !== undefined) {
    fail(`${where}.cert and cert_file are mutually exclusive`);
  }
  if (key !== undefined && keyFile !== undefined) {
    fail(`${where}.key and key_file are mutually exclusive`);
  }
  if (cert === undefined && certFile === undefined) fail(`${where}: missing cert_file or cert`);
  if (key === undefined && keyFile === undefined) fail(`${where}: missing key_file or key`);
  const source = (inline: string | undefined, path: string | undefined): PemSource =>
    inline !== undefined
      ? { inline }
      : { file: isAbsolute(path!) ? path! : join(directory, path!) };
  return { cert: source(cert, certFile), key: source(key, keyFile), minVersion, maxVersion };
}

function parseHttp(
  value: unknown,
  fail: (why: string) => never,
): Array<readonly [string, string]> {
  if (value === undefined || value === null) return [];
  const where = "http_server_config";
  const http = mapping(value, where, fail);
  checkKeys(http, where, ["http2", "headers"], fail);
  if (http.http2 !== undefined && http.http2 !== null && typeof http.http2 !== "boolean") {
    fail(`${where}.http2 must be true or false`);
  }
  if (http.http2 === true) {
    fail(`${where}.http2: HTTP/2 is not offered, the gateway speaks HTTP/1.1; set it to false`);
  }
  if (http.headers === undefined || http.headers === null) return [];
  const headers = mapping(http.headers, `${where}.headers`, fail);
  const result: Array<readonly [string, string]> = [];
  for (const [name, raw] of Object.entries(headers)) {
    const allowed = HEADERS[name];
    if (allowed === undefined) {
      fail(
        `${where}.headers: "${name}" cannot be set; allowed: ${Object.keys(HEADERS).join(", ")}`,
      );
    }
    const text = optionalString(raw, `${where}.headers.${name}`, fail) ?? "";
    if (text === "") continue; // "Unset if blank"
    // RFC 9110 field values: visible ASCII, spaces and tabs. Anything else (a line break, a
    // U+2028) cannot be sent, and every answer of both listeners would fail on it.
    const bad = /[^\t\x20-\x7e]/.exec(text);
    if (bad !== null) {
      const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
      fail(
        `${where}.headers.${name} holds U+${code} at character ${bad.index + 1}; a header ` +
          `value may hold visible ASCII, spaces and tabs only`,
      );
    }
    if (allowed.length > 0 && !allowed.includes(text.toLowerCase())) {
      fail(`${where}.headers.${name} "${text}" is not one of ${allowed.join(", ")}`);
    }
    result.push([name, text]);
  }
  return result;
}

function parseUsers(value: unknown, fail: (why: string) => never): Map<string, string> {
  const users = new Map<string, string>();
  if (value === undefined || value === null) return users;
  for (const [user, hash] of Object.entries(mapping(value, "basic_auth_users", fail))) {
    if (user === "" || user.includes(":")) {
      fail(`basic_auth_users: user "${user}" is empty or holds ":", which Basic auth cannot send`);
    }
    if (typeof hash !== "string" || !BCRYPT_HASH.test(hash)) {
      fail(
        `basic_auth_users.${user}: not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04 to 31, ` +
          `as htpasswd -nBC 10 writes)`,
      );
    }
    users.set(user, hash);
  }
  return users;
}

function mapping(
  value: unknown,
  where: string,
  fail: (why: string) => never,
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(`${where} must be a mapping of keys to values`);
  }
  return value as Record<string, unknown>;
}

function checkKeys(
  object: Record<string, unknown>,
  where: string,
  known: readonly string[],
  fail: (why: string) => never,
): void {
  for (const key of Object.keys(object)) {
    if (!known.includes(key)) fail(`unknown field "${key}" in ${where}`);
  }
}

function optionalString(
  value: unknown,
  where: string,
  fail: (why: string) => never,
): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") fail(`${where} must be a string`);
  return value as string;
}

function nonEmptyList(value: unknown, where: string, fail: (why: string) => never): boolean {
  if (value === undefined || value === null) return false;
  if (!Array.isArray(value)) fail(`${where} must be a list`);
  return (value as unknown[]).length > 0;
}

function tlsVersion(
  name: string,
  where: string,
  fail: (why: string) => never,
): "TLSv1.2" | "TLSv1.3" {
  const version = TLS_VERSIONS[name];
  if (version !== undefined) return version;
  if (name === "TLS10" || name === "TLS11") {
    fail(`${where} ${name} is not offered: Deno's TLS stack (rustls) speaks TLS12 and TLS13 only`);
  }
  return fail(`${where} "${name}" is not one of TLS10, TLS11, TLS12, TLS13`);
}
