// Structured logging to stderr, as logfmt text or one JSON object per line (`--logFormat`).
// The only module that writes log lines; everything else receives a Logger.

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Receives each line without its newline; stderr by default. */
  write?: (line: string) => void;
  now?: () => Date;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level);
  const write = options.write ?? writeStderr;
  const now = options.now ?? (() => new Date());
  const off = () => {};
  const log = (level: LogLevel) => (message: string, fields: LogFields = {}) => {
    const time = now().toISOString();
    if (options.format === "json") {
      write(JSON.stringify({ time, level, msg: message, ...fields }));
      return;
    }
    let line = `time=${time} level=${level} msg=${logfmtValue(message)}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) line += ` ${key}=${logfmtValue(String(value))}`;
    }
    write(line);
  };
  // A level below the threshold is a function that does nothing, so that a debug line on a
  // hot path costs a call.
  const at = (level: LogLevel) => LOG_LEVELS.indexOf(level) < threshold ? off : log(level);
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** Quotes a logfmt value when it holds a space, a quote, an equals sign or a control char. */
function logfmtValue(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 32 || c === 34 || c === 61 || c === 92 || c === 127) return JSON.stringify(value);
  }
  return value === "" ? '""' : value;
}
