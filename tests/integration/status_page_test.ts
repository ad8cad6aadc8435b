// The status page in a real browser: headless Chromium (Debian's) loads it from a real gateway
// behind a proxy that serves it under a path prefix, searches the families, reads the refused
// pushes, deletes a target without and with credentials, and runs none of the script that
// senders push into label values, HELP texts and paths. Also: reading the page and the API
// leaves the scrape's kept text alone, and the targets stay within their bytes over a real
// process.
//
// `deno task docs:screenshot` runs this file with `--update-docs-screenshot`, which copies the
// screenshot it takes into docs/status-page.png; otherwise the screenshot stays in a temporary
// folder.

import assert from "node:assert/strict";
// Test-only packages are pinned here and in tests/deno.lock, never in deno.json or deno.lock.
// deno-lint-ignore no-import-prefix
import { type Browser, chromium, type Page } from "npm:playwright-core@1.65.1";
import { type GatewayProcess, startGateway } from "../helpers/gateway_process.ts";
import { selfMetric } from "../helpers/self_metrics.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { waitUntil } from "../helpers/wait.ts";

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

const DOCS_SCREENSHOT = new URL("../../docs/status-page.png", import.meta.url);
const UPDATE_DOCS = Deno.args.includes("--update-docs-screenshot");

const CREDENTIALS = { username: "web", password: "hunter2" };
const WRONG_CREDENTIALS = { username: "web", password: "guess" };
const AUTH = { authorization: "Basic " + btoa("web:hunter2") };

/**
 * A reverse proxy that serves the gateway under `/pag/`, as a site's proxy would: the page's
 * URLs must all be relative for it to work there.
 */
function servePrefixProxy(): Deno.HttpServer<Deno.NetAddr> & {
  url: string;
  /** Where requests go: the gateway's API listener, set once it runs. */
  to: { target: string };
} {
  const to = { target: "" };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    if (!url.pathname.startsWith("/pag/")) {
      return new Response("outside the prefix\n", { status: 404 });
    }
    const headers = new Headers(request.headers);
    headers.delete("host");
    const answer = await fetch(to.target + url.pathname.slice(4) + url.search, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  });
  return Object.assign(server, { url: `http://127.0.0.1:${server.addr.port}/pag/`, to });
}

/** A push with credentials; its status. */
async function push(gateway: GatewayProcess, path: string, body: string): Promise<number> {
  const response = await fetch(gateway.api + path, { method: "POST", headers: AUTH, body });
  await response.body?.cancel();
  return response.status;
}

function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Opens the page and waits for its script to have filled the families. */
async function openStatus(browser: Browser, url: string, credentials?: typeof CREDENTIALS) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 1000 },
    httpCredentials: credentials,
    colorScheme: "light",
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    // The favicon is the browser's own request, not the page's.
    if (m.type() === "error" && !m.location().url.endsWith("/favicon.ico")) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  const requests: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("dialog", (dialog) => dialog.accept());
  await page.goto(url);
  await page.locator("#families-table tbody tr").first().waitFor();
  return { context, page, problems, requests };
}

async function cellTexts(page: Page, table: string): Promise<string[][]> {
  return await page.locator(`${table} tbody tr`).evaluateAll((rows) =>
    rows.map((row) => [...row.querySelectorAll("td")].map((td) => td.textContent ?? ""))
  );
}

