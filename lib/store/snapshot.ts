// The snapshot format: a captured store written as text a chunk at a time, and snapshot text
// read back into an empty store a piece at a time. No file I/O: `app/persistence.ts` does that.
//
// Snapshot format, version 3:
//
//     # prom-aggregation-gateway snapshot 3
//     <the store in the text format 0.0.4, each sample ending with a timestamp>
//     # sources
//     <the sources of cumulative input, the same way, a group of families per rule>
//     # end of snapshot: <series> series, crc32 <checksum>
//
// The body is the store exactly as a scrape renders it (HELP, TYPE, every series), except that
// each sample ends with the time in milliseconds since the Unix epoch that its series was last
// pushed to, which `--seriesTTL` counts from. The last line counts the series (a histogram or
// summary series once) and gives the CRC-32 (the checksum of gzip and zlib) of every byte
// before it, as eight lower-case hex digits; the file ends with its newline. A file without
// it was cut short; one whose count or checksum differ was damaged: either is refused whole.
// The `# sources` line and what follows it are there only when the store holds sources of
// cumulative input (`--rulesFile`): each source series with its last value and the time of its
// last push, in groups of one family and one rule, whose HELP line says how the rule made them:
// `# HELP <name> pag-source staleAfter=<ms> gauge=<rule> sources=<label>,<label>`. The series
// count of the last line counts them too. Version 2 is the same without sources, version 1
// without the last line; both are still read. Loading parses the body with
// the same parser and checks as a push, so a damaged file is refused, not half read.

import { crc32 } from "node:zlib";
import { ParseError, PushError } from "../core/errors.ts";
import type { HistogramValue, PushFamily, SeriesValue } from "../core/model.ts";
import { parseSnapshotText } from "../ingest/parse_text.ts";
import { familyHeader, renderSeries } from "../expose/render.ts";
import type { CapturedFamily, Store } from "./store.ts";
import { type Source, sourceBytes } from "./sources.ts";
import { GAUGE_BEHAVIORS, type GaugeBehavior } from "../core/merge.ts";
import { dropLabels, MAX_STALE_AFTER } from "../core/rules.ts";

export const SNAPSHOT_HEADER = "# prom-aggregation-gateway snapshot 3";
const HEADER_PREFIX = "# prom-aggregation-gateway snapshot ";
/** The versions this gateway reads. */
const VERSIONS = ["1", "2", "3"];
/** The line of a version 3 snapshot before which the sources of cumulative input begin. */
const SOURCES_LINE = "# sources";
/**
 * The HELP text of a group of sources. `staleAfter` is whole milliseconds; older builds could
 * write a fraction (`60059.99999999999`) or, for a huge one, 16 digits or more, an exponent or
 * `Infinity`: read too, rounded and capped at `MAX_STALE_AFTER`.
 */
const SOURCE_HELP =
  /^pag-source staleAfter=(\d{1,25}(?:\.\d{1,25})?(?:e\+\d{1,3})?|Infinity) gauge=([a-z]+) sources=([a-zA-Z0-9_,]+)$/;
/** How the last line of a version 2 snapshot begins. */
export const END_PREFIX = "# end of snapshot: ";
const END_LINE = /^# end of snapshot: (\d{1,15}) series, crc32 ([0-9a-f]{8})$/;

/** A snapshot that cannot be read or used; the message names the file and the problem. */
export class SnapshotError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message);
    this.name = "SnapshotError";
    if (options?.cause) this.cause = options.cause;
  }
}

/** Bytes that are not UTF-8: the file cannot be read as text at all. */
export class EncodingError extends SnapshotError {}

/** Text after the last line of a version 2 snapshot: two files run together, or an edit. */
class AfterEndError extends SnapshotError {}

const encoder = new TextEncoder();

/** The last line of a version 2 snapshot. */
function endLine(series: number, crc: number): string {
  return `${END_PREFIX}${series} series, crc32 ${crc.toString(16).padStart(8, "0")}\n`;
}

/**
 * About how many chars of text are encoded and written at once: large enough that writing
 * costs few calls, small enough that rendering one chunk keeps the event loop waiting for no
 * more than a few milliseconds.
 */
