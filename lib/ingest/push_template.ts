// The shape of a text body a sender pushes again and again: everything but its values. A sender
// (a batch job, a page, a PHP request) usually pushes the same series, with the same comments,
// each time; only the numbers change. A template remembers the text between the values of a
// body that parsed, and where each value went in the push, so that a later body that differs
// only in its values is read by comparing text and reading numbers, with no parsing, keying or
// building. It reads the body's bytes as they came, before any decoding. Anything else falls
// back to the full parse.

import { PushError } from "../core/errors.ts";
import {
  type HistogramValue,
  parseFloatStrict,
  type Push,
  type PushFamily,
  type SeriesValue,
} from "../core/model.ts";
import { checkCounterValue, checkHistogramValues, checkSummaryValues } from "../core/checks.ts";
import { pushBytesAtMost } from "../core/store_bytes.ts";

/** What a value of a sample line is for, once its line is parsed. */
export type ValueRole = "value" | "bucket" | "sum" | "count" | "dropped";

/** A value token the full parse read: where it stood, and where its value went. */
export interface RecordedValue {
  /** The token's first char and the char after it, in the body. */
  start: number;
  end: number;
  /** The family the value went to; "" for a dropped value (a quantile, a `_created`). */
  family: string;
  key: string;
  role: ValueRole;
  /** A bucket's bound. */
  le: number;
  /** A check of the value beyond its syntax (OpenMetrics' rules), which the template runs too. */
  check?: (value: number) => boolean;
}

/** What a full parse tells the template maker: the values it read, and how many hit the cache. */
export interface ParseRecord {
  values: RecordedValue[];
  /** Sample lines whose series text was found in the series cache. */
  cacheHits: number;
}

interface TemplateFamily {
  name: string;
  type: PushFamily["type"];
  help: string | undefined;
  keys: readonly string[];
  /** Histograms: each series' sorted bounds, shared by every push the template reads. */
  bounds: readonly (readonly number[])[];
  /** See `PushFamily.bytes`. */
  bytes: number;
}

/**
 * What a template costs beyond the arrays it counts by their lengths: its records, and the
 * headers of its typed arrays (~200 bytes each, measured as in `store_bytes.ts`).
 */
const TEMPLATE_BYTES = 2048;

const SPACE = 32;
const TAB = 9;
const LF = 10;
const CR = 13;
const CLOSE_BRACE = 125;
const encoder = new TextEncoder();

/**
 * The text of a parsed body with its values taken out, as UTF-8. {@linkcode PushTemplate.read}
 * returns the push a body makes if the body's bytes are this text with other valid numbers in
 * the value places; the push is then exactly what the full parse of that body returns.
 * Undefined when it is not, or when a value check fails (the full parse then says which line is
 * wrong).
 *
 * Why this is exact: a value token ends at the first blank or line end, and every byte around
 * the tokens is compared, so the new body has the same lines, comments, names and labels as
 * the one the template was made from. A valid value is ASCII, so the body is valid UTF-8 and
 * decodes to the text the full parse would read. The parse of a line depends on its value only
 * through the value's syntax (checked here with the parser's own function) and the checks of a
 * counter, a histogram and a summary on their values (run here with the builder's own
 * functions).
 */
export class PushTemplate {
  readonly openMetrics: boolean;
  /**
   * The text before each value, then the text after the last one, as UTF-8 one after another:
   * literal `i` is `#bytes` from `#starts[i]` to `#starts[i + 1]`.
   */
  readonly #bytes: Uint8Array;
  readonly #starts: Int32Array;
  /**
   * Each literal's bytes also as little-endian 32-bit words from its own start (the last 0 to 3
   * bytes left out), from `#wordStarts[i]`: the body is compared four bytes at a time.
   */
  readonly #words: Uint32Array;
  readonly #wordStarts: Int32Array;
  /** Each value's place among the cells, -1 for a dropped value. */
  readonly #cellOf: Int32Array;
  /** Each value's check, if any value has one (see `RecordedValue.check`). */
  readonly #checks: readonly (((value: number) => boolean) | undefined)[] | undefined;
  readonly #cells: Float64Array;
  readonly #families: TemplateFamily[];
  /**
   * What the template costs a cache budget, in bytes: the body's text it keeps (twice: as bytes
   * and as words), its offsets, cells and families' arrays. The key strings are the series
   * cache's, which counts them.
   */
  readonly cost: number;

