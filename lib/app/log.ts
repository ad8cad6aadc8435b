// Structured logging to stderr, as logfmt text or one JSON object per line (`--logFormat`).
// The only module that writes log lines; everything else receives a Logger. It bounds every
// message and value, since errors quote what senders sent.

import type { LogFields, Logger } from "../core/logger.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Receives each line without its newline; stderr by default. */
  write?: (line: string) => void;
  now?: () => Date;
}

/**
 * The most bytes a log message or field value takes in a line, escapes included: a longer one
 * is cut and ends with {@linkcode boundLogValue}'s note of what was left out. Errors quote what
 * senders sent (a 60 KB datagram, a label value), and no sender may write long log lines.
 */
export const LOG_VALUE_BYTES = 1024;
/** Room kept for the note, `…(1234567890 more bytes)`. */
const NOTE_BYTES = 32;

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  try {
    while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
  } catch {
    // A closed stderr or one past `ulimit -f`: the line is lost, but a logger that threw
    // would end whatever request or timer logged it.
  }
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level);
  const write = options.write ?? writeStderr;
  const now = options.now ?? (() => new Date());
  const off = () => {};
  const log = (level: LogLevel) => (message: string, fields: LogFields = {}) => {
    const time = now().toISOString();
    if (options.format === "json") {
      const bounded: LogFields = {};
      for (const [key, value] of Object.entries(fields)) {
        bounded[key] = typeof value === "string" ? boundLogValue(value) : value;
      }
      write(JSON.stringify({ time, level, msg: boundLogValue(message), ...bounded }));
      return;
    }
    let line = `time=${time} level=${level} msg=${logfmtValue(boundLogValue(message))}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) line += ` ${key}=${logfmtValue(boundLogValue(String(value)))}`;
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

/**
 * `value` if it takes at most {@linkcode LOG_VALUE_BYTES} bytes once escaped; otherwise as much
 * of it as fits with room for a note of how many bytes (of UTF-8, before escaping) were left
 * out: `…(59310 more bytes)`. A pair of surrogates is never split.
 */
export function boundLogValue(value: string): string {
  // Even if every char took the most an escape takes, six bytes, it would fit.
  if (value.length * 6 <= LOG_VALUE_BYTES) return value;
  let bytes = 0;
  let cut = -1;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    let size: number;
    if (c < 0x20) size = 6; // \u0001, as JSON.stringify writes most control chars
    else if (c === 0x22 || c === 0x5c) size = 2; // \" and \\
    else if (c < 0x80) size = 1;
    else if (c < 0x800) size = 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(value.charCodeAt(i + 1))) size = 4;
    else if (c >= 0xd800 && c <= 0xdfff) size = 6; // a lone surrogate is written \udxxx
    else size = 3;
    if (cut === -1 && bytes + size > LOG_VALUE_BYTES - NOTE_BYTES) cut = i;
    bytes += size;
    if (bytes > LOG_VALUE_BYTES) break;
    if (size === 4) i++; // the pair's low half, counted with it
  }
  if (bytes <= LOG_VALUE_BYTES) return value;
  return `${value.slice(0, cut)}…(${utf8Length(value, cut)} more bytes)`;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** The UTF-8 length of `text` from `from` on; a lone surrogate counts as U+FFFD, 3 bytes. */
function utf8Length(text: string, from: number): number {
  let bytes = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
