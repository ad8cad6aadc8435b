import assert from "node:assert/strict";
import {
  ConfigError,
  FLAGS,
  loadConfig,
  parseDuration,
  parseListenAddress,
} from "../../lib/app/config.ts";

Deno.test("loadConfig() uses the defaults of the flag table", () => {
  const config = loadConfig({}, {});
  assert.deepEqual(config, {
    apiListen: { hostname: undefined, port: 8080 },
    lifecycleListen: { hostname: undefined, port: 8888 },
    cors: { allowAll: true, origins: new Set() },
    AuthUsers: new Map(),
    gaugeBehavior: "replace",
    logLevel: "info",
    logFormat: "text",
    maxBodyBytes: 8 * 1024 * 1024,
    udpListen: undefined,
    maxSeries: 1_000_000,
    maxLabelsPerSeries: 64,
    maxLabelValueLength: 4096,
    maxBucketsPerSeries: 256,
    maxSamplesPerPush: 100_000,
    maxFamilies: 10_000,
    maxStoreBytes: 256 * 1024 * 1024,
    maxPushCacheBytes: 8 * 1024 * 1024,
    seriesTTL: 0,
    persistenceFile: undefined,
    webConfigFile: undefined,
    rulesFile: undefined,
    persistenceInterval: 30_000,
    maxConnections: 512,
    maxHeaderBytes: 65_536,
    readHeaderTimeout: 10_000,
    readTimeout: 30_000,
    idleTimeout: 60_000,
    writeTimeout: 60_000,
    maxRequestBufferBytes: 64 * 1024 * 1024,
    maxScrapeBacklogBytes: 64 * 1024 * 1024,
    remoteWriteURL: [],
    remoteWriteInterval: 30_000,
    remoteWriteLabel: [],
    remoteWriteHeader: [],
    remoteWriteTimeout: 30_000,
    remoteWriteMaxSamplesPerRequest: 2000,
    remoteWriteMaxQueueBytes: 64 * 1024 * 1024,
    remoteWriteUsername: "",
    remoteWritePasswordFile: "",
    remoteWritePassword: "",
    remoteWriteBearerTokenFile: "",
    remoteWriteBearerToken: "",
  });
});

Deno.test("loadConfig() reads PAG_<FLAGNAME> and lets an explicit flag win", () => {
  const env = {
    PAG_RULESFILE: "/etc/pag/rules.yaml",
    PAG_APILISTEN: "127.0.0.1:9000",
    PAG_GAUGEBEHAVIOR: "max",
    PAG_AUTHUSERS: "a=1,b=2=3",
    PAG_CORS: "https://a.example,http://b.example:8080",
  };
  const config = loadConfig({ gaugeBehavior: "min" }, env);
  assert.deepEqual(config.apiListen, { hostname: "127.0.0.1", port: 9000 });
  assert.equal(config.gaugeBehavior, "min");
  assert.equal(config.rulesFile, "/etc/pag/rules.yaml");
  assert.deepEqual(config.AuthUsers, new Map([["a", "1"], ["b", "2=3"]]));
  assert.deepEqual(config.cors, {
    allowAll: false,
    origins: new Set(["https://a.example", "http://b.example:8080"]),
  });
});

Deno.test("loadConfig() takes an empty PAG_ variable as unset, as the Go gateway does", () => {
  const env = Object.fromEntries(FLAGS.map((flag) => [`PAG_${flag.name.toUpperCase()}`, ""]));
  assert.deepEqual(loadConfig({}, env), loadConfig({}, {}));
});

Deno.test("loadConfig() writes a --cors origin as browsers send it", () => {
  const config = loadConfig({ cors: "https://App.example/,http://b.example:80" }, {});
  assert.deepEqual(config.cors.origins, new Set(["https://app.example", "http://b.example"]));
});