Deno.test("Chromium shows the status page under a prefix, searches, deletes with credentials only", async () => {
  const proxy = servePrefixProxy();
  // The page's DELETE carries its origin (the proxy's), so a --cors list must name it.
  await using gateway = await startGateway([
    "--AuthUsers",
    "web=hunter2",
    "--cors",
    `https://shop.example.com,${new URL(proxy.url).origin}`,
  ]);
  proxy.to.target = gateway.api;
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  try {
    assert.equal(
      await push(
        gateway,
        "/metrics/job/checkout/instance/web-1",
        "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n" +
          'http_requests_total{code="200"} 1027\nhttp_requests_total{code="500"} 3\n' +
          "# HELP queue_depth Jobs waiting.\n# TYPE queue_depth gauge\nqueue_depth 7\n",
      ),
      202,
    );
    assert.equal(
      await push(
        gateway,
        "/metrics/job/nightly-import",
        "# HELP rows_imported_total Rows imported by the run.\n# TYPE rows_imported_total counter\n" +
          "rows_imported_total 125000\n# TYPE import_seconds histogram\n" +
          'import_seconds_bucket{le="60"} 0\nimport_seconds_bucket{le="+Inf"} 1\n' +
          "import_seconds_sum 74.2\nimport_seconds_count 1\n",
      ),
      202,
    );
    assert.equal(await push(gateway, "/metrics/job/doomed", "doomed_total 1\n"), 202);
    assert.equal(
      await push(
        gateway,
        "/metrics/job/checkout/instance/web-1",
        "# TYPE http_requests_total gauge\nhttp_requests_total 2\n",
      ),
      400,
    );

    // Chromium asks for credentials when the DELETE is answered 401; Playwright answers its
    // prompt with `httpCredentials`, as a person would, and cancels it when they are refused.
    const { context, page, problems } = await openStatus(browser, proxy.url, WRONG_CREDENTIALS);
    assert.match(
      await page.locator("#build").textContent() ?? "",
      /^version \d+\.\d+\.\d+, commit /,
    );
    assert.equal(
      await page.getByRole("heading", { level: 1 }).textContent(),
      "prom-aggregation-gateway",
    );

    // The flags in force, the password of --AuthUsers masked, here and in the JSON.
    const flags = await cellTexts(page, "#flags");
    assert.deepEqual(flags.find((row) => row[0] === "--AuthUsers"), [
      "--AuthUsers",
      "web=***",
      "flag",
    ]);
    assert.ok(!(await page.content()).includes("hunter2"));
    assert.ok(!(await (await fetch(gateway.api + "/api/v1/status")).text()).includes("hunter2"));

    // The refused push, with its reason and message, and no body.
    const refused = await cellTexts(page, "#rejections-table");
    assert.equal(refused.length, 1);
    assert.deepEqual(refused[0].slice(2), [
      "POST /metrics/job/checkout/instance/web-1",
      "type_conflict (400)",
      'metric "http_requests_total" is a counter in the gateway, the push has it as gauge',
    ]);
    assert.match(refused[0][1], /^127\.0\.0\.1:\d+$/);

    // Search by keyboard: the skip link, then the search field, labelled for screen readers.
    await page.keyboard.press("Tab");
    assert.equal(
      await page.evaluate("document.activeElement?.textContent"),
      "Skip to the families",
    );
    await page.keyboard.press("Enter");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate("document.activeElement?.id"), "families-match");
    const search = page.getByLabel("Search families by name");
    await page.keyboard.type("HTTP_req");
    await page.keyboard.press("Enter");
    await waitUntil(
      "the search shows one family",
      async () => (await cellTexts(page, "#families-table")).length === 1,
    );
    assert.deepEqual(await cellTexts(page, "#families-table"), [
      ["http_requests_total", "counter", "Requests served.", "2"],
    ]);
    assert.equal(await page.locator("#families .range").textContent(), "1–1 of 1");
    await search.fill("");
    await page.keyboard.press("Enter");
    await waitUntil(
      "every family again",
      async () => (await cellTexts(page, "#families-table")).length === 5,
    );

    // The screenshot the docs show.
    await withTempDir(async (dir) => {
      const path = `${dir}/status-page.png`;
      await page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)");
      await page.screenshot({
        path,
        fullPage: true,
        clip: { x: 0, y: 0, width: 1280, height: 1500 },
      });
      const png = await Deno.readFile(path);
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
      if (UPDATE_DOCS) await Deno.copyFile(path, DOCS_SCREENSHOT);
    });

    // A delete with wrong credentials: the gateway refuses it, and the page says so.
    const targets = await cellTexts(page, "#targets-table");
    assert.deepEqual(targets.map((row) => row[0]), [
      'job="doomed"',
      'job="nightly-import"',
      'instance="web-1", job="checkout"',
    ]);
    assert.match(targets[2][4], /^type_conflict: metric "http_requests_total" is a counter/);
    const doomed = page.getByRole("button", { name: 'Delete target job="doomed"' });
    await doomed.click();
    const seen: string[] = [];
    page.on("response", (r) => seen.push(`${r.status()} ${r.request().method()} ${r.url()}`));
    await waitUntil(
      () => `the refusal shows; seen ${seen.join(", ")}; ${problems.join(", ")}`,
      async () => (await page.getByRole("alert").textContent()) !== "",
    );
    assert.equal(
      await page.getByRole("alert").textContent(),
      'The delete of job="doomed" was refused: 401 Unauthorized: valid Basic credentials are required',
    );
    assert.match(await (await fetch(gateway.api + "/metrics")).text(), /doomed_total/);
    assert.deepEqual(problems.filter((p) => !p.includes("401")), []);

    // With credentials (what the browser's prompt gives it), the delete goes through.
    const authorized = await openStatus(browser, proxy.url, CREDENTIALS);
    await authorized.page.getByRole("button", { name: 'Delete target job="doomed"' }).click();
    await waitUntil(
      "the delete is done",
      async () => (await authorized.page.getByRole("status").textContent()) !== "",
    );
    assert.equal(
      await authorized.page.getByRole("status").textContent(),
      'Deleted the series of job="doomed".',
    );
    assert.doesNotMatch(await (await fetch(gateway.api + "/metrics")).text(), /doomed_total/);
    await waitUntil(
      "the target is gone",
      async () => (await cellTexts(authorized.page, "#targets-table")).length === 2,
    );
    assert.equal(
      await authorized.page.evaluate("document.activeElement?.id"),
      "targets-heading",
    );
    assert.deepEqual(authorized.problems, []);
    await context.close();
    await authorized.context.close();
  } finally {
    await browser.close();
    await proxy.shutdown();
  }
});

