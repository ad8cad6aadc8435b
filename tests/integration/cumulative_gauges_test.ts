// Cumulative gauges over a real process: a push where pairs of sources feed many aggregate
// series is planned in linear time, and a sample without TYPE joins the gauge the store holds.

import assert from "node:assert/strict";
import { startGateway } from "../helpers/gateway_process.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

const RULES = `rules:
  - match: { job: worker }
    input: cumulative
    sources: [instance]
    gauge: sum
`;

async function post(api: string, path: string, body: string): Promise<number> {
  const response = await fetch(api + path, { method: "POST", body });
  await response.body?.cancel();
  return response.status;
}

async function scrape(api: string): Promise<string> {
  return await (await fetch(api + "/metrics")).text();
}

Deno.test("cumulative gauges: a push of 20k pairs of sources answers well under a second", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    await using gateway = await startGateway(["--rulesFile", `${dir}/rules.yaml`]);
    const lines = ["# TYPE g3 gauge"];
    for (let i = 0; i < 20_000; i++) {
      lines.push(`g3{instance="a",k="${i}"} 1`, `g3{instance="b",k="${i}"} 2`);
    }
    const body = lines.join("\n") + "\n";
    // The first push adds the sources; the second finds them: both were quadratic (4 s each).
    for (let round = 0; round < 2; round++) {
      const started = performance.now();
      assert.equal(await post(gateway.api, "/metrics/job/worker", body), 202);
      const took = performance.now() - started;
      assert.ok(took < 2000, `push ${round + 1} took ${Math.round(took)} ms`);
    }
    const text = await scrape(gateway.api);
    assert.ok(text.includes('g3{job="worker",k="0"} 3\n'));
    assert.ok(text.includes('g3{job="worker",k="19999"} 3\n'));
    assert.equal(text.split("\n").filter((line) => line.endsWith(" 3")).length, 20_000);
  });
});

Deno.test("cumulative gauges: a push without TYPE keeps the gauge's value, pushed again and again", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/rules.yaml`, RULES);
    await using gateway = await startGateway(["--rulesFile", `${dir}/rules.yaml`]);
    // The body without TYPE first read (and made a template) where no gauge is held: planned as
    // untyped then; the template read again later must not bring that plan back.
    for (let round = 0; round < 3; round++) {
      assert.equal(await post(gateway.api, "/metrics/job/worker/instance/a", "gg 5\n"), 202);
    }
    const deleted = await fetch(gateway.api + "/metrics/job/worker", { method: "DELETE" });
    assert.equal(deleted.status, 202);
    assert.equal(await scrape(gateway.api), "");
    // Before the fix the sample without TYPE started a new source, its value counted as an
    // increment: 10.
    for (const body of ["# TYPE gg gauge\ngg 5\n", "gg 5\n", "gg 5\n"]) {
      assert.equal(await post(gateway.api, "/metrics/job/worker/instance/a", body), 202);
    }
    assert.equal(await scrape(gateway.api), '# TYPE gg gauge\ngg{job="worker"} 5\n');
  });
});
