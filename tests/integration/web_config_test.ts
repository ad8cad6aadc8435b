// In tests/integration although it starts no process: the yaml package reads the environment
// (LOG_TOKENS, LOG_STREAM), which the unit tests' permissions do not allow.

import assert from "node:assert/strict";
import { parseWebConfig, WebConfigError } from "../../lib/app/web_config.ts";

// A bcrypt hash (of "other", at cost 4).
const HASH = "$2b$04$jG5yjhx2SgNt84nq6BnpputrizmYCYetSoZduWZsHIoHB26Y9W1nS";

Deno.test("parseWebConfig() reads the exporter-toolkit fields, files relative to the file", () => {
  const config = parseWebConfig(
    `
tls_server_config:
  cert_file: tls/server.crt
  key_file: /etc/pag/server.key
  min_version: TLS13
  client_auth_type: NoClientCert
  prefer_server_cipher_suites: true
  cipher_suites: []
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
    Content-Security-Policy: ""
basic_auth_users:
  prometheus: "${HASH}"
`,
    "/etc/pag/web.yml",
  );
  assert.deepEqual(config, {
    file: "/etc/pag/web.yml",
    tls: {
      cert: { file: "/etc/pag/tls/server.crt" },
      key: { file: "/etc/pag/server.key" },
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
    },
    headers: [["X-Frame-Options", "deny"], ["Strict-Transport-Security", "max-age=31536000"]],
    basicAuthUsers: new Map([["prometheus", HASH]]),
  });
});

Deno.test("parseWebConfig() takes an empty file, or a TLS section without certificates, as plain HTTP", () => {
  for (const text of ["", "---\n", "tls_server_config:\n  min_version: TLS12\n"]) {
    const config = parseWebConfig(text, "w.yml");
    assert.equal(config.tls, undefined, JSON.stringify(text));
    assert.equal(config.basicAuthUsers.size, 0);
  }
  const inline = parseWebConfig("tls_server_config:\n  cert: C\n  key: K\n", "w.yml").tls;
  assert.deepEqual(inline?.cert, { inline: "C" });
  assert.deepEqual(inline?.key, { inline: "K" });
});

