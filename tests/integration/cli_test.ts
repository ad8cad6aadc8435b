import assert from "node:assert/strict";
import { FLAGS } from "../../lib/app/config.ts";
import { VERSION } from "../../lib/core/version.ts";
import { runCommand, startGateway } from "../helpers/gateway_process.ts";
import { readSome, startRawPush } from "../helpers/raw_http.ts";

Deno.test("--help and help list every flag with its default and variable", async () => {
  for (const args of [["--help"], ["help"], ["start", "-h"]]) {
    const { code, stdout } = await runCommand(args);
    assert.equal(code, 0, args.join(" "));
    assert.match(stdout, /^Usage: prom-aggregation-gateway \[start\|version\|help\] \[flags\]/);
    // Every command has its usage line, with what it takes.
    assert.ok(
      stdout.startsWith(
        "Usage: prom-aggregation-gateway [start|version|help] [flags]\n" +
          "       prom-aggregation-gateway completion bash|zsh|fish\n" +
          "       prom-aggregation-gateway check-rules FILE\n\n",
      ),
      stdout.slice(0, 300),
    );
    for (const flag of FLAGS) {
      const shown = flag.default === "" ? "none" : flag.default;
      assert.ok(stdout.includes(`  --${flag.name} value\n`), flag.name);
      assert.ok(
        stdout.includes(`default ${shown}, env PAG_${flag.name.toUpperCase()}\n`),
        flag.name,
      );
    }
  }
});

Deno.test("version and --version print the version", async () => {
  for (const args of [["version"], ["--version"]]) {
    const { code, stdout } = await runCommand(args);
    assert.equal(code, 0);
    assert.match(
      stdout,
      new RegExp(`^prom-aggregation-gateway ${VERSION} \\(commit unknown, deno \\S+\\)\n$`),
    );
  }
});

Deno.test("a bad flag, command or value exits 2 with one line naming it", async (t) => {
  // [args, env, exact stderr]
  const cases: [string[], Record<string, string>, string][] = [
    [["--bogus"], {}, "prom-aggregation-gateway: unknown flag --bogus; see --help\n"],
    [["-x"], {}, "prom-aggregation-gateway: unknown flag -x; see --help\n"],
    [["stop"], {}, 'prom-aggregation-gateway: unknown command "stop"; see --help\n'],
    [["start", "now"], {}, 'prom-aggregation-gateway: unexpected argument "now"; see --help\n'],
    [
      ["--gaugeBehavior", "avg"],
      {},
      'prom-aggregation-gateway: --gaugeBehavior: "avg" is not one of replace, sum, max, min\n',
    ],
    [
      [],
      { PAG_LOGFORMAT: "xml" },
      'prom-aggregation-gateway: PAG_LOGFORMAT: "xml" is not one of text, json\n',
    ],
    [
      ["--apiListen"],
      {},
      "prom-aggregation-gateway: flag --apiListen needs a value; see --help\n",
    ],
  ];
  for (const [args, env, stderr] of cases) {
    await t.step(args.join(" ") || JSON.stringify(env), async () => {
      const result = await runCommand(args, env);
      assert.equal(result.code, 2);
      assert.equal(result.stderr, stderr);
      assert.equal(result.stdout, "");
    });
  }
});

/** Runs the CLI with its API listener on a port that a running gateway holds. */
async function startOnBusyPort(args: string[] = []) {
  await using busy = await startGateway();
  const port = new URL(busy.api).port;
  const result = await runCommand([
    "--apiListen",
    `127.0.0.1:${port}`,
    "--lifecycleListen",
    "127.0.0.1:0",
    ...args,
  ]);
  return { port, result };
}

Deno.test("a listener that cannot bind exits 1 with the address in the message", async () => {
  const { port, result } = await startOnBusyPort();
  assert.equal(result.code, 1);
  // The lifecycle listener opens first (so /ready can answer while a snapshot loads); the
  // reason is the last line.
  assert.match(
    result.stderr.split("\n").at(-2)! + "\n",
    new RegExp(
      `^prom-aggregation-gateway: cannot listen on 127\\.0\\.0\\.1:${port} for the api listener: .+\n$`,
    ),
  );
});