  private constructor(
    openMetrics: boolean,
    literals: string[],
    cellOf: Int32Array,
    cellCount: number,
    families: TemplateFamily[],
    checks: readonly (((value: number) => boolean) | undefined)[] | undefined,
  ) {
    this.openMetrics = openMetrics;
    this.#checks = checks;
    // One encoding of all the literals: a call per literal would cost more than the parse.
    const joined = literals.join("");
    this.#bytes = encoder.encode(joined);
    const ascii = this.#bytes.length === joined.length;
    this.#starts = new Int32Array(literals.length + 1);
    this.#wordStarts = new Int32Array(literals.length + 1);
    for (const [i, literal] of literals.entries()) {
      const length = ascii ? literal.length : utf8Length(literal);
      this.#starts[i + 1] = this.#starts[i] + length;
      this.#wordStarts[i + 1] = this.#wordStarts[i] + (length >> 2);
    }
    this.#words = new Uint32Array(this.#wordStarts[literals.length]);
    const view = new DataView(this.#bytes.buffer);
    for (let i = 0; i < literals.length; i++) {
      const start = this.#starts[i];
      for (let w = this.#wordStarts[i]; w < this.#wordStarts[i + 1]; w++) {
        this.#words[w] = view.getUint32(start + 4 * (w - this.#wordStarts[i]), true);
      }
    }
    this.#cellOf = cellOf;
    this.#cells = new Float64Array(cellCount);
    this.#families = families;
    let familyBytes = 0;
    for (const family of families) {
      familyBytes += 8 * family.keys.length;
      for (const bounds of family.bounds) familyBytes += 32 + 8 * bounds.length;
    }
    this.cost = TEMPLATE_BYTES + 2 * this.#bytes.length + 8 * literals.length +
      4 * cellOf.length + 8 * cellCount + familyBytes;
  }

  /**
   * The template of `text`, which parsed into `push` and whose values the parse recorded in
   * order; undefined when the record does not account for every value of the push once.
   */
  static from(
    text: string,
    openMetrics: boolean,
    push: Push,
    values: readonly RecordedValue[],
  ): PushTemplate | undefined {
    // Cells: a scalar series has one, a histogram one per bucket then _count and _sum, a
    // summary _count and _sum.
    const families: TemplateFamily[] = [];
    /** Per family and key: the series' value, and its first cell. */
    const places = new Map<string, Map<string, { value: SeriesValue; first: number }>>();
    let cellCount = 0;
    for (const family of push) {
      const series = new Map<string, { value: SeriesValue; first: number }>();
      const bounds: number[][] = [];
      for (const [i, key] of family.keys.entries()) {
        const value = family.values[i];
        series.set(key, { value, first: cellCount });
        if (typeof value === "number") {
          cellCount += 1;
        } else if ("bounds" in value) {
          bounds.push(Object.freeze(value.bounds.slice()) as number[]);
          cellCount += value.bounds.length + 2;
        } else {
          cellCount += 2;
        }
      }
      places.set(family.name, series);
      families.push({
        name: family.name,
        type: family.type,
        help: family.help,
        keys: Object.freeze(family.keys.slice()),
        bounds,
        bytes: pushBytesAtMost(family),
      });
    }

    const cellOf = new Int32Array(values.length);
    const covered = new Uint8Array(cellCount);
    const literals: string[] = [];
    let previousEnd = 0;
    for (const [i, recorded] of values.entries()) {
      // The template reads a token as the parser did, or it is not made. Its start must be
      // unambiguous too: the parser reads `x-1` as `x` = -1 (as Go's expfmt does), but `x1`
      // as the name `x1`, so a value that follows a name char with no blank between could
      // join the name in the next body. After a blank or a `}` a value always starts anew.
      const before = text.charCodeAt(recorded.start - 1);
      if (
        tokenEnd(text, recorded.start) !== recorded.end || recorded.start === recorded.end ||
        (before !== SPACE && before !== TAB && before !== CLOSE_BRACE)
      ) {
        return undefined;
      }
      literals.push(text.slice(previousEnd, recorded.start));
      previousEnd = recorded.end;
      const place = places.get(recorded.family)?.get(recorded.key);
      if (recorded.role === "dropped" || place === undefined) {
        // A dropped family (`X_created` beside `X`) has no cells either.
        if (recorded.role !== "dropped" && places.has(recorded.family)) return undefined;
        cellOf[i] = -1;
        continue;
      }
      const { value, first } = place;
      const cell = first + cellOffset(recorded, value);
      if (cell < first || covered[cell] === 1) return undefined;
      covered[cell] = 1;
      cellOf[i] = cell;
    }
    literals.push(text.slice(previousEnd));
    if (covered.includes(0)) return undefined;
    const checks = values.some((recorded) => recorded.check !== undefined)
      ? values.map((recorded) => recorded.check)
      : undefined;
    return new PushTemplate(openMetrics, literals, cellOf, cellCount, families, checks);
  }

  /** The push `body` makes, if it is this template with other values; see the class. */
  read(body: Uint8Array): Push | undefined {
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const cellOf = this.#cellOf;
    const cells = this.#cells;
    let pos = 0;
    for (let i = 0; i < cellOf.length; i++) {
      pos = this.#matchLiteral(body, view, i, pos);
      if (pos < 0) return undefined;
      const end = tokenEnd(body, pos);
      const value = valueOf(body, pos, end);
      if (value === undefined) return undefined;
      const check = this.#checks?.[i];
      if (check !== undefined && !check(value)) return undefined;
      const cell = cellOf[i];
      if (cell >= 0) cells[cell] = value;
      pos = end;
    }
    if (this.#matchLiteral(body, view, cellOf.length, pos) !== body.length) return undefined;
    try {
      return this.#build();
    } catch (error) {
      if (error instanceof PushError) return undefined;
      throw error;
    }
  }

  /**
   * Where literal `i` ends in `body` if `body` holds it at `pos`; -1 if it does not. Compared
   * four bytes at a time: a DataView read at any offset is one load once optimized.
   */
  #matchLiteral(body: Uint8Array, view: DataView, i: number, pos: number): number {
    const start = this.#starts[i];
    const length = this.#starts[i + 1] - start;
    if (pos + length > body.length) return -1;
    const words = this.#words;
    const firstWord = this.#wordStarts[i];
    const wordCount = this.#wordStarts[i + 1] - firstWord;
    for (let w = 0; w < wordCount; w++) {
      if (view.getUint32(pos + 4 * w, true) !== words[firstWord + w]) return -1;
    }
    const bytes = this.#bytes;
    for (let j = 4 * wordCount; j < length; j++) {
      if (body[pos + j] !== bytes[start + j]) return -1;
    }
    return pos + length;
  }

  #build(): Push {
    const cells = this.#cells;
    const push: Push = [];
    let cell = 0;
    for (const family of this.#families) {
      const { name, keys } = family;
      const values = new Array<SeriesValue>(keys.length);
      switch (family.type) {
        case "histogram":
          for (let s = 0; s < keys.length; s++) {
            const bounds = family.bounds[s] as number[];
            const counts = new Array<number>(bounds.length);
            for (let b = 0; b < bounds.length; b++) counts[b] = cells[cell++];
            const histogram: HistogramValue = {
              bounds,
              counts,
              count: cells[cell++],
              sum: cells[cell++],
            };
            checkHistogramValues(name, keys[s], histogram);
            values[s] = histogram;
          }
          break;
        case "summary":
          for (let s = 0; s < keys.length; s++) {
            const summary = { count: cells[cell++], sum: cells[cell++] };
            checkSummaryValues(name, keys[s], summary);
            values[s] = summary;
          }
          break;
        case "counter":
          for (let s = 0; s < keys.length; s++) {
            const value = cells[cell++];
            checkCounterValue(name, keys[s], value);
            values[s] = value;
          }
          break;
        default:
          for (let s = 0; s < keys.length; s++) values[s] = cells[cell++];
      }
      push.push({ name, type: family.type, help: family.help, keys, values, bytes: family.bytes });
    }
    return push;
  }
}

