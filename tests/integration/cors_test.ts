// CORS over a real process, as curl sends it: only what browsers push to (and the scrape, as the
// Go gateway did) answers other origins' pages; the status page and its JSON API never do, so no
// page elsewhere reads the flags, targets or refused senders through its visitors' browsers.

import assert from "node:assert/strict";
import { startGateway } from "../helpers/gateway_process.ts";

/** curl's answer: status, and headers by lower-case name. */
async function curl(args: string[]): Promise<{ status: number; headers: Map<string, string> }> {
  const output = await new Deno.Command("curl", {
    args: ["-sS", "-o", "/dev/null", "-D", "-", ...args],
  }).output();
  assert.equal(new TextDecoder().decode(output.stderr), "");
  const lines = new TextDecoder().decode(output.stdout).split("\r\n");
  const status = Number(lines[0].split(" ")[1]);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status, headers };
}

const ORIGIN = "https://any.example";

Deno.test("--cors * answers pushes, deletes, the scrape and their preflights, never the status page", async () => {
  await using gw = await startGateway([]);
  const origin = ["-H", `Origin: ${ORIGIN}`];
  const allowed: [string, string[]][] = [
    ["push", ["--data-binary", "a 1\n", `${gw.api}/metrics/job/web`]],
    ["deltas", ["--data-binary", '{"type":"counter","name":"d","method":"inc"}', `${gw.api}/`]],
    ["delete", ["-X", "DELETE", `${gw.api}/metrics/job/web`]],
    ["scrape", [`${gw.api}/metrics`]],
    ["push preflight", [
      "-X",
      "OPTIONS",
      "-H",
      "Access-Control-Request-Method: PUT",
      `${gw.api}/metrics/job/web`,
    ]],
    ["delete preflight", [
      "-X",
      "OPTIONS",
      "-H",
      "Access-Control-Request-Method: DELETE",
      `${gw.api}/metrics/job/web`,
    ]],
  ];
  for (const [what, args] of allowed) {
    const { status, headers } = await curl([...origin, ...args]);
    assert.ok(status < 300, `${what}: ${status}`);
    assert.equal(headers.get("access-control-allow-origin"), "*", what);
  }

  const refused: [string, string[]][] = [
    ["status page", [`${gw.api}/`]],
    ["script", [`${gw.api}/static/status.js`]],
    ...["status", "targets", "families", "rejections"].map((
      name,
    ): [string, string[]] => [name, [`${gw.api}/api/v1/${name}`]]),
    ["status preflight", [
      "-X",
      "OPTIONS",
      "-H",
      "Access-Control-Request-Method: GET",
      `${gw.api}/api/v1/status`,
    ]],
    ["page preflight", ["-X", "OPTIONS", "-H", "Access-Control-Request-Method: GET", `${gw.api}/`]],
    ["not found", [`${gw.api}/nope`]],
  ];
  for (const [what, args] of refused) {
    const { status, headers } = await curl([...origin, ...args]);
    assert.ok(status === 200 || status === 204 || status === 404, `${what}: ${status}`);
    assert.equal(headers.get("access-control-allow-origin"), undefined, what);
    assert.equal(headers.get("access-control-allow-methods"), undefined, what);
  }
});

Deno.test("--cors with a list: the status API gets no CORS headers even for a listed origin", async () => {
  await using gw = await startGateway(["--cors", ORIGIN]);
  const listed = await curl(["-H", `Origin: ${ORIGIN}`, `${gw.api}/api/v1/targets`]);
  assert.equal(listed.status, 200);
  assert.equal(listed.headers.get("access-control-allow-origin"), undefined);
  const pushed = await curl([
    "-H",
    `Origin: ${ORIGIN}`,
    "--data-binary",
    "a 1\n",
    `${gw.api}/metrics/job/web`,
  ]);
  assert.equal(pushed.status, 202);
  assert.equal(pushed.headers.get("access-control-allow-origin"), ORIGIN);
  assert.equal(pushed.headers.get("vary"), "Origin");
  // An origin not listed is refused on every route, as before.
  const foreign = await curl(["-H", "Origin: https://evil.example", `${gw.api}/api/v1/status`]);
  assert.equal(foreign.status, 403);
});
