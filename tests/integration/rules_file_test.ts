// The rules file in operation, over real processes: check-rules, an invalid file at start,
// reloads by SIGHUP and POST /-/reload (an invalid one keeps the rules in force), the
// allow-list of `default: reject` and `action: drop` over HTTP, and their self-metrics.

import assert from "node:assert/strict";
import { runCommand, startGateway } from "../helpers/gateway_process.ts";
import { residentBytes } from "../helpers/process_memory.ts";
import { selfMetric } from "../helpers/self_metrics.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";
import { readSome } from "../helpers/raw_http.ts";

const ALLOW_LIST = `# pages may push these, nothing else
rules:
  - match: { metric: "web_vitals_.*" }
  - match: { metric: "debug_.*" }
    action: drop
default: reject
`;

Deno.test("check-rules exits 0 for a valid file, 1 with FILE:LINE: reason otherwise", async (t) => {
  await withTempDir(async (dir) => {
    const cases: [string, string, number, string, string][] = [
      ["a valid file", ALLOW_LIST, 0, "2 rules, default reject: OK\n", ""],
      [
        "a shadowed rule is a warning",
        "rules:\n  - gauge: max\n  - match: { metric: a }\n",
        0,
        "2 rules, default accept: OK\n",
        "FILE:3: warning: this rule never applies: the rule at line 2 has no match and decides every series first\n",
      ],
      [
        "an unknown key",
        "rules:\n  - match: { metric: a }\n    inptu: cumulative\n",
        1,
        "",
        'FILE:3: unknown key "inptu" in a rule (a rule has match, action, input, sources, gauge, staleAfter)\n',
      ],
      [
        "a bad regex",
        "rules:\n  - match:\n      metric: 'a('\n",
        1,
        "",
        'FILE:3: metric "a(" is not a valid regular expression: Invalid regular expression: /^(?:a()$/: Unterminated group\n',
      ],
      [
        "cumulative without sources",
        "rules:\n  - match: { metric: a }\n    input: cumulative\n",
        1,
        "",
        "FILE:3: input: cumulative needs sources, the labels that tell senders apart\n",
      ],
      [
        "a duration that does not parse",
        "rules:\n  - input: cumulative\n    sources: [instance]\n    staleAfter: 10 minutes\n",
        1,
        "",
        'FILE:4: staleAfter "10 minutes" is not a duration such as 90s, 15m or 1h30m\n',
      ],
      [
        "a staleAfter beyond 365d",
        "rules:\n  - input: cumulative\n    sources: [instance]\n    staleAfter: 100000000d\n",
        1,
        "",
        'FILE:4: staleAfter "100000000d" is longer than 365d\n',
      ],
      [
        "a staleAfter of 365d and a fraction of a millisecond",
        "rules:\n  - input: cumulative\n    sources: [instance]\n    staleAfter: 364d23h59m59.9999s\n",
        0,
        "1 rules, default accept: OK\n",
        "",
      ],
      [
        "an unknown default",
        "default: deny\n",
        1,
        "",
        'FILE:1: default must be accept or reject, not "deny"\n',
      ],
      [
        "a label value that is not a string",
        "rules:\n  - match: { code: 200 }\n",
        1,
        "",
        'FILE:2: label "code" must be a string: quote it, as "200"\n',
      ],
      ["YAML that does not parse", "rules: [\n", 1, "", "FILE:2: not valid YAML: "],
    ];
    for (const [what, text, code, stdout, stderr] of cases) {
      await t.step(what, async () => {
        const file = `${dir}/rules.yaml`;
        await Deno.writeTextFile(file, text);
        const result = await runCommand(["check-rules", file]);
        assert.equal(result.code, code, result.stderr);
        assert.equal(result.stdout, stdout === "" ? "" : `${file}: ${stdout}`);
        if (stderr.endsWith(": ")) {
          assert.ok(result.stderr.startsWith(stderr.replace("FILE", file)), result.stderr);
        } else {
          assert.equal(result.stderr, stderr.replaceAll("FILE", file));
        }
      });
    }
    await t.step("a file larger than 1 MiB", async () => {
      const file = `${dir}/large.yaml`;
      await Deno.writeTextFile(file, "#".repeat(1024 * 1024 + 1));
      const result = await runCommand(["check-rules", file]);
      assert.equal(result.code, 1);
      assert.equal(result.stderr, `${file}: larger than the limit of 1048576 bytes\n`);
    });
  });
});

