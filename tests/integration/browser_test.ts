// A real browser: headless Chromium (Debian's) loads a page from one origin that pushes to the
// gateway on another, through CORS, as a site's pages would.

import assert from "node:assert/strict";
// Test-only packages are pinned here and in tests/deno.lock, never in deno.json or deno.lock:
// Deno downloads every npm package of those at each start of the gateway.
// deno-lint-ignore no-import-prefix
import { chromium } from "npm:playwright-core@1.65.1";
import { startGateway } from "../helpers/gateway_process.ts";

/** The page's own script: what a site would ship to report increments. */
const PAGE = `<!doctype html>
<title>shop</title>
<script>
  // A text/plain POST is a "simple" request: no preflight.
  async function pushClick(gateway) {
    const response = await fetch(gateway + "/metrics/job/browser", {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: 'clicks_total{button="buy"} 1\\n',
    });
    return response.status;
  }
  // A PUT with Authorization needs the CORS preflight first.
  async function pushWithAuth(gateway, credentials) {
    const response = await fetch(gateway + "/metrics/job/browser", {
      method: "PUT",
      headers: { "Authorization": "Basic " + btoa(credentials), "Content-Type": "text/plain" },
      body: "# TYPE page_views_total counter\\npage_views_total 2\\n",
    });
    return response.status;
  }
  // The result, or the error the browser gives when CORS blocks the request.
  async function attempt(push, ...args) {
    try {
      return await push(...args);
    } catch (error) {
      return error.name;
    }
  }
</script>`;

/** Serves the page on its own origin. */
function servePage(): Deno.HttpServer<Deno.NetAddr> & { origin: string } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(PAGE, { headers: { "Content-Type": "text/html; charset=utf-8" } }),
  );
  return Object.assign(server, { origin: `http://127.0.0.1:${server.addr.port}` });
}

/** Flags for Chromium on a machine with no network beyond loopback, running as root. */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

Deno.test("Chromium pushes across origins through CORS, and a foreign origin is refused", async () => {
  const shop = servePage();
  const foreign = servePage();
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  try {
    await using open = await startGateway(["--cors", shop.origin]);
    await using guarded = await startGateway(["--cors", shop.origin, "--AuthUsers", "web=secret"]);

    const page = await browser.newPage();
    await page.goto(shop.origin);
    assert.equal(await page.evaluate("attempt(pushClick, " + JSON.stringify(open.api) + ")"), 202);
    assert.equal(await page.evaluate(`attempt(pushClick, ${JSON.stringify(open.api)})`), 202);
    assert.equal(
      await page.evaluate(`attempt(pushWithAuth, ${JSON.stringify(open.api)}, "any:thing")`),
      202,
    );
    assert.equal(
      await (await fetch(open.api + "/metrics")).text(),
      '# TYPE clicks_total untyped\nclicks_total{button="buy",job="browser"} 2\n' +
        '# TYPE page_views_total counter\npage_views_total{job="browser"} 2\n',
    );

    // With --AuthUsers the preflight passes and the credentials decide.
    assert.equal(
      await page.evaluate(`attempt(pushWithAuth, ${JSON.stringify(guarded.api)}, "web:wrong")`),
      401,
    );
    assert.equal(
      await page.evaluate(`attempt(pushWithAuth, ${JSON.stringify(guarded.api)}, "web:secret")`),
      202,
    );
    assert.equal(
      await (await fetch(guarded.api + "/metrics")).text(),
      '# TYPE page_views_total counter\npage_views_total{job="browser"} 2\n',
    );

    // A page from an origin --cors does not list: the browser's pushes fail, nothing is stored.
    const stranger = await browser.newPage();
    await stranger.goto(foreign.origin);
    assert.equal(
      await stranger.evaluate(`attempt(pushClick, ${JSON.stringify(guarded.api)})`),
      "TypeError",
    );
    assert.equal(
      await stranger.evaluate(
        `attempt(pushWithAuth, ${JSON.stringify(guarded.api)}, "web:secret")`,
      ),
      "TypeError",
    );
    assert.equal(
      await (await fetch(guarded.api + "/metrics")).text(),
      '# TYPE page_views_total counter\npage_views_total{job="browser"} 2\n',
    );
    const own = await (await fetch(guarded.lifecycle + "/metrics")).text();
    assert.match(own, /^pag_rejections_total\{reason="origin_not_allowed"\} 2$/m);
  } finally {
    await browser.close();
    await shop.shutdown();
    await foreign.shutdown();
  }
});