/** Where a recorded value sits among the cells of its series. */
function cellOffset(recorded: RecordedValue, value: SeriesValue): number {
  if (typeof value === "number") return recorded.role === "value" ? 0 : -1;
  if ("bounds" in value) {
    const n = value.bounds.length;
    if (recorded.role === "bucket") return value.bounds.indexOf(recorded.le);
    return recorded.role === "count" ? n : recorded.role === "sum" ? n + 1 : -1;
  }
  return recorded.role === "count" ? 0 : recorded.role === "sum" ? 1 : -1;
}

/** How many bytes the UTF-8 of `text` takes, as `TextEncoder` writes it. */
function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      length += 1;
    } else if (c < 0x800) {
      length += 2;
    } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      // A surrogate pair is one char of 4 bytes; a lone surrogate becomes U+FFFD, 3 bytes.
      if (next >= 0xdc00 && next < 0xe000) i++, length += 4;
      else length += 3;
    } else {
      length += 3;
    }
  }
  return length;
}

/** The end of the value token at `start` of `text`: the first blank or line end. */
function tokenEnd(text: string | Uint8Array, start: number): number {
  if (typeof text === "string") {
    let i = start;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === SPACE || c === TAB || c === LF || c === CR) break;
    }
    return i;
  }
  let i = start;
  for (; i < text.length; i++) {
    const c = text[i];
    if (c === SPACE || c === TAB || c === LF || c === CR) break;
  }
  return i;
}

/** The value of the token `body[start, end)`, as the parser reads it; undefined if invalid. */
function valueOf(body: Uint8Array, start: number, end: number): number | undefined {
  // Most values are small whole numbers: read exactly, without making a string.
  if (end > start && end - start <= 15) {
    let value = 0;
    let i = start;
    for (; i < end; i++) {
      const digit = body[i] - 48;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
    }
    if (i === end) return value;
  }
  // A valid value is ASCII: any other byte makes it invalid, as its text would.
  let text = "";
  for (let i = start; i < end; i++) {
    if (body[i] >= 128) return undefined;
    text += String.fromCharCode(body[i]);
  }
  return parseFloatStrict(text);
}