Deno.test("with --logFormat json the reason a start failed is a JSON line too", async () => {
  const { port, result } = await startOnBusyPort(["--logFormat", "json"]);
  assert.equal(result.code, 1);
  const lines = result.stderr.trimEnd().split("\n").map((line) => JSON.parse(line));
  const last = lines.at(-1);
  assert.equal(last.level, "error");
  assert.match(
    last.msg,
    new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port} for the api listener`),
  );
});

Deno.test("the environment configures the gateway and a flag beats it", async () => {
  const env = { PAG_GAUGEBEHAVIOR: "sum", PAG_LOGFORMAT: "json" };
  await using gateway = await startGateway(["--gaugeBehavior", "max"], { env });
  for (const value of [3, 5, 4]) {
    const response = await fetch(gateway.api + "/metrics", {
      method: "POST",
      body: `# TYPE g gauge\ng ${value}\n`,
    });
    assert.equal(response.status, 202);
    await response.body?.cancel();
  }
  assert.equal(await (await fetch(gateway.api + "/metrics")).text(), "# TYPE g gauge\ng 5\n");
  assert.equal(JSON.parse(gateway.lines[0]).level, "info", "PAG_LOGFORMAT=json applies");
});

Deno.test("SIGTERM finishes requests in flight, refuses new ones and exits 0", async () => {
  await using gateway = await startGateway(["--logLevel", "debug"]);
  const { hostname, port } = new URL(gateway.api);
  const body = "# TYPE done counter\ndone 1\n";
  const first = await startPush(hostname, Number(port), body);
  const second = await startPush(hostname, Number(port), body);

  const exited = gateway.stop("SIGTERM");
  await gateway.waitForLine("shutting down");
  assert.equal(await first.finish(), "HTTP/1.1 202 Accepted");
  // The second push still holds the gateway open: a new request now is refused, not lost.
  const refused = await fetch(gateway.api + "/metrics", { method: "POST", body });
  assert.equal(refused.status, 503);
  assert.equal(await refused.text(), "the gateway is shutting down; retry elsewhere or later\n");
  const ready = await fetch(gateway.lifecycle + "/ready");
  assert.equal(ready.status, 503, "/ready says not ready while draining");
  await ready.body?.cancel();
  assert.equal(await second.finish(), "HTTP/1.1 202 Accepted");

  const status = await exited;
  assert.equal(status.code, 0);
  const accepted = gateway.lines.filter((l) => l.includes('msg="push accepted"'));
  assert.equal(accepted.length, 2);
  assert.ok(gateway.lines.at(-1)!.includes("msg=stopped"));
  await assert.rejects(fetch(gateway.api + "/metrics"), TypeError, "the listener is closed");
});

Deno.test("SIGINT stops the gateway with exit code 0", async () => {
  await using gateway = await startGateway();
  assert.equal((await fetch(gateway.lifecycle + "/healthy").then((r) => r.json())).alive, true);
  const status = await gateway.stop("SIGINT");
  assert.equal(status.code, 0);
  assert.ok(gateway.lines.some((l) => l.includes("signal=SIGINT")));
});

/**
 * Starts a push over a raw connection and stops before its body. `Expect: 100-continue`
 * makes the server say when its handler starts reading the body, so the request is surely
 * in flight when this resolves. `finish()` sends the body and returns the status line.
 */
async function startPush(hostname: string, port: number, body: string) {
  const connection = await startRawPush(hostname, port, "/metrics/job/inflight", body.length);
  const encoder = new TextEncoder();
  return {
    async finish(): Promise<string> {
      await connection.write(encoder.encode(body));
      let response = "";
      for (let chunk; (chunk = await readSome(connection)) !== "";) response += chunk;
      connection.close();
      return response.split("\r\n")[0];
    },
  };
}
