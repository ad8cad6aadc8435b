// The gateway against Prometheus' own text parser, body by body. Each body (the grammar's
// corners, generated valid bodies, mutations of them) is pushed to a real gateway and to
// Debian's Pushgateway, which parses with expfmt and checks what it parsed with client_golang's
// registry; both verdicts, and when both accept, the families, series and values read back,
// must agree. Where they differ on purpose, the difference is listed with its reason in
// testdata/text_differences.json, which docs/input.md mirrors; any other difference fails the
// test with the smallest body that still shows it.
//
// Why the Pushgateway and not `promtool check metrics`: promtool answers only a verdict, one
// process per body, and adds lint rules; the Pushgateway is one long-lived process that answers
// with the values and the `le` spelling as Prometheus' exposition writes them, and runs the
// checks a scrape of it would (the same series twice). Its one rule that is not about reading,
// "pushed metrics must not have timestamps", is listed like any other difference.

import assert from "node:assert/strict";
import { startGateway } from "../helpers/gateway_process.ts";
import { startPushgateway } from "../helpers/pushgateway_process.ts";
import { CORNER_BODIES, generatedBodies } from "../helpers/text_bodies.ts";

/** A difference the gateway makes on purpose, as testdata/text_differences.json lists it. */
export interface AllowedDifference {
  id: string;
  /** "verdict": one side refuses the body; "value": both accept it and read it differently. */
  kind: "verdict" | "value";
  /** When given: a regular expression the body (as UTF-8) must match, anchored at both ends. */
  body?: string;
  /**
   * Verdict: "accepted", or a regular expression of the gateway's refusal; value: one of the
   * gateway's series as `name{labels} value` (or `# TYPE name type`, `# HELP name text`, or
   * "(none)"). Anchored at both ends.
   */
  gateway: string;
  /** The same for the Pushgateway. */
  prometheus: string;
  /** Why the gateway reads it so; docs/input.md says the same. */
  reason: string;
}

export const DIFFERENCES_FILE = new URL("testdata/text_differences.json", import.meta.url);
/** `DIFF_SEED` and `DIFF_BODIES` explore further than the fixed seed and count. */
const SEED = Number(Deno.env.get("DIFF_SEED") ?? 16);
const GENERATED = Number(Deno.env.get("DIFF_BODIES") ?? 300);
const GROUP = "/metrics/job/d";

/** How one side answered a body. */
interface Outcome {
  /** The refusal's message; undefined when the body was accepted. */
  refusal: string | undefined;
  /** When accepted: the families and series read back, as sorted lines. */
  lines: string[];
}

/** A disagreement between the two sides on one body. */
interface Disagreement {
  kind: "verdict" | "value";
  gateway: string;
  prometheus: string;
}

// The body as it came: a byte-order mark is kept, invalid UTF-8 becomes U+FFFD.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
}

/** A series' canonical id: the name and the labels but `job`, `instance` and empty ones. */
function seriesId(name: string, labels: [string, string][]): string {
  const kept = labels.filter(([n, v]) => n !== "job" && n !== "instance" && v !== "")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return kept.length === 0
    ? name
    : `${name}{${kept.map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(",")}}`;
}

/** A value as a number would be written back, so that `1e3` and `1000` compare equal. */
function canonValue(text: string): string {
  const number = /^[+-]?inf$/i.test(text)
    ? (text.startsWith("-") ? -Infinity : Infinity)
    : Number(text);
  if (Number.isNaN(number)) return "NaN";
  return Object.is(number, -0) ? "0" : String(number);
}

/** The gateway's scrape as canonical lines, the grouping's series only. */
function gatewayLines(scrape: string): string[] {
  const lines: string[] = [];
  for (const line of scrape.split("\n")) {
    if (line === "") continue;
    const head = /^# (HELP|TYPE) (\S+) ?(.*)$/s.exec(line);
    if (head !== null) {
      const [, keyword, name, text] = head;
      if (keyword === "TYPE") lines.push(`# TYPE ${name} ${text}`);
      else if (text !== "") lines.push(`# HELP ${name} ${text}`);
      continue;
    }
    const sample = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/s.exec(line); // s: a value may hold a CR
    assert.ok(sample !== null, `an unexpected scrape line: ${line}`);
    const [, name, inside = "", value] = sample;
    const labels = [...inside.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, n, v]): [string, string] => [n, unescapeLabel(v)]);
    lines.push(`${seriesId(name, labels)} ${canonValue(value)}`);
  }
  return lines.sort();
}

