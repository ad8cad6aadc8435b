// The gateway's number reading and writing against Go's, on thousands of seeded inputs:
// parseFloatStrict() against expfmt's parseFloat (Go's strconv.ParseFloat less p, P and _),
// isInt64() against strconv.ParseInt, and formatBound() against expfmt's writeFloat (Go's
// FormatFloat 'g', shortest), run by a small Go program built here with Debian's Go.

import assert from "node:assert/strict";
import { formatBound, isInt64, parseFloatStrict } from "../../lib/core/model.ts";
import { random } from "../helpers/seeded.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

const SOURCE = new URL("./testdata/go_floats/main.go", import.meta.url).pathname;

/** Runs the Go program on `lines`; its answer to each. */
async function askGo(lines: string[]): Promise<string[]> {
  return await withTempDir(async (dir) => {
    const binary = `${dir}/go_floats`;
    const build = await new Deno.Command("go", {
      args: ["build", "-o", binary, SOURCE],
      env: { GO111MODULE: "off", GOCACHE: `${dir}/cache`, GOFLAGS: "" },
      stdin: "null",
    }).output();
    assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));
    const child = new Deno.Command(binary, { stdin: "piped", stdout: "piped" }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(lines.map((line) => line + "\n").join("")));
    await writer.close();
    const output = await child.output();
    assert.equal(output.code, 0);
    return new TextDecoder().decode(output.stdout).trimEnd().split("\n");
  });
}

/** The 16 hex digits of a float64's bits. */
function bitsOf(value: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  return view.getBigUint64(0).toString(16).padStart(16, "0");
}

const PIECES = [
  "0",
  "1",
  "2",
  "5",
  "9",
  "12",
  "00",
  "123456789",
  "9".repeat(25),
  "0".repeat(30),
  ".",
  ".",
  "e",
  "E",
  "e+",
  "e-",
  "+",
  "-",
  "_",
  "x",
  "0x",
  "p",
  "p3",
  "inf",
  "Inf",
  "INF",
  "infinity",
  "nan",
  "NaN",
  "n",
  "i",
  " ",
  "308",
  "309",
  "324",
  "400",
  "1e",
  "1_0",
];

/** Seeded tokens: numbers written many ways, and junk made of their pieces. */
function tokens(seed: number, count: number): string[] {
  const next = random(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    if (next() < 0.4) {
      const value = randomDouble(next);
      out.push(pick([String(value), value.toExponential(), value.toFixed(3), formatBound(value)]));
    } else {
      out.push(Array.from({ length: 1 + Math.floor(next() * 5) }, () => pick(PIECES)).join(""));
    }
  }
  return out.filter((token) => token !== "" && !token.includes(" "));
}

/** Doubles of every kind: from random bits (subnormals, NaN, infinities) and ordinary sizes. */
function randomDouble(next: () => number): number {
  if (next() < 0.3) {
    const view = new DataView(new ArrayBuffer(8));
    view.setUint32(0, Math.floor(next() * 2 ** 32));
    view.setUint32(4, Math.floor(next() * 2 ** 32));
    return view.getFloat64(0);
  }
  const size = 10 ** Math.floor(next() * 30 - 12);
  const value = Math.round(next() * 1e6) / 10 ** Math.floor(next() * 7) * size;
  return next() < 0.2 ? -value : value;
}

Deno.test("parseFloatStrict(), isInt64() and formatBound() answer as Prometheus' Go code", async () => {
  const next = random(16);
  const doubles = [
    0,
    -0,
    1,
    -1,
    1e6,
    1e-5,
    123456789,
    1e-7,
    1e21,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    NaN,
    Infinity,
    -Infinity,
    ...Array.from({ length: 3000 }, () => randomDouble(next)),
  ];
  const floatTokens = tokens(7, 3000);
  const intTokens = [
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "+5",
    "-0",
    "00009223372036854775807",
    ...tokens(8, 1500),
  ];
  const answers = await askGo([
    ...doubles.map((value) => `f ${bitsOf(value)}`),
    ...floatTokens.map((token) => `p ${token}`),
    ...intTokens.map((token) => `i ${token}`),
  ]);
  const failures: string[] = [];
  let at = 0;
  for (const value of doubles) {
    const go = answers[at++];
    if (formatBound(value) !== go) {
      failures.push(`formatBound(${value}): ${formatBound(value)}, Go ${go}`);
    }
  }
  for (const token of floatTokens) {
    const go = answers[at++];
    const ours = parseFloatStrict(token);
    const text = ours === undefined ? "err" : bitsOf(ours);
    // Go's NaN bits differ from JavaScript's; any NaN is a NaN.
    const same = text === go || (ours !== undefined && Number.isNaN(ours) && go !== "err");
    if (!same) failures.push(`parseFloatStrict("${token}"): ${text}, Go ${go}`);
  }
  for (const token of intTokens) {
    const go = answers[at++];
    const ours = isInt64(token) ? "ok" : "err";
    if (ours !== go) failures.push(`isInt64("${token}"): ${ours}, Go ${go}`);
  }
  assert.equal(at, answers.length);
  assert.deepEqual(failures.slice(0, 20), []);
});
