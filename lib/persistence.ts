// Keeps the aggregate across restarts (`--persistenceFile`): writes the store to a snapshot
// file atomically, and loads it back at start. The only module that writes files.
//
// Snapshot format, version 1: a first line `# prom-aggregation-gateway snapshot 1`, then the
// store in the Prometheus text format 0.0.4 exactly as a scrape renders it (HELP, TYPE, every
// series), except that each sample ends with a timestamp: the time in milliseconds since the
// Unix epoch that its series was last pushed to, which `--seriesTTL` counts from. Loading
// parses it with the same parser and checks as a push, so a damaged file is refused, not
// half read.

import { ParseError, PushError } from "./errors.ts";
import type { PushFamily, SeriesValue } from "./model.ts";
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
    const keys = store.sortedKeys(family);
    text += renderFamily(family, (key) => family.series.touchedAt(key) ?? now, keys);
  }
  return text;
}

/** Lines parsed at a time; the event loop runs between pieces, so `/ready` answers meanwhile. */
const PIECE_LINES = 20_000;

export interface DecodeOptions {
  /** Runs between pieces; a zero-delay timer by default, which lets the event loop run. */
  pause?: () => Promise<void>;
  /** About how many lines a piece holds; 20k by default. */
  pieceLines?: number;
}

/** A run of whole series of the snapshot, with the HELP and TYPE of the family it continues. */
interface Piece {
  text: string;
  /** The file's line number of the piece's first own line (after the carried header). */
  firstLine: number;
  /** HELP and TYPE lines carried over from earlier in the file, at the start of `text`. */
  carried: number;
  /** Whether the piece begins in the middle of the family the previous piece ended with. */
  continues: boolean;
}

/**
 * Cuts snapshot text into pieces of about `size` lines, each of whole series. A piece
 * ends before a family's first HELP or TYPE line, or after a sample that completes a series:
 * any sample of a counter, gauge or untyped family, the `_count` of a histogram or summary
 * (the snapshot writes it last). A piece that starts inside a family repeats its HELP and TYPE.
 */
function* snapshotPieces(text: string, size: number): Generator<Piece> {
  let pieceStart = 0;
  let pieceLine = 1;
  let header = ""; // the current family's HELP and TYPE lines
  let headerLines = 0;
  let family = "";
  let type = "";
  let carried = { text: "", lines: 0, continues: false };
  /** The piece from pieceStart up to `end`, after the lines it carries. */
  const pieceTo = (end: number): Piece => ({
    text: carried.text + text.slice(pieceStart, end),
    firstLine: pieceLine,
    carried: carried.lines,
    continues: carried.continues,
  });
  let line = 1;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    const next = end + 1;
    let boundary: "before" | "after" | undefined;
    if (text.startsWith("# HELP ", start) || text.startsWith("# TYPE ", start)) {
      const name = text.slice(start + 7, end).split(" ", 1)[0];
      if (name !== family) {
        family = name;
        type = "untyped";
        header = "";
        headerLines = 0;
        if (line - pieceLine >= size) boundary = "before";
      }
      if (text.startsWith("# TYPE ", start)) {
        type = text.slice(start + 8 + name.length, end).trim().toLowerCase();
      }
      header += text.slice(start, next);
      headerLines++;
    } else if (!text.startsWith("#", start) && line - pieceLine + 1 >= size) {
      const brace = text.indexOf("{", start);
      const space = text.indexOf(" ", start);
      const nameEnd = brace !== -1 && brace < space ? brace : space;
      const sample = text.slice(start, nameEnd === -1 ? end : nameEnd);
      const whole = type === "histogram" || type === "summary"
        ? sample === family + "_count"
        : true;
      if (whole) boundary = "after";
    }
    if (boundary === "before" && start > pieceStart) {
      yield pieceTo(start);
      carried = { text: "", lines: 0, continues: false };
      pieceStart = start;
      pieceLine = line;
    }
    line++;
    start = next;
    if (boundary === "after" && start < text.length) {
      yield pieceTo(start);
      carried = { text: header, lines: headerLines, continues: true };
      pieceStart = start;
      pieceLine = line;
    }
  }
  if (start > pieceStart || pieceStart === 0) yield pieceTo(text.length);
}

