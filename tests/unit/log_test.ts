import assert from "node:assert/strict";
import {
  boundLogValue,
  createLogger,
  LOG_VALUE_BYTES,
  type LoggerOptions,
} from "../../lib/app/log.ts";

function capture(
  options: Omit<LoggerOptions, "write" | "now">,
): [ReturnType<typeof createLogger>, string[]] {
  const lines: string[] = [];
  const logger = createLogger({
    ...options,
    write: (line) => lines.push(line),
    now: () => new Date("2026-01-02T03:04:05.000Z"),
  });
  return [logger, lines];
}

Deno.test("createLogger() writes logfmt text, quoting values that need it", () => {
  const [logger, lines] = capture({ level: "info", format: "text" });
  logger.info("listening", { address: "[::]:8080", note: 'a "b"', empty: "", skipped: undefined });
  assert.deepEqual(lines, [
    'time=2026-01-02T03:04:05.000Z level=info msg=listening address=[::]:8080 note="a \\"b\\"" empty=""',
  ]);
});

Deno.test("createLogger() writes one JSON object per line", () => {
  const [logger, lines] = capture({ level: "info", format: "json" });
  logger.warn("slow push", { ms: 12 });
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "2026-01-02T03:04:05.000Z",
    level: "warn",
    msg: "slow push",
    ms: 12,
  });
});

Deno.test("createLogger() drops lines below the level", () => {
  const [logger, lines] = capture({ level: "warn", format: "text" });
  logger.debug("a");
  logger.info("b");
  logger.warn("c");
  logger.error("d");
  assert.deepEqual(lines.map((l) => l.split(" ")[1]), ["level=warn", "level=error"]);
});

Deno.test("boundLogValue() cuts a long value to LOG_VALUE_BYTES, noting what it left out", () => {
  // [value, what the bounded value starts with, bytes left out]
  const cases: [string, string, number][] = [
    ["x".repeat(60_000), "x".repeat(LOG_VALUE_BYTES - 32), 60_000 - (LOG_VALUE_BYTES - 32)],
    // Escapes count at their written size: \" is two bytes, a control char six.
    ['"'.repeat(5000), '"'.repeat((LOG_VALUE_BYTES - 32) / 2), 5000 - (LOG_VALUE_BYTES - 32) / 2],
    ["\u0001".repeat(5000), "\u0001".repeat(165), 5000 - 165],
    // Four bytes of UTF-8 per pair of surrogates, never split: 248 fit, the rest is left out.
    ["\u{1f600}".repeat(1000), "\u{1f600}".repeat(248), 4 * (1000 - 248)],
  ];
  for (const [value, kept, left] of cases) {
    const bounded = boundLogValue(value);
    assert.equal(bounded, `${kept}…(${left} more bytes)`);
    assert.ok(JSON.stringify(bounded).length <= LOG_VALUE_BYTES);
  }
  // What fits is left as it is, whatever it holds.
  for (const value of ["", "short", "x".repeat(LOG_VALUE_BYTES), "é".repeat(LOG_VALUE_BYTES / 2)]) {
    assert.equal(boundLogValue(value), value);
  }
});

Deno.test("createLogger() bounds the message and every value in both formats", () => {
  const huge = 'invalid metric name "' + "a-".repeat(30_000) + '"';
  for (const format of ["text", "json"] as const) {
    const [logger, lines] = capture({ level: "info", format });
    logger.warn(huge, { error: huge, sender: "127.0.0.1:5000", size: 60_000 });
    assert.equal(lines.length, 1);
    assert.ok(lines[0].length < 2 * LOG_VALUE_BYTES + 200, `${lines[0].length} chars`);
    // 991 of the 60022 chars kept: 992 bytes, the first quote counting two.
    assert.ok(lines[0].includes("…(59031 more bytes)"), lines[0].slice(-100));
    assert.ok(lines[0].includes("127.0.0.1:5000") && lines[0].includes("60000"));
  }
});