const WRITE_CHARS = 512 * 1024;

/**
 * The snapshot of `families` (see {@linkcode Store.capture}) as UTF-8, a chunk at a time: the
 * header, the families, the last line. Each chunk is rendered when it is asked for, so no text
 * of the whole store is ever made and a caller can write each chunk before the next renders.
 * Without touch times (no `--seriesTTL`), every sample is stamped with `now`.
 */
export function* snapshotChunks(
  families: readonly CapturedFamily[],
  now: number,
  sources: readonly Source[] = [],
): Generator<Uint8Array<ArrayBuffer>> {
  let crc = 0;
  let series = 0;
  let text = SNAPSHOT_HEADER + "\n";
  const encode = () => {
    const bytes = encoder.encode(text);
    crc = crc32(bytes, crc);
    text = "";
    return bytes;
  };
  /** Writes one family's header and series, a batch at a time, encoding when enough is due. */
  function* writeFamily(family: CapturedFamily): Generator<Uint8Array<ArrayBuffer>> {
    const { keys, values, touched } = family;
    const keyAt = (i: number) => keys[i];
    const valueAt = (i: number) => values[i];
    const timeAt = touched === undefined ? () => now : (i: number) => touched[i];
    text += familyHeader(family);
    for (let from = 0; from < keys.length;) {
      const stop = batchEnd(family, from);
      const [lines, next] = renderSeries(family, stop, keyAt, valueAt, from, timeAt);
      text += lines;
      from = next;
      if (text.length >= WRITE_CHARS) yield encode();
    }
    series += keys.length;
  }
  for (const family of families) yield* writeFamily(family);
  if (sources.length > 0) {
    text += SOURCES_LINE + "\n";
    // A source's time is always its own (sourceGroups sets `touched`).
    for (const family of sourceGroups(sources)) yield* writeFamily(family);
  }
  if (text !== "") yield encode();
  yield encoder.encode(endLine(series, crc));
}

/** The sources as families to write: one per family name and rule, its HELP telling the rule. */
function sourceGroups(sources: readonly Source[]): CapturedFamily[] {
  const groups = new Map<string, { family: CapturedFamily; times: number[] }>();
  for (const source of sources) {
    const help = `pag-source staleAfter=${
      Math.round(source.staleAfter)
    } gauge=${source.gauge} sources=${source.labels.join(",")}`;
    const id = source.family + "\n" + source.type + "\n" + help;
    let group = groups.get(id);
    if (group === undefined) {
      const family = {
        name: source.family,
        type: source.type,
        help,
        keys: [] as string[],
        values: [] as SeriesValue[],
        touched: undefined as Float64Array | undefined,
      };
      groups.set(id, group = { family, times: [] });
    }
    (group.family.keys as string[]).push(source.key);
    (group.family.values as SeriesValue[]).push(source.value);
    group.times.push(source.touched);
  }
  return [...groups.values()].map(({ family, times }) => ({
    ...family,
    touched: Float64Array.from(times),
  }));
}

/**
 * The end of a batch of `family`'s series from `from` on whose lines take about
 * {@linkcode WRITE_CHARS} chars, one series at least: series of long keys are rendered a few
 * at a time, never a thousand lines of 256 KB into one string.
 */
function batchEnd(family: CapturedFamily, from: number): number {
  const { name, type, keys, values } = family;
  let chars = 0;
  let i = from;
  while (i < keys.length && chars < WRITE_CHARS) {
    const lines = type === "histogram"
      ? (values[i] as HistogramValue).bounds.length + 2
      : type === "summary"
      ? 2
      : 1;
    // The name, the key, a bound, the value and the timestamp.
    chars += lines * (name.length + keys[i].length + 80);
    i++;
  }
  return i;
}

/**
 * The snapshot of `store` as one string, for tests and tools that read small stores whole.
 * The gateway itself never makes it: {@linkcode saveSnapshot} streams the same bytes.
 */