Deno.test("an invalid rules file stops the start with FILE:LINE: reason", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/rules.yaml`;
    await Deno.writeTextFile(file, "rules:\n  - action: explode\n");
    const result = await runCommand(["--rulesFile", file]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `prom-aggregation-gateway: ${file}:2: action must be keep or drop, not "explode"\n`,
    );
  });
});

Deno.test("default: reject refuses a family no rule allows, whole, with 400 naming it", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/rules.yaml`;
    await Deno.writeTextFile(file, ALLOW_LIST);
    await using gateway = await startGateway(["--rulesFile", file]);
    const push = (body: string) =>
      fetch(gateway.api + "/metrics/job/page", { method: "POST", body }).then(async (r) => [
        r.status,
        await r.text(),
      ]);
    assert.deepEqual(await push("web_vitals_lcp_count 1\ndebug_clicks 4\n"), [202, ""]);
    assert.deepEqual(await push("web_vitals_lcp_count 1\nmining_hashes 9\n"), [
      400,
      'metric "mining_hashes" matches no rule of the rules file, whose default is reject\n',
    ]);
    const deltas = await fetch(gateway.api + "/api/v1/deltas", {
      method: "POST",
      body: '{"type":"counter","name":"mining_hashes","method":"inc"}',
    });
    assert.equal(deltas.status, 400);
    await deltas.body?.cancel();
    assert.equal(
      await fetch(gateway.api + "/metrics").then((r) => r.text()),
      '# TYPE web_vitals_lcp_count untyped\nweb_vitals_lcp_count{job="page"} 1\n',
    );
    assert.equal(await selfMetric(gateway, 'pag_rejections_total{reason="rule_rejected"}'), 2);
    assert.equal(await selfMetric(gateway, "pag_rules"), 2);
  });
});

Deno.test("SIGHUP and POST /-/reload reload the rules; an invalid file keeps the old ones", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/rules.yaml`;
    await Deno.writeTextFile(file, ALLOW_LIST);
    await using gateway = await startGateway(["--rulesFile", file]);
    const push = (body: string) =>
      fetch(gateway.api + "/metrics/job/page", { method: "POST", body }).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      });
    assert.equal(await push("other 1\n"), 400);

    await Deno.writeTextFile(file, "rules:\n  - match: { metric: other }\ndefault: reject\n");
    const reload = await fetch(gateway.lifecycle + "/-/reload", { method: "POST" });
    assert.deepEqual([reload.status, await reload.text()], [
      200,
      `rules reloaded: 1 rules from ${file}\n`,
    ]);
    assert.equal(await push("other 1\n"), 202);
    assert.equal(await push("web_vitals_lcp_count 1\n"), 400);

    await Deno.writeTextFile(file, "rules:\n  - match: { metric: other }\n    bogus: 1\n");
    const refused = await fetch(gateway.lifecycle + "/-/reload", { method: "POST" });
    assert.deepEqual([refused.status, await refused.text()], [
      400,
      `${file}:3: unknown key "bogus" in a rule (a rule has match, action, input, sources, gauge, staleAfter)\n`,
    ]);
    assert.equal(await push("other 1\n"), 202); // the rules in force are kept
    assert.equal(await selfMetric(gateway, "pag_rules_last_reload_successful"), 0);
    assert.equal(await selfMetric(gateway, "pag_rules_reload_failures_total"), 1);

    const get = await fetch(gateway.lifecycle + "/-/reload");
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("Allow"), "POST, PUT");
    await get.body?.cancel();

    await Deno.writeTextFile(file, "rules: []\n"); // no rules, default accept
    gateway.child.kill("SIGHUP");
    await waitUntil(
      "SIGHUP to reload the rules",
      async () => await selfMetric(gateway, "pag_rules_last_reload_successful") === 1,
    );
    assert.equal(gateway.lines.filter((line) => line.includes("rules reloaded")).length, 2);
    assert.equal(await push("web_vitals_lcp_count 1\n"), 202);
    assert.equal(await selfMetric(gateway, "pag_rules"), 0);

    // A burst of reloads reads the file at most twice: one running, one for all that wait. The
    // 20 connections are open first and the requests then written at once, so that all of them
    // reach the gateway while the first reload reads the file, however loaded the machine is.
    const before = gateway.lines.filter((line) => line.includes("rules reloaded")).length;
    const { hostname, port } = new URL(gateway.lifecycle);
    const connections = await Promise.all(
      Array.from({ length: 20 }, () => Deno.connect({ hostname, port: Number(port) })),
    );
    const request = new TextEncoder().encode(
      `POST /-/reload HTTP/1.1\r\nHost: ${hostname}\r\nContent-Length: 0\r\n` +
        "Connection: close\r\n\r\n",
    );
    await Promise.all(connections.map((connection) => connection.write(request)));
    const burst = await Promise.all(connections.map(async (connection) => {
      const answer = await readSome(connection);
      connection.close();
      return answer.split(" ")[1];
    }));
    assert.deepEqual(burst, Array(20).fill("200"));
    await waitUntil(
      "the burst's reloads to be logged",
      () => gateway.lines.filter((line) => line.includes("rules reloaded")).length > before,
    );
    assert.ok(gateway.lines.filter((line) => line.includes("rules reloaded")).length <= before + 2);
  });
});

Deno.test("a sender inventing source labels is refused at --maxSeries, whole, and counted", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/rules.yaml`;
    await Deno.writeTextFile(file, "rules:\n  - input: cumulative\n    sources: [instance]\n");
    await using gateway = await startGateway(["--rulesFile", file, "--maxSeries", "10"]);
    const push = (instance: number) =>
      fetch(gateway.api + `/metrics/job/page/instance/i${instance}`, {
        method: "POST",
        body: "# TYPE hits_total counter\nhits_total 1\n",
      }).then(async (r) => [r.status, await r.text()]);
    // One aggregate series and nine sources fill the ten.
    for (let i = 0; i < 9; i++) assert.deepEqual(await push(i), [202, ""]);
    assert.deepEqual(await push(9), [
      429,
      "line 2: the push would add at least 1 series to the 10 the gateway holds, more than its limit of 10 (--maxSeries)\n",
    ]);
    assert.deepEqual(await push(0), [202, ""]); // a source held pushes on
    assert.equal(await selfMetric(gateway, "pag_sources"), 9);
    assert.equal(await selfMetric(gateway, 'pag_rejections_total{reason="series_limit"}'), 1);
    assert.equal(
      await fetch(gateway.api + "/metrics").then((r) => r.text()),
      '# TYPE hits_total counter\nhits_total{job="page"} 9\n',
    );
  });
});