Deno.test("parseWebConfig() refuses what it cannot honour, with the reason", async (t) => {
  const tlsOf = (lines: string) =>
    `tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n${lines}`;
  const prefix = '--webConfigFile "w.yml": ';
  // [file text, exact message after the prefix]
  const cases: [string, string][] = [
    [
      "tls_server_config: [\n",
      "not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1",
    ],
    ["- a\n", "the file must be a mapping of keys to values"],
    ["tls_config:\n  cert_file: x\n", 'unknown field "tls_config" in the file'],
    [tlsOf("  certfile: x\n"), 'unknown field "certfile" in tls_server_config'],
    ["tls_server_config:\n  cert_file: c.pem\n", "tls_server_config: missing key_file or key"],
    ["tls_server_config:\n  key_file: k.pem\n", "tls_server_config: missing cert_file or cert"],
    [tlsOf("  cert: C\n"), "tls_server_config.cert and cert_file are mutually exclusive"],
    [
      tlsOf("  cert_file: [a]\n").replace("  cert_file: c.pem\n", ""),
      "tls_server_config.cert_file must be a string",
    ],
    [
      tlsOf("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"),
      'tls_server_config.client_auth_type "RequireAndVerifyClientCert" is not supported: ' +
      "Deno's TLS server checks neither a client certificate's CA nor that the client holds its " +
      "key; use basic_auth_users, or a proxy in front that checks client certificates",
    ],
    [
      tlsOf("  client_auth_type: Maybe\n"),
      'tls_server_config.client_auth_type "Maybe" is not one of NoClientCert, RequestClientCert, ' +
      "RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert",
    ],
    [
      tlsOf("  client_ca_file: ca.pem\n"),
      "tls_server_config: client_ca_file or client_ca is set but client_auth_type is NoClientCert",
    ],
    [
      tlsOf("  client_allowed_sans: [a.example]\n"),
      "tls_server_config.client_allowed_sans needs client certificates, which are not supported",
    ],
    [
      tlsOf("  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"),
      "tls_server_config.cipher_suites is not supported: Deno's TLS stack (rustls) offers its " +
      "own secure suites and cannot be restricted to a list; remove it",
    ],
    [
      tlsOf("  curve_preferences: [X25519]\n"),
      "tls_server_config.curve_preferences is not supported: Deno's TLS stack (rustls) chooses " +
      "the curves; remove it",
    ],
    [
      tlsOf("  min_version: TLS10\n"),
      "tls_server_config.min_version TLS10 is not offered: Deno's TLS stack (rustls) speaks " +
      "TLS12 and TLS13 only",
    ],
    [
      tlsOf("  max_version: TLS14\n"),
      'tls_server_config.max_version "TLS14" is not one of TLS10, TLS11, TLS12, TLS13',
    ],
    [
      tlsOf("  min_version: TLS13\n  max_version: TLS12\n"),
      "tls_server_config.min_version is above max_version",
    ],
    [
      tlsOf("  prefer_server_cipher_suites: yes please\n"),
      "tls_server_config.prefer_server_cipher_suites must be true or false",
    ],
    [
      "http_server_config:\n  http2: true\n",
      "http_server_config.http2: HTTP/2 is not offered, the gateway speaks HTTP/1.1; set it to false",
    ],
    [
      "http_server_config:\n  headers:\n    Server: pag\n",
      'http_server_config.headers: "Server" cannot be set; allowed: Content-Security-Policy, ' +
      "X-Frame-Options, X-Content-Type-Options, X-XSS-Protection, Strict-Transport-Security",
    ],
    [
      "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
      'http_server_config.headers.X-Frame-Options "allow" is not one of deny, sameorigin',
    ],
    [
      'http_server_config:\n  headers:\n    Content-Security-Policy: "default-src \\u2028x"\n',
      "http_server_config.headers.Content-Security-Policy holds U+2028 at character 13; a " +
      "header value may hold visible ASCII, spaces and tabs only",
    ],
    [
      'http_server_config:\n  headers:\n    X-XSS-Protection: "1; mode=block\\r\\nSet-Cookie: a=b"\n',
      "http_server_config.headers.X-XSS-Protection holds U+000D at character 14; a " +
      "header value may hold visible ASCII, spaces and tabs only",
    ],
    [
      'http_server_config:\n  headers:\n    Content-Security-Policy: "caf\u00e9"\n',
      "http_server_config.headers.Content-Security-Policy holds U+00E9 at character 4; a " +
      "header value may hold visible ASCII, spaces and tabs only",
    ],
    [
      "basic_auth_users:\n  alice: secret\n",
      "basic_auth_users.alice: not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04 to 31, as htpasswd -nBC 10 writes)",
    ],
    [
      `basic_auth_users:\n  "a:b": "${HASH}"\n`,
      'basic_auth_users: user "a:b" is empty or holds ":", which Basic auth cannot send',
    ],
    [
      `basic_auth_users:\n  a: "${HASH}"\n  a: "${HASH}"\n`,
      "not valid YAML: Map keys must be unique at line 3, column 3",
    ],
    [
      "rate_limit:\n  interval: 1s\n  burst: 5\n",
      "rate_limit is not supported: the gateway bounds each client with its own limits " +
      "(--maxConnections, --maxRequestBufferBytes, the timeouts); remove it",
    ],
  ];
  for (const [text, message] of cases) {
    await t.step(JSON.stringify(text), () => {
      assert.throws(() => parseWebConfig(text, "w.yml"), {
        name: "WebConfigError",
        message: prefix + message,
      });
    });
  }
  assert.ok(new WebConfigError("x") instanceof Error);
});

Deno.test("parseWebConfig() reads 20 000 users in linear time, and still refuses a repeated one", () => {
  const lines = Array.from({ length: 20_000 }, (_, i) => `  user${i}: "${HASH}"\n`);
  const started = performance.now();
  const config = parseWebConfig(`basic_auth_users:\n${lines.join("")}`, "w.yml");
  const seconds = (performance.now() - started) / 1000;
  assert.equal(config.basicAuthUsers.size, 20_000);
  // The yaml package's own duplicate check compared every key with every other: 6.5 s here.
  assert.ok(seconds < 3, `${seconds} s`);
  assert.throws(
    () => parseWebConfig(`basic_auth_users:\n${lines.join("")}  user7: "${HASH}"\n`, "w.yml"),
    {
      name: "WebConfigError",
      message: '--webConfigFile "w.yml": not valid YAML: Map keys must be unique at line 20002, ' +
        "column 3",
    },
  );
});