export function encodeSnapshot(store: Store, now: number = Date.now()): string {
  const decoder = new TextDecoder();
  let text = "";
  for (const chunk of snapshotChunks(store.capture(), now, store.captureSources())) {
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

/** Lines parsed at a time; the event loop runs between pieces, so `/ready` answers meanwhile. */
const PIECE_LINES = 20_000;
/** Chars parsed at a time at most, whatever the lines: long keys make long lines. */
const PIECE_CHARS = 16 * 1024 * 1024;
/** Bytes read from the file at a time. */
export const READ_BYTES = 1024 * 1024;
/**
 * The longest line read, in chars: far above any line a push can make, far below what V8
 * allows in one string. A longer one is not a snapshot line: the file is refused.
 */
const MAX_LINE_CHARS = 128 * 1024 * 1024;
/** Bytes at the end of the file kept out of the checksum until the end: room for the last line. */
const END_ROOM = 256;

export interface DecodeOptions {
  /** Runs between pieces; a zero-delay timer by default, which lets the event loop run. */
  pause?: () => Promise<void>;
  /** About how many lines a piece holds; 20k by default. */
  pieceLines?: number;
  /** Bytes read at a time; 1 MiB by default. */
  chunkBytes?: number;
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
  /** Whether the piece is of the sources of cumulative input (after `# sources`). */
  sources: boolean;
}

const NOTHING_CARRIED = { text: "", lines: 0, continues: false };

/**
 * Cuts snapshot text, fed in runs of whole lines, into pieces of about `size` lines (or
 * `PIECE_CHARS` chars), each of whole series. A piece ends before a family's first HELP or
 * TYPE line, or after a sample that completes a series: any sample of a counter, gauge or
 * untyped family, the `_count` of a histogram or summary (the snapshot writes it last). A piece
 * that starts inside a family repeats its HELP and TYPE. In a version 2 snapshot it also finds
 * the last line, and refuses any line after it.
 */
class PieceCutter {
  readonly #size: number;
  readonly #findsEnd: boolean;
  /** The text of the current piece fed so far, after what it carries. */
  #parts: string[] = [];
  #partsChars = 0;
  #pieceLine = 1;
  #cut = false;
  #header = ""; // the current family's HELP and TYPE lines
  #headerLines = 0;
  #family = "";
  #type = "";
  #carried = NOTHING_CARRIED;
  #line = 1;
  /** Whether the last line of a version 2 snapshot was read. */
  #ended = false;
  /** Whether the `# sources` line was read: every family from there on is a group of sources. */
  #inSources = false;

  constructor(size: number, findsEnd: boolean) {
    this.#size = size;
    this.#findsEnd = findsEnd;
  }

  /** Takes text of whole lines (each ending with a newline) and returns the pieces completed. */
  feed(text: string): Piece[] {
    const pieces: Piece[] = [];
    const size = this.#size;
    let pieceStart = 0;
    const pieceTo = (end: number): Piece => {
      const piece = {
        text: this.#carried.text + this.#parts.join("") + text.slice(pieceStart, end),
        firstLine: this.#pieceLine,
        carried: this.#carried.lines,
        continues: this.#carried.continues,
        sources: this.#inSources,
      };
      this.#parts = [];
      this.#partsChars = 0;
      this.#cut = true;
      return piece;
    };
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf("\n", start);
      if (end === -1) end = text.length;
      const next = end + 1;
      const line = this.#line;
      if (this.#ended) {
        throw new AfterEndError(`line ${line}: text after the last line "${END_PREFIX}…"`);
      }
      const lines = line - this.#pieceLine; // lines of the piece before this one
      const chars = this.#partsChars + start - pieceStart;
      let boundary: "before" | "after" | undefined;
      if (this.#findsEnd && !this.#inSources && text.startsWith(SOURCES_LINE + "\n", start)) {
        // The sources are pieces of their own: a family's name may come again there.
        if (start > pieceStart || this.#parts.length > 0) {
          pieces.push(pieceTo(start));
          pieceStart = start;
          this.#pieceLine = line;
        }
        this.#carried = NOTHING_CARRIED;
        this.#inSources = true;
        this.#family = "";
      } else if (text.startsWith("# HELP ", start) || text.startsWith("# TYPE ", start)) {
        const name = text.slice(start + 7, end).split(" ", 1)[0];
        // Each group of sources begins with its HELP line, and may repeat its family's name.
        const group = this.#inSources && text.startsWith("# HELP ", start);
        if (name !== this.#family || group) {
          this.#family = name;
          this.#type = "untyped";
          this.#header = "";
          this.#headerLines = 0;
          if (lines >= size || chars >= PIECE_CHARS || group) boundary = "before";
        }
        if (text.startsWith("# TYPE ", start)) {
          this.#type = text.slice(start + 8 + name.length, end).trim().toLowerCase();
        }
        this.#header += text.slice(start, next);
        this.#headerLines++;
      } else if (this.#findsEnd && text.startsWith(END_PREFIX, start)) {
        this.#ended = true;
      } else if (
        !text.startsWith("#", start) &&
        (lines + 1 >= size || chars + next - start >= PIECE_CHARS)
      ) {
        const brace = text.indexOf("{", start);
        const space = text.indexOf(" ", start);
        const nameEnd = brace !== -1 && brace < space ? brace : space;
        const sample = text.slice(start, nameEnd === -1 ? end : nameEnd);
        const whole = this.#type === "histogram" || this.#type === "summary"
          ? sample === this.#family + "_count"
          : true;
        if (whole) boundary = "after";
      }
      if (boundary === "before" && (start > pieceStart || this.#parts.length > 0)) {
        pieces.push(pieceTo(start));
        this.#carried = NOTHING_CARRIED;
        pieceStart = start;
        this.#pieceLine = line;
      }
      this.#line++;
      start = next;
      if (boundary === "after") {
        pieces.push(pieceTo(start));
        this.#carried = { text: this.#header, lines: this.#headerLines, continues: true };
        pieceStart = start;
        this.#pieceLine = this.#line;
      }
    }
    if (pieceStart < text.length) {
      this.#parts.push(text.slice(pieceStart));
      this.#partsChars += text.length - pieceStart;
    }
    return pieces;
  }

  /** The last piece, once all text is fed: what is left, or the whole text if never cut. */
  finish(): Piece | undefined {
    if (this.#parts.length === 0 && this.#cut) return undefined;
    this.#cut = true;
    return {
      text: this.#carried.text + this.#parts.splice(0).join(""),
      firstLine: this.#pieceLine,
      carried: this.#carried.lines,
      continues: this.#carried.continues,
      sources: this.#inSources,
    };
  }
}

/** A family read back, gathered from the pieces it was parsed in. */
type ReadFamily = PushFamily & {
  keys: string[];
  values: SeriesValue[];
  touched: Map<string, number>;
};

/**
 * Reads a snapshot fed to it in chunks of bytes into an empty store: decodes them as UTF-8,
 * cuts the text at line boundaries into pieces, parses each piece (letting the event loop run
 * between pieces), and fills the store only once all of it parsed and, in version 2, its last
 * line matched. Nothing but the current chunk and piece is held as text.
 *
 * A version 2 file that was cut short or damaged is refused as such, whatever else is wrong
 * with it: after an error in its text the rest is still read, for the checksum only.
 */
export class SnapshotReader {
  readonly #store: Store;
  readonly #pause: () => Promise<void>;
  readonly #pieceLines: number;
  readonly #utf8 = new TextDecoder("utf-8", { fatal: true });
  /** Decoded text after the last newline seen. */
  #pending = "";
  #version: string | undefined;
  #cutter: PieceCutter | undefined;
  readonly #families: ReadFamily[] = [];
  /** The groups of sources read, each one family and one rule. */
  readonly #sourceGroups: ReadFamily[] = [];
  /** The CRC-32 of every byte read but the last `END_ROOM`, which `#held` keeps. */
  #crc = 0;
  #held = new Uint8Array(0);
  /** The first error in the text of a version 2 file, reported after the checksum's verdict. */
  #failure: SnapshotError | undefined;

  constructor(store: Store, options: DecodeOptions) {
    this.#store = store;
    this.#pause = options.pause ??
      (() => new Promise<void>((resolve) => setTimeout(resolve, 0)));
    this.#pieceLines = options.pieceLines ?? PIECE_LINES;
  }

  /** Reads the next chunk of the file. The chunk is not kept: the caller may reuse it. */
  async write(bytes: Uint8Array): Promise<void> {
    this.#checksum(bytes);
    if (this.#failure !== undefined) return;
    await this.#guard(async () => {
      let text: string;
      try {
        text = this.#utf8.decode(bytes, { stream: true });
      } catch (error) {
        throw new EncodingError("it is not valid UTF-8", { cause: error });
      }
      await this.#take(text, false);
    });
  }

  /** Reads the end of the file, fills the store and returns its series count. */
  async end(): Promise<number> {
    if (this.#failure === undefined) {
      await this.#guard(async () => {
        let text: string;
        try {
          text = this.#utf8.decode();
        } catch (error) {
          throw new EncodingError("it is not valid UTF-8", { cause: error });
        }
        await this.#take(text, true);
      });
    }
    const failure = this.#failure;
    if (failure instanceof AfterEndError) throw failure;
    const declared = this.#hasEnd ? this.#checkEnd(failure) : undefined;
    if (failure !== undefined) throw failure;
    let series = 0;
    for (const family of this.#families) series += family.keys.length;
    for (const family of this.#sourceGroups) series += family.keys.length;
    if (declared !== undefined && declared !== series) {
      throw new SnapshotError(
        `damaged: it holds ${series} series, the last line says ${declared}`,
      );
    }
    for (const family of this.#families) {
      try {
        this.#store.restore(family);
      } catch (error) {
        this.#store.delete([]); // the store was empty: it is again
        if (error instanceof PushError) throw new SnapshotError(error.message, { cause: error });
        throw error;
      }
    }
    for (const group of this.#sourceGroups) {
      for (const source of sourcesOf(group)) this.#store.restoreSource(source);
    }
    return series;
  }

  /**
   * Runs `step`; in a version 2 file a {@linkcode SnapshotError} it throws is kept for the end,
   * when the checksum tells whether the file was damaged, and the text is read no further.
   */
  async #guard(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      if (!(error instanceof SnapshotError) || !this.#hasEnd) throw error;
      this.#failure = error;
    }
  }

  /** Adds decoded text, and parses the pieces of whole lines it completes. */
  async #take(text: string, last: boolean): Promise<void> {
    this.#pending += text;
    if (this.#version === undefined) {
      const newline = this.#pending.indexOf("\n");
      if (newline === -1 && !last) {
        if (this.#pending.length > HEADER_PREFIX.length + 16) this.#readHeader(this.#pending);
        return;
      }
      this.#readHeader(newline === -1 ? this.#pending : this.#pending.slice(0, newline));
    }
    const cut = last ? this.#pending.length : this.#pending.lastIndexOf("\n") + 1;
    if (cut === 0 && !last) {
      if (this.#pending.length > MAX_LINE_CHARS) {
        throw new SnapshotError(`a line is longer than ${MAX_LINE_CHARS} chars`);
      }
      return;
    }
    const whole = this.#pending.slice(0, cut);
    this.#pending = this.#pending.slice(cut);
    const cutter = this.#cutter!;
    for (const piece of cutter.feed(whole)) {
      this.#parse(piece);
      await this.#pause();
    }
    if (last) {
      const piece = cutter.finish();
      if (piece !== undefined) this.#parse(piece);
    }
  }

  /** Whether the file is of a version that ends with its series count and checksum (2 on). */
  get #hasEnd(): boolean {
    return this.#version !== undefined && this.#version !== "1";
  }

  /** Checks the first line, and sets the version it names. */
  #readHeader(line: string): void {
    if (line.endsWith("\r")) line = line.slice(0, -1);
    const version = line.startsWith(HEADER_PREFIX) ? line.slice(HEADER_PREFIX.length) : "";
    if (!/^\d{1,9}$/.test(version)) {
      throw new SnapshotError(`not a snapshot: the first line is not "${SNAPSHOT_HEADER}"`);
    }
    if (!VERSIONS.includes(version)) {
      throw new SnapshotError(
        `unsupported snapshot version "${version}" (this gateway reads ${
          VERSIONS.slice(0, -1).join(", ")
        } and ${VERSIONS.at(-1)})`,
      );
    }
    this.#version = version;
    this.#cutter = new PieceCutter(this.#pieceLines, version !== "1");
  }

  /** Parses a piece, and adds its families to those read so far. */
  #parse(piece: Piece): void {
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
    const families = piece.sources ? this.#sourceGroups : this.#families;
    for (const [i, family] of push.entries()) {
      if (piece.sources && !SOURCE_HELP.test(family.help ?? "")) {
        throw new SnapshotError(
          `sources of "${family.name}" without the HELP line "pag-source staleAfter=… gauge=… sources=…"`,
        );
      }
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
  }

  /** Adds `bytes` to the checksum, all but the last `END_ROOM` bytes of the file read so far. */
  #checksum(bytes: Uint8Array): void {
    const held = this.#held;
    if (bytes.length >= END_ROOM) {
      this.#crc = crc32(held, this.#crc);
      this.#crc = crc32(bytes.subarray(0, bytes.length - END_ROOM), this.#crc);
      this.#held = bytes.slice(bytes.length - END_ROOM);
      return;
    }
    const all = new Uint8Array(held.length + bytes.length);
    all.set(held);
    all.set(bytes, held.length);
    const out = Math.max(0, all.length - END_ROOM);
    this.#crc = crc32(all.subarray(0, out), this.#crc);
    this.#held = all.slice(out);
  }

  /**
   * Checks that the file ends with its last line and that the checksum matches; returns the
   * series count the line gives. `failure`, the first error in the text, is named with a
   * checksum that does not match: it tells where the damage is.
   */
  #checkEnd(failure: SnapshotError | undefined): number {
    const held = this.#held;
    const start = held.at(-1) === 10 ? held.lastIndexOf(10, held.length - 2) + 1 : 0;
    const line = new TextDecoder().decode(held.subarray(start, held.length - 1));
    const match = start > 0 ? END_LINE.exec(line) : null;
    if (match === null) {
      throw new SnapshotError(
        `truncated: the last line is not "${END_PREFIX}<series> series, crc32 <checksum>"`,
      );
    }
    const crc = crc32(held.subarray(0, start), this.#crc).toString(16).padStart(8, "0");
    if (crc !== match[2]) {
      const first = failure === undefined ? "" : ` (first error: ${failure.message})`;
      throw new SnapshotError(
        `damaged: the crc32 of the content is ${crc}, the last line says ${match[2]}${first}`,
      );
    }
    return Number(match[1]);
  }
}