interface PushgatewayFamily {
  type: string;
  help?: string;
  metrics: {
    labels: Record<string, string>;
    value?: string;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

/** The Pushgateway's group as canonical lines, as {@linkcode gatewayLines} makes them. */
function pushgatewayLines(group: Record<string, PushgatewayFamily | unknown>): string[] {
  const lines: string[] = [];
  for (const [name, entry] of Object.entries(group)) {
    if (name === "labels" || name === "last_push_successful") continue;
    if (name === "push_time_seconds" || name === "push_failure_time_seconds") continue;
    const family = entry as PushgatewayFamily;
    if (family.metrics.length === 0) continue;
    lines.push(`# TYPE ${name} ${family.type.toLowerCase()}`);
    const help = family.help?.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
    if (help) lines.push(`# HELP ${name} ${help}`);
    for (const metric of family.metrics) {
      const labels = Object.entries(metric.labels);
      if (family.type === "HISTOGRAM" || family.type === "SUMMARY") {
        if (family.type === "HISTOGRAM") {
          for (const [le, count] of Object.entries(metric.buckets ?? {})) {
            lines.push(
              `${seriesId(`${name}_bucket`, [...labels, ["le", le]])} ${canonValue(count)}`,
            );
          }
        }
        lines.push(`${seriesId(`${name}_sum`, labels)} ${canonValue(metric.sum ?? "0")}`);
        lines.push(`${seriesId(`${name}_count`, labels)} ${canonValue(metric.count ?? "0")}`);
      } else {
        lines.push(`${seriesId(name, labels)} ${canonValue(metric.value ?? "")}`);
      }
    }
  }
  return lines.sort();
}

/** Pushes `body` to the gateway's group, reads the group back and deletes it. */
async function gatewayOutcome(api: string, body: Uint8Array<ArrayBuffer>): Promise<Outcome> {
  const response = await fetch(api + GROUP, { method: "POST", body });
  const text = (await response.text()).trim();
  if (response.status !== 202) {
    assert.equal(response.status, 400, `the gateway answered ${response.status}: ${text}`);
    return { refusal: text, lines: [] };
  }
  const scrape = await (await fetch(api + "/metrics")).text();
  const deleted = await fetch(api + GROUP, { method: "DELETE" });
  await deleted.body?.cancel();
  return { refusal: undefined, lines: gatewayLines(scrape) };
}

/** Pushes `body` to the Pushgateway's group (PUT: it replaces the group), reads and deletes it. */
async function pushgatewayOutcome(url: string, body: Uint8Array<ArrayBuffer>): Promise<Outcome> {
  const response = await fetch(url + GROUP, { method: "PUT", body });
  const text = (await response.text()).trim();
  if (response.status !== 200 && response.status !== 202) {
    assert.equal(response.status, 400, `the Pushgateway answered ${response.status}: ${text}`);
    return { refusal: text, lines: [] };
  }
  const { data } = await (await fetch(url + "/api/v1/metrics")).json();
  const group = (data as Record<string, unknown>[]).find((g) =>
    (g.labels as Record<string, string>).job === "d"
  );
  const deleted = await fetch(url + GROUP, { method: "DELETE" });
  await deleted.body?.cancel();
  return { refusal: undefined, lines: group === undefined ? [] : pushgatewayLines(group) };
}

/**
 * The differences between the two outcomes, none if they agree: the verdicts, or each line that
 * only one side read, paired in sorted order with the other side's (or "(none)").
 */
function compare(gateway: Outcome, prometheus: Outcome): Disagreement[] {
  if ((gateway.refusal === undefined) !== (prometheus.refusal === undefined)) {
    return [{
      kind: "verdict",
      gateway: gateway.refusal ?? "accepted",
      prometheus: prometheus.refusal ?? "accepted",
    }];
  }
  if (gateway.refusal !== undefined) return []; // both refuse, each for its reasons
  const ours = new Set(gateway.lines);
  const theirs = new Set(prometheus.lines);
  const onlyOurs = gateway.lines.filter((line) => !theirs.has(line));
  const onlyTheirs = prometheus.lines.filter((line) => !ours.has(line));
  return Array.from({ length: Math.max(onlyOurs.length, onlyTheirs.length) }, (_, i) => ({
    kind: "value",
    gateway: onlyOurs[i] ?? "(none)",
    prometheus: onlyTheirs[i] ?? "(none)",
  }));
}

function anchored(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`, "s");
}

/** The allow-list entry that explains `difference`, if any. */
function allowedBy(
  body: Uint8Array,
  difference: Disagreement,
  allowed: readonly AllowedDifference[],
): AllowedDifference | undefined {
  const text = decoder.decode(body);
  return allowed.find((entry) =>
    entry.kind === difference.kind && anchored(entry.gateway).test(difference.gateway) &&
    anchored(entry.prometheus).test(difference.prometheus) &&
    (entry.body === undefined || anchored(entry.body).test(text))
  );
}

export function readDifferences(): AllowedDifference[] {
  return JSON.parse(Deno.readTextFileSync(DIFFERENCES_FILE));
}

Deno.test("the gateway reads text bodies as Prometheus' own parser does, but where listed", async () => {
  const allowed = readDifferences();
  await using gateway = await startGateway();
  await using pushgateway = await startPushgateway();
  const encoder = new TextEncoder();
  const bodies = [
    ...CORNER_BODIES.map((body) =>
      typeof body === "string" ? encoder.encode(body) : Uint8Array.from(body)
    ),
    ...generatedBodies(SEED, GENERATED).map((body) => encoder.encode(body)),
  ];

  const differenceOf = async (body: Uint8Array<ArrayBuffer>) =>
    compare(
      await gatewayOutcome(gateway.api, body),
      await pushgatewayOutcome(pushgateway.url, body),
    );
  /** Whether `body` shows a difference that no entry explains. */
  const unexplained = async (body: Uint8Array<ArrayBuffer>) =>
    (await differenceOf(body)).some((d) => allowedBy(body, d, allowed) === undefined);

  const used = new Set<string>();
  const failures: string[] = [];
  let agreed = 0;
  for (const body of bodies) {
    const differences = await differenceOf(body);
    if (differences.length === 0) agreed++;
    const entries = differences.map((d) => allowedBy(body, d, allowed));
    for (const entry of entries) if (entry !== undefined) used.add(entry.id);
    if (!entries.includes(undefined)) continue;
    const minimal = await shrink(body, unexplained);
    const shown = (await differenceOf(minimal)).find((d) =>
      allowedBy(minimal, d, allowed) === undefined
    );
    failures.push(
      `body ${JSON.stringify(decoder.decode(minimal))} (shrunk from ${body.length} bytes):\n` +
        `  gateway:    ${shown?.gateway}\n  Prometheus: ${shown?.prometheus} (${shown?.kind})`,
    );
  }
  const report = Deno.env.get("DIFF_REPORT");
  if (report) Deno.writeTextFileSync(report, JSON.stringify(failures, null, 1));
  assert.deepEqual(
    failures,
    [],
    `${failures.length} new differences from Prometheus' parser; fix each, or list it with its reason in tests/integration/testdata/text_differences.json and docs/input.md`,
  );
  // An entry no body shows any more is stale: the difference is gone, so is its entry.
  assert.deepEqual(
    allowed.map((entry) => entry.id).filter((id) => !used.has(id)),
    [],
    "allow-list entries that no body shows",
  );
  // Most bodies agree: a test that compares nothing would pass too.
  assert.ok(agreed > bodies.length / 3, `only ${agreed} of ${bodies.length} bodies agree`);
});