/** Script that sets a global or loads a URL the test watches, in the forms markup takes. */
const HOSTILE = [
  "<script>window.__pwned=1</script>",
  '"><img src=/pwned-img onerror="window.__pwned=2">',
  "'><svg onload=window.__pwned=3>",
  "</td></tr><iframe src=/pwned-frame></iframe>",
];

Deno.test("Chromium runs none of the script pushed into labels, HELP, paths and messages", async () => {
  await using gateway = await startGateway([
    "--AuthUsers",
    "web=hunter2",
    "--cors",
    "https://shop.example.com",
  ]);
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  try {
    for (const [i, payload] of HOSTILE.entries()) {
      const escaped = payload.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
      // In a grouping value (as base64: a path segment cannot hold "/"), a label value and HELP.
      assert.equal(
        await push(
          gateway,
          `/metrics/job@base64/${base64url(payload)}/instance/i${i}`,
          `# HELP hostile_${i} ${payload}\nhostile_${i}{value="${escaped}"} 1\n`,
        ),
        202,
      );
      // A refused push whose message quotes the payload, to a path that holds it.
      assert.equal(
        await push(
          gateway,
          `/metrics/job/${encodeURIComponent(payload)}`,
          `${payload} 1\n`,
        ),
        400,
      );
    }
    // A path with markup in it as sent, not percent-encoded: refused, and shown as text.
    const connection = await Deno.connect({
      hostname: "127.0.0.1",
      port: Number(new URL(gateway.api).port),
    });
    await connection.write(new TextEncoder().encode(
      "POST /metrics/job/<svg/onload=window.__pwned=5> HTTP/1.1\r\nHost: x\r\n" +
        "Content-Length: 2\r\nConnection: close\r\n\r\nx\n",
    ));
    const answer = new Uint8Array(1024);
    await connection.read(answer);
    connection.close();
    assert.match(new TextDecoder().decode(answer), /^HTTP\/1\.1 401 /);

    const { context, page, problems, requests } = await openStatus(browser, gateway.api + "/");
    await page.locator("#rejections-table tbody tr").nth(4).waitFor();
    const text = await page.locator("main").textContent() ?? "";
    for (const payload of HOSTILE) {
      assert.ok(text.includes(payload), `the page shows ${payload} as text`);
    }
    assert.ok(text.includes("/metrics/job/<svg/onload=window.__pwned=5>"));
    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
    assert.equal(await page.locator("img, svg, iframe").count(), 0);
    assert.equal(await page.locator("script").count(), 1);
    assert.deepEqual(requests.filter((url) => url.includes("pwned")), []);
    // Not even blocked by the policy: nothing of it was ever parsed as markup.
    assert.equal(problems.join("\n"), "");

    // A --cors list without the page's own origin: its DELETE (which carries that origin) is
    // refused, and the page says why.
    await page.getByRole("button", { name: /^Delete target instance="i0"/ }).click();
    await waitUntil(
      "the refusal shows",
      async () => (await page.getByRole("alert").textContent()) !== "",
    );
    assert.equal(
      await page.getByRole("alert").textContent(),
      `The delete of instance="i0", job=${
        JSON.stringify(HOSTILE[0])
      } was refused: 403 Forbidden: ` +
        `origin ${gateway.api} is not allowed (--cors)`,
    );
    assert.deepEqual(problems.filter((p) => !p.includes("403")), []);

    // The JSON API carries the same strings as JSON; opened as a page, it is not HTML.
    const json = await page.goto(gateway.api + "/api/v1/families?match=hostile");
    assert.equal(json?.headers()["content-type"], "application/json; charset=utf-8");
    assert.equal(await page.locator("img, svg, iframe, script").count(), 0);
    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
    await context.close();
  } finally {
    await browser.close();
  }
});

