import assert from "node:assert/strict";
import { createLogger, type LoggerOptions } from "../lib/log.ts";

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