/** The sources of a group read back from a snapshot. */
function sourcesOf(group: ReadFamily): Source[] {
  const [, stale, gauge, labelText] = SOURCE_HELP.exec(group.help!)!;
  if (!(GAUGE_BEHAVIORS as readonly string[]).includes(gauge)) {
    throw new SnapshotError(`sources of "${group.name}" have an unknown gauge rule "${gauge}"`);
  }
  const labels = labelText.split(",");
  const staleAfter = Math.min(Math.round(Number(stale)), MAX_STALE_AFTER);
  return group.keys.map((key, i) => {
    const aggregate = dropLabels(key, labels).key;
    const value = group.values[i];
    return {
      family: group.name,
      type: group.type,
      key,
      aggregate,
      labels,
      value,
      touched: group.touched.get(key)!,
      staleAfter,
      gauge: gauge as GaugeBehavior,
      bytes: sourceBytes(group.name, key, aggregate, value),
    };
  });
}

/**
 * Restores snapshot text into an empty store, as {@linkcode loadSnapshot} does a file. The text
 * is parsed a piece at a time, letting the event loop run between pieces, and the store is
 * filled only once all of it parsed. Rejects with {@linkcode SnapshotError} naming the line or
 * the metric when the text is not a snapshot of a version this gateway reads, is cut short or
 * damaged, does not parse, or holds families that conflict (the same family twice, a sample
 * name written by two families); then the store is left empty.
 */
export async function decodeSnapshot(
  text: string,
  store: Store,
  options: DecodeOptions = {},
): Promise<number> {
  const reader = new SnapshotReader(store, options);
  const bytes = encoder.encode(text);
  const size = options.chunkBytes ?? READ_BYTES;
  for (let at = 0; at < bytes.length; at += size) await reader.write(bytes.subarray(at, at + size));
  return await reader.end();
}