Deno.test("loadConfig() joins a repeated --AuthUsers", () => {
  const config = loadConfig({ AuthUsers: ["a=1", "b=2,c=3"] }, {});
  assert.deepEqual([...config.AuthUsers.keys()], ["a", "b", "c"]);
});

Deno.test("loadConfig() refuses an --AuthUsers that would turn auth off", async (t) => {
  const off = "has no user=password entry; leave the flag out to turn auth off";
  // [flags, env, exact message]; each of these would have let every push through.
  const cases: [Record<string, string | string[]>, Record<string, string>, string][] = [
    [{ AuthUsers: "," }, {}, `--AuthUsers: "," ${off}`],
    [{ AuthUsers: ",,," }, {}, `--AuthUsers: ",,," ${off}`],
    // `--AuthUsers "$USERS"` with the variable unset or empty.
    [{ AuthUsers: "" }, {}, `--AuthUsers: "" ${off}`],
    [{ AuthUsers: ["", ""] }, {}, `--AuthUsers: "," ${off}`],
    [{}, { PAG_AUTHUSERS: "," }, `PAG_AUTHUSERS: "," ${off}`],
    [{ AuthUsers: "u=" }, {}, '--AuthUsers: user "u" has an empty password'],
    [{ AuthUsers: "a=1,b=" }, {}, '--AuthUsers: user "b" has an empty password'],
    [{}, { PAG_AUTHUSERS: "a=" }, 'PAG_AUTHUSERS: user "a" has an empty password'],
    // An empty user name.
    [{ AuthUsers: "=pw" }, {}, "--AuthUsers: entry 1 is not user=password"],
    [{ AuthUsers: "=" }, {}, "--AuthUsers: entry 1 is not user=password"],
  ];
  for (const [flags, env, message] of cases) {
    await t.step(
      `${JSON.stringify(flags)} ${JSON.stringify(env)}`,
      () => assert.throws(() => loadConfig(flags, env), { name: "ConfigError", message }),
    );
  }
  // Auth stays off without the flag, or with an empty variable (unset, as in the Go gateway);
  // a stray comma beside an entry is harmless.
  assert.equal(loadConfig({}, { PAG_AUTHUSERS: "" }).AuthUsers.size, 0);
  assert.deepEqual(loadConfig({ AuthUsers: "a=1," }, {}).AuthUsers, new Map([["a", "1"]]));
});

Deno.test("every flag has a PAG_ variable that loadConfig() reads", () => {
  for (const flag of FLAGS) {
    const env = { [`PAG_${flag.name.toUpperCase()}`]: "%bad%" };
    if (flag.name === "persistenceFile") {
      assert.equal(loadConfig({}, env).persistenceFile, "%bad%", "any path is a path");
      continue;
    }
    if (flag.name === "remoteWriteBearerToken" || flag.name === "remoteWriteBearerTokenFile") {
      assert.doesNotThrow(() => loadConfig({}, env), "any text is a token, any path a path");
      continue;
    }
    if (flag.name === "webConfigFile") {
      assert.equal(loadConfig({}, env).webConfigFile, "%bad%", "read and checked at start");
      continue;
    }
    if (flag.name === "rulesFile") {
      assert.equal(loadConfig({}, env).rulesFile, "%bad%", "any path is a path");
      continue;
    }
    assert.throws(() => loadConfig({}, env), ConfigError, flag.name);
  }
});