/**
 * The smallest body found that still has `property`: whole lines taken out, then single chars,
 * until no removal keeps it (bounded: a few hundred tries).
 */
async function shrink(
  body: Uint8Array<ArrayBuffer>,
  property: (body: Uint8Array<ArrayBuffer>) => Promise<boolean>,
): Promise<Uint8Array<ArrayBuffer>> {
  let best = body;
  let tries = 0;
  const attempt = async (candidate: Uint8Array<ArrayBuffer>) => {
    tries++;
    if (await property(candidate)) {
      best = candidate;
      return true;
    }
    return false;
  };
  for (let progress = true; progress && tries < 400;) {
    progress = false;
    // Lines first: each line (with its line feed) taken out in turn.
    const starts = [0];
    best.forEach((byte, i) => byte === 10 && i + 1 < best.length && starts.push(i + 1));
    for (let l = starts.length - 1; l >= 0 && tries < 400; l--) {
      const end = l + 1 < starts.length ? starts[l + 1] : best.length;
      const candidate = Uint8Array.from([...best.subarray(0, starts[l]), ...best.subarray(end)]);
      if (await attempt(candidate)) progress = true;
    }
    for (let i = best.length - 1; i >= 0 && tries < 400; i--) {
      const candidate = Uint8Array.from([...best.subarray(0, i), ...best.subarray(i + 1)]);
      if (await attempt(candidate)) progress = true;
    }
  }
  return best;
}
