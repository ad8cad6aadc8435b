// Test helper: the logger for code under test whose log lines no test reads.

import { createLogger } from "../../lib/app/log.ts";
import type { Logger } from "../../lib/core/logger.ts";

/** A logger that writes nothing (errors included). */
export function createSilentLogger(): Logger {
  return createLogger({ level: "error", format: "text", write: () => {} });
}