Deno.test("loadConfig() refuses bad values with a message naming the flag or variable", async (t) => {
  // [flags, env, exact message]
  const cases: [Record<string, string>, Record<string, string>, string][] = [
    [{ gaugeBehavior: "avg" }, {}, '--gaugeBehavior: "avg" is not one of replace, sum, max, min'],
    [
      {},
      { PAG_GAUGEBEHAVIOR: "avg" },
      'PAG_GAUGEBEHAVIOR: "avg" is not one of replace, sum, max, min',
    ],
    [{ logLevel: "trace" }, {}, '--logLevel: "trace" is not one of debug, info, warn, error'],
    [{ logFormat: "xml" }, {}, '--logFormat: "xml" is not one of text, json'],
    [{ apiListen: "8080" }, {}, '--apiListen: "8080" is not host:port or :port'],
    [{ apiListen: ":http" }, {}, '--apiListen: ":http" has no valid port (0 to 65535)'],
    [
      { lifecycleListen: ":70000" },
      {},
      '--lifecycleListen: ":70000" has no valid port (0 to 65535)',
    ],
    [
      { apiListen: "::1:80" },
      {},
      '--apiListen: "::1:80": write an IPv6 address in brackets, as [::1]:8080',
    ],
    [{ AuthUsers: "alice:s3cret" }, {}, "--AuthUsers: entry 1 is not user=password"],
    [{ AuthUsers: "a=1,=pw" }, {}, "--AuthUsers: entry 2 is not user=password"],
    [{}, { PAG_AUTHUSERS: "a=1,b" }, "PAG_AUTHUSERS: entry 2 is not user=password"],
    [{ AuthUsers: "a=1,a=2" }, {}, '--AuthUsers: user "a" is given twice'],
    [
      { cors: "example.com" },
      {},
      '--cors: "example.com" is not an origin such as https://example.com:8443',
    ],
    [
      { cors: "https://a.example/app" },
      {},
      '--cors: "https://a.example/app" is not an origin such as https://example.com:8443',
    ],
    [
      { cors: "file:///tmp/x" },
      {},
      '--cors: "file:///tmp/x" is not an origin such as https://example.com:8443',
    ],
    [
      { cors: "https://bob:s3cret@a.example" },
      {},
      '--cors: "https://bob:***@a.example" is not an origin such as https://example.com:8443',
    ],
    [{ cors: "*,https://a.example" }, {}, '--cors: "*" cannot be combined with origins'],
    [{ cors: "" }, {}, "--cors: give * or at least one origin"],
    [{ maxBodyBytes: "1.5" }, {}, '--maxBodyBytes: "1.5" is not a positive whole number'],
    [{ maxBodyBytes: "0" }, {}, '--maxBodyBytes: "0" is not a positive whole number'],
    [{ maxSeries: "-1" }, {}, '--maxSeries: "-1" is not a positive whole number'],
    [{ maxLabelsPerSeries: "x" }, {}, '--maxLabelsPerSeries: "x" is not a positive whole number'],
    [
      { maxLabelValueLength: "1e3" },
      {},
      '--maxLabelValueLength: "1e3" is not a positive whole number',
    ],
    [{ seriesTTL: "30" }, {}, '--seriesTTL: "30" is not a duration such as 30s, 5m or 1h30m'],
    [{ seriesTTL: "1d" }, {}, '--seriesTTL: "1d" is not a duration such as 30s, 5m or 1h30m'],
    [{ persistenceInterval: "10ms" }, {}, '--persistenceInterval: "10ms" is shorter than 100ms'],
  ];
  for (const [flags, env, message] of cases) {
    await t.step(
      message,
      () => assert.throws(() => loadConfig(flags, env), { name: "ConfigError", message }),
    );
  }
});

Deno.test("parseListenAddress() reads host:port forms", () => {
  assert.deepEqual(parseListenAddress(":0"), { hostname: undefined, port: 0 });
  assert.deepEqual(parseListenAddress("localhost:80"), { hostname: "localhost", port: 80 });
  assert.deepEqual(parseListenAddress("[::1]:9"), { hostname: "::1", port: 9 });
  assert.deepEqual(parseListenAddress("0.0.0.0:65535"), { hostname: "0.0.0.0", port: 65535 });
});

Deno.test("parseDuration() reads Go durations into milliseconds", () => {
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.throws(() => parseDuration("1h 30m"), ConfigError);
  assert.throws(() => parseDuration(""), ConfigError);
});
