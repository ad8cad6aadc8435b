// Keeps the aggregate across restarts (`--persistenceFile`): writes the store to a snapshot
// file atomically, and loads it back at start. The only module that writes files.
//
// Snapshot format, version 1: a first line `# prom-aggregation-gateway snapshot 1`, then the
// store in the Prometheus text format 0.0.4 exactly as a scrape renders it (HELP, TYPE, every
// series), except that each sample ends with a timestamp: the time in milliseconds since the
// Unix epoch that its series was last pushed to, which `--seriesTTL` counts from. Loading
// parses it with the same parser and checks as a push, so a damaged file is refused, not
// half read.

import { PushError } from "./errors.ts";
import { parseSnapshotText } from "./parse_text.ts";
import { renderFamily } from "./render.ts";
import type { Store } from "./store.ts";

export const SNAPSHOT_HEADER = "# prom-aggregation-gateway snapshot 1";
const HEADER_PREFIX = "# prom-aggregation-gateway snapshot ";

/** A snapshot that cannot be read or used; the message names the file and the problem. */
export class SnapshotError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message);
    this.name = "SnapshotError";
    if (options?.cause) this.cause = options.cause;
  }
}

/** The store as snapshot text. Synchronous, so it is one consistent moment of the store. */
export function encodeSnapshot(store: Store, now: number = Date.now()): string {
  let text = SNAPSHOT_HEADER + "\n";
  for (const family of store.families()) {
    // Without --seriesTTL the store keeps no touch times: the snapshot's moment stands in.
    text += renderFamily(family, (key) => family.touched.get(key) ?? now);
  }
  return text;
}

/**
 * Restores snapshot text into an empty store. Throws {@linkcode SnapshotError} naming the line
 * or the metric when the text is not a snapshot of this version or does not parse; then
 * nothing is restored.
 */
export function decodeSnapshot(text: string, store: Store): number {
  const newline = text.indexOf("\n");
  const header = newline === -1 ? text : text.slice(0, newline);
  if (header !== SNAPSHOT_HEADER) {
    throw new SnapshotError(
      header.startsWith(HEADER_PREFIX)
        ? `unsupported snapshot version "${
          header.slice(HEADER_PREFIX.length)
        }" (this gateway reads 1)`
        : `not a snapshot: the first line is not "${SNAPSHOT_HEADER}"`,
    );
  }
  let push;
  try {
    // The header is a comment to the parser, so line numbers in errors match the file.
    push = parseSnapshotText(text);
  } catch (error) {
    if (error instanceof PushError || error instanceof SyntaxError) {
      throw new SnapshotError(error.message, { cause: error });
    }
    throw error;
  }
  let series = 0;
  for (const family of push) {
    try {
      store.restore({ ...family, touched: family.touched ?? new Map() });
    } catch (error) {
      if (error instanceof PushError) throw new SnapshotError(error.message, { cause: error });
      throw error;
    }
    series += family.keys.length;
  }
  return series;
}

/**
 * Loads the snapshot at `path` into an empty store and returns its series count, or
 * undefined when there is no file (a fresh start). Throws {@linkcode SnapshotError} for a file
 * that exists but cannot be read or used; the file is left as it is.
 */
export async function loadSnapshot(path: string, store: Store): Promise<number | undefined> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    const why = error instanceof TypeError ? "it is not valid UTF-8" : (error as Error).message;
    throw new SnapshotError(`cannot read snapshot ${path}: ${why}`, { cause: error });
  }
  try {
    return decodeSnapshot(text, store);
  } catch (error) {
    if (error instanceof SnapshotError) {
      throw new SnapshotError(`cannot load snapshot ${path}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/**
 * Writes the store to `path` atomically: the whole snapshot goes to a temporary file beside
 * it, which is fsynced and then renamed over `path`, and the folder is fsynced so the rename
 * survives a power loss. A crash at any moment leaves either the old file or the new one.
 * Returns the number of bytes written.
 */
export async function saveSnapshot(path: string, store: Store): Promise<number> {
  const bytes = new TextEncoder().encode(encodeSnapshot(store));
  const temporary = `${path}.tmp`;
  const file = await Deno.open(temporary, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } catch (error) {
    file.close();
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  file.close();
  await Deno.rename(temporary, path);
  const slash = path.lastIndexOf("/");
  const folder = slash === -1 ? "." : path.slice(0, slash) || "/";
  const directory = await Deno.open(folder, { read: true });
  try {
    await directory.sync();
  } finally {
    directory.close();
  }
  return bytes.length;
}