Deno.test("200 refused pushes of 1 MB family names leave the rules' name cache bounded", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/rules.yaml`;
    await Deno.writeTextFile(file, ALLOW_LIST);
    // Names this long are refused before the rules by default (--maxLabelValueLength, below):
    // raised here, so that they reach the rules and their cache.
    await using gateway = await startGateway([
      "--rulesFile",
      file,
      "--maxLabelValueLength",
      "2000000",
    ]);
    const MiB = 1024 * 1024;
    const filler = "a".repeat(1_000_000);
    const push = async (i: number) => {
      const response = await fetch(gateway.api + "/metrics/job/page", {
        method: "POST",
        body: `x${i}_${filler} 1\n`,
      });
      const text = await response.text();
      assert.equal(response.status, 400, text);
      assert.ok(text.startsWith(`metric "x${i}_aaaa`), text.slice(0, 200));
    };
    for (let i = 0; i < 20; i++) await push(i); // the heap grows to its working size first
    const before = await residentBytes(gateway.child.pid);
    for (let i = 20; i < 200; i++) await push(i);
    const after = await residentBytes(gateway.child.pid);
    console.log(`resident ${(before / MiB).toFixed(0)} MiB, then ${(after / MiB).toFixed(0)} MiB`);
    assert.ok(after - before < 64 * MiB, `grew ${after - before} bytes`);
    assert.equal(await selfMetric(gateway, 'pag_rejections_total{reason="rule_rejected"}'), 200);
  });
});

Deno.test("a family name past --maxLabelValueLength is refused before any rule is tried", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/rules.yaml`;
    // A regex whose time grows with the square of the name's length: the limit bounds it.
    await Deno.writeTextFile(file, 'rules:\n  - match: { metric: ".*_.*_seconds" }\n');
    await using gateway = await startGateway(["--rulesFile", file]);
    const response = await fetch(gateway.api + "/metrics/job/x", {
      method: "POST",
      body: "a_".repeat(32_000) + "x 1\n",
    });
    assert.equal(response.status, 400);
    assert.equal(
      await response.text(),
      `line 1: metric name "${
        "a_".repeat(32)
      }…" is 64001 bytes long, more than the limit of 4096 (--maxLabelValueLength)\n`,
    );
    assert.equal(await selfMetric(gateway, 'pag_rejections_total{reason="label_limit"}'), 1);
  });
});