/**
 * Restores snapshot text into an empty store. The text is parsed a piece at a time, letting
 * the event loop run between pieces, and the store is filled only once all of it
 * parsed. Rejects with {@linkcode SnapshotError} naming the line or the metric when the text is
 * not a snapshot of this version, does not parse, or holds families that conflict (the same
 * family twice, a sample name written by two families); then the store is left empty.
 */
export async function decodeSnapshot(
  text: string,
  store: Store,
  options: DecodeOptions = {},
): Promise<number> {
  const pause = options.pause ?? (() => new Promise<void>((resolve) => setTimeout(resolve, 0)));
  const newline = text.indexOf("\n");
  let header = newline === -1 ? text : text.slice(0, newline);
  if (header.endsWith("\r")) header = header.slice(0, -1);
  if (header !== SNAPSHOT_HEADER) {
    throw new SnapshotError(
      header.startsWith(HEADER_PREFIX)
        ? `unsupported snapshot version "${
          header.slice(HEADER_PREFIX.length)
        }" (this gateway reads 1)`
        : `not a snapshot: the first line is not "${SNAPSHOT_HEADER}"`,
    );
  }
  const families: (PushFamily & {
    keys: string[];
    values: SeriesValue[];
    touched: Map<string, number>;
  })[] = [];
  for (const piece of snapshotPieces(text, options.pieceLines ?? PIECE_LINES)) {
    let push;
    try {
      // The file's header is a comment to the parser, so line numbers match the file.
      push = parseSnapshotText(piece.text);
    } catch (error) {
      if (error instanceof ParseError && error.line > piece.carried) {
        const message = error.message.slice(`line ${error.line}: `.length);
        const line = piece.firstLine + error.line - piece.carried - 1;
        throw new SnapshotError(`line ${line}: ${message}`, { cause: error });
      }
      if (error instanceof PushError || error instanceof SyntaxError) {
        throw new SnapshotError(error.message, { cause: error });
      }
      throw error;
    }
    for (const [i, family] of push.entries()) {
      const last = families.at(-1);
      const times = family.touched ?? new Map<string, number>();
      if (i === 0 && piece.continues && last?.name === family.name) {
        // The rest of a family the previous piece began.
        for (const key of family.keys) last.keys.push(key);
        for (const value of family.values) last.values.push(value);
        for (const [key, time] of times) last.touched.set(key, time);
      } else {
        families.push({
          ...family,
          keys: [...family.keys],
          values: [...family.values],
          touched: times, // the parser's own map, which nothing else holds
        });
      }
    }
    await pause();
  }
  let series = 0;
  for (const family of families) {
    try {
      store.restore(family);
    } catch (error) {
      store.delete([]); // the store was empty: it is again
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
    if (error instanceof Deno.errors.NotFound) {
      // A fresh start, if the snapshot can be written there: its folder must exist.
      const folder = folderOf(path);
      const info = await Deno.stat(folder).catch(() => undefined);
      if (info?.isDirectory !== true) {
        throw new SnapshotError(`cannot keep snapshot ${path}: folder ${folder} does not exist`);
      }
      return undefined;
    }
    const why = error instanceof TypeError ? "it is not valid UTF-8" : (error as Error).message;
    throw new SnapshotError(`cannot read snapshot ${path}: ${why}`, { cause: error });
  }
  try {
    return await decodeSnapshot(text, store);
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
  const directory = await Deno.open(folderOf(path), { read: true });
  try {
    await directory.sync();
  } finally {
    directory.close();
  }
  return bytes.length;
}

/** The folder a file path is in. */
function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash === -1 ? "." : path.slice(0, slash) || "/";
}