Deno.test("reading the status page and API leaves the scrape's kept text alone", async () => {
  await using gateway = await startGateway();
  const response = await fetch(gateway.api + "/metrics/job/a", {
    method: "POST",
    body: "# TYPE x_total counter\nx_total 1\ny 2\n",
  });
  assert.equal(response.status, 202);
  const scrape = async () => await (await fetch(gateway.api + "/metrics")).text();
  const rendered = () => selfMetric(gateway, "pag_scrape_render_duration_seconds_count");
  const body = await scrape();
  assert.equal(await rendered(), 1);
  for (
    const path of [
      "/",
      "/static/status.js",
      "/static/status.css",
      "/api/v1/status",
      "/api/v1/targets",
      "/api/v1/families",
      "/api/v1/rejections",
    ]
  ) {
    const read = await fetch(gateway.api + path);
    assert.equal(read.status, 200, path);
    await read.body?.cancel();
  }
  assert.equal(await scrape(), body);
  assert.equal(await rendered(), 1, "the second scrape rendered nothing");
});

Deno.test("a sender of ever new paths keeps the targets within their bytes", async () => {
  await using gateway = await startGateway();
  // Each target holds a value of 4000 chars twice (in its key and its labels): about 16 KiB
  // counted, so 4 MiB holds about 256.
  const long = "v".repeat(3990);
  for (let i = 0; i < 1500; i++) {
    const response = await fetch(`${gateway.api}/metrics/job/j/instance/${long}${i}`, {
      method: "POST",
      body: "x 1\n",
    });
    assert.equal(response.status, 202);
    await response.body?.cancel();
  }
  const status = await (await fetch(gateway.api + "/api/v1/status")).json();
  assert.ok(status.targets.bytes <= status.targets.maxBytes, JSON.stringify(status.targets));
  assert.equal(status.targets.maxBytes, 4 * 1024 * 1024);
  assert.ok(
    status.targets.count > 200 && status.targets.count < 300,
    JSON.stringify(status.targets),
  );
  assert.equal(status.targets.count + status.targets.dropped, 1500);
  const newest = await (await fetch(gateway.api + "/api/v1/targets?limit=1")).json();
  assert.equal(newest.targets[0].labels.instance, long + "1499");
});

Deno.test("Chromium pages through the families, and back", async () => {
  await using gateway = await startGateway();
  let body = "";
  for (let i = 0; i < 120; i++) body += `family_${String(i).padStart(3, "0")} ${i}\n`;
  const response = await fetch(gateway.api + "/metrics/job/many", { method: "POST", body });
  assert.equal(response.status, 202);
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  try {
    const { context, page, problems } = await openStatus(browser, gateway.api + "/");
    const range = page.locator("#families .range");
    const next = page.getByRole("navigation", { name: "Pages of families" })
      .getByRole("button", { name: "Next" });
    const previous = page.getByRole("navigation", { name: "Pages of families" })
      .getByRole("button", { name: "Previous" });
    assert.equal(await range.textContent(), "1–50 of 120");
    assert.equal(await previous.isDisabled(), true);
    await next.click();
    await waitUntil("the second page", async () => (await range.textContent()) === "51–100 of 120");
    assert.equal((await cellTexts(page, "#families-table"))[0][0], "family_050");
    // By keyboard: the focus is on Next, and Enter presses it.
    await next.focus();
    await page.keyboard.press("Enter");
    await waitUntil("the last page", async () => (await range.textContent()) === "101–120 of 120");
    assert.equal(await next.isDisabled(), true);
    await previous.click();
    await waitUntil(
      "back to the second",
      async () => (await range.textContent()) === "51–100 of 120",
    );
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await browser.close();
  }
});
