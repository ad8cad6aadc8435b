// The remote write flags: URLs, labels and the receivers' credentials, as loadConfig() reads them.

import assert from "node:assert/strict";
import { loadConfig, remoteWriteOptionsOf } from "../../lib/app/config.ts";

Deno.test("loadConfig() reads repeated remote write URLs and labels, from flags or env", () => {
  const config = loadConfig({
    remoteWriteURL: ["http://a:9090/api/v1/write", "https://b.example/api/v1/push"],
    remoteWriteLabel: ["replica=r1", "cluster=eu"],
    remoteWriteHeader: ["X-Scope-OrgID=team-a"],
  }, {});
  assert.deepEqual(config.remoteWriteHeader, [["X-Scope-OrgID", "team-a"]]);
  assert.deepEqual(config.remoteWriteURL.map(String), [
    "http://a:9090/api/v1/write",
    "https://b.example/api/v1/push",
  ]);
  assert.deepEqual(config.remoteWriteLabel, [["cluster", "eu"], ["replica", "r1"]]);
  const fromEnv = loadConfig({}, {
    PAG_REMOTEWRITEURL: "http://a:9090/api/v1/write,http://c:8428/api/v1/write",
    PAG_REMOTEWRITELABEL: "replica=r2",
  });
  assert.equal(fromEnv.remoteWriteURL.length, 2);
  assert.deepEqual(fromEnv.remoteWriteLabel, [["replica", "r2"]]);
  assert.equal(remoteWriteOptionsOf(loadConfig({}, {})), undefined, "off without a URL");
});

Deno.test("remoteWriteOptionsOf() takes Basic auth or a bearer token", () => {
  const url = "http://a/api/v1/write";
  const basic = remoteWriteOptionsOf(loadConfig({
    remoteWriteURL: url,
    remoteWriteUsername: "gw",
    remoteWritePasswordFile: "/run/secrets/pw",
  }, {}));
  assert.deepEqual(basic?.auth, {
    kind: "basic",
    username: "gw",
    password: { file: "/run/secrets/pw" },
  });
  const bearer = remoteWriteOptionsOf(
    loadConfig({ remoteWriteURL: url }, { PAG_REMOTEWRITEBEARERTOKEN: "t0k" }),
  );
  assert.deepEqual(bearer?.auth, { kind: "bearer", token: { value: "t0k" } });
});

Deno.test("a comma inside a remote write URL is written %2C, and kept so", () => {
  const config = loadConfig({ remoteWriteURL: ["http://a/w?tenant=x%2Cy", "http://b/w"] }, {});
  assert.deepEqual(config.remoteWriteURL.map(String), ["http://a/w?tenant=x%2Cy", "http://b/w"]);
});

Deno.test("loadConfig() refuses bad remote write settings with exact messages", async (t) => {
  // [flags, env, exact message]
  const cases: [Record<string, string>, Record<string, string>, string][] = [
    [
      { remoteWriteURL: "prometheus:9090" },
      {},
      '--remoteWriteURL: "prometheus:9090" is not an http or https URL',
    ],
    [
      { remoteWriteURL: "nota url" },
      {},
      '--remoteWriteURL: "nota url" is not a URL such as http://prometheus:9090/api/v1/write',
    ],
    // A URL that does not parse is echoed without its password, nor a user name alone.
    [
      { remoteWriteURL: "http://bob:s3cretPW@host:99999/w" },
      {},
      '--remoteWriteURL: "http://bob:***@host:99999/w" is not a URL such as http://prometheus:9090/api/v1/write',
    ],
    [
      { remoteWriteURL: "http://bob:p@ss:w0rd@host:99999/w" },
      {},
      '--remoteWriteURL: "http://bob:***@host:99999/w" is not a URL such as http://prometheus:9090/api/v1/write',
    ],
    [
      { remoteWriteURL: "http:bob:s3cretPW@host:99999" },
      {},
      '--remoteWriteURL: "http:bob:***@host:99999" is not a URL such as http://prometheus:9090/api/v1/write',
    ],
    [
      {},
      { PAG_REMOTEWRITEURL: "http://a/w,https://t0ken@host:99999/w" },
      'PAG_REMOTEWRITEURL: "https://***@host:99999/w" is not a URL such as http://prometheus:9090/api/v1/write; a comma separates URLs: write one inside a URL as %2C',
    ],
    // A comma separates URLs, in the flag as in the variable: one in a query says so.
    [
      { remoteWriteURL: "http://a/w?tenant=x,y" },
      {},
      '--remoteWriteURL: "y" is not a URL such as http://prometheus:9090/api/v1/write; a comma separates URLs: write one inside a URL as %2C',
    ],
    [
      { remoteWriteURL: "http://u:secret@a/api/v1/write" },
      {},
      "--remoteWriteURL: a URL holds credentials: give them with --remoteWriteUsername and --remoteWritePasswordFile",
    ],
    [
      { remoteWriteLabel: "replica" },
      {},
      '--remoteWriteLabel: "replica" is not name=value with a non-empty value',
    ],
    [
      { remoteWriteLabel: "replica=" },
      {},
      '--remoteWriteLabel: "replica=" is not name=value with a non-empty value',
    ],
    [
      { remoteWriteLabel: "__name__=x" },
      {},
      '--remoteWriteLabel: "__name__" is not a label name (reserved: __ at the start)',
    ],
    [
      {},
      { PAG_REMOTEWRITELABEL: "a=1,a=2" },
      'PAG_REMOTEWRITELABEL: label "a" is given twice',
    ],
    [
      { remoteWriteUsername: "gw" },
      {},
      "--remoteWriteUsername needs --remoteWritePasswordFile",
    ],
    [
      { remoteWritePasswordFile: "/pw" },
      {},
      'a remote write password needs --remoteWriteUsername, without ":"',
    ],
    [
      { remoteWritePasswordFile: "/pw", remoteWritePassword: "x", remoteWriteUsername: "u" },
      {},
      "give the remote write password as a value or as a file, not both",
    ],
    [
      { remoteWriteBearerTokenFile: "/t", remoteWriteUsername: "u" },
      {},
      "remote write takes Basic auth or a bearer token, not both",
    ],
    [
      { remoteWriteHeader: "Authorization=Basic eA==" },
      {},
      '--remoteWriteHeader: "Authorization" is set by the gateway; it cannot be given',
    ],
    [
      { remoteWriteHeader: "X Tenant=a" },
      {},
      '--remoteWriteHeader: "X Tenant" is not an HTTP header name',
    ],
    [
      { remoteWriteHeader: "X-Scope-OrgID=" },
      {},
      '--remoteWriteHeader: "X-Scope-OrgID" is not Name=value with a non-empty value',
    ],
    [
      { remoteWriteInterval: "50ms" },
      {},
      '--remoteWriteInterval: "50ms" is shorter than 100ms',
    ],
    [
      { remoteWriteMaxQueueBytes: "0" },
      {},
      '--remoteWriteMaxQueueBytes: "0" is not a positive whole number',
    ],
  ];
  for (const [flags, env, message] of cases) {
    await t.step(
      message,
      () => assert.throws(() => loadConfig(flags, env), { name: "ConfigError", message }),
    );
  }
});
