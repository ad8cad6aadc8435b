// Renders families in the Prometheus text format 0.0.4, the format the scrape serves.
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

import {
  escapeHelp,
  formatBound,
  formatValue,
  type HistogramValue,
  type MetricType,
  type Push,
  type SeriesValue,
  type SummaryValue,
} from "../core/model.ts";

/** The Content-Type of the text format 0.0.4. */
export const TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The head of a family: what its HELP and TYPE lines say. */
export interface FamilyHead {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string | undefined;
}

/** What rendering needs of a family; the self metrics and snapshots use it. */
export interface RenderableFamily extends FamilyHead {
  readonly series: {
    get(key: string): SeriesValue | undefined;
    keys(): Iterable<string>;
  };
}

/**
 * A stored family's series by slot, as the store keeps them (see `SeriesTable`): the key
 * `keysBySlot[slot]` and its value, `numbers[slot]` for a counter, gauge or untyped family,
 * `objects[slot]` for the others.
 */
export interface SlotSeries {
  readonly keysBySlot: readonly (string | undefined)[];
  /**
   * Whether every key is ASCII, as keys nearly always are; only then are the lines of numbers
   * copied straight into bytes.
   */
  readonly asciiKeys: boolean;
  readonly numbers: readonly number[];
  readonly objects: readonly (HistogramValue | SummaryValue | undefined)[];
}

/** Renders a push, family by family in push order, each as a scrape would show it alone. */
export function renderPush(push: Push): string {
  return push.map((family) =>
    renderFamily({
      ...family,
      series: new Map(family.keys.map((key, i) => [key, family.values[i]])),
    })
  ).join("");
}

/**
 * Renders one family: HELP (when known), TYPE, then its series sorted by label key. Series
 * keys are already escaped label text (see `labelKey`), so they are written as they are.
 * Summaries are written with `_sum` and `_count` only: the gateway keeps no quantiles. With
 * `timestampOf` (for a snapshot), each sample ends with its series' timestamp.
 */
export function renderFamily(
  family: RenderableFamily,
  timestampOf?: (key: string) => number,
  sortedKeys?: readonly string[],
): string {
  const keys = sortedKeys ?? [...family.series.keys()].sort();
  const keyAt = (i: number) => keys[i];
  const valueAt = (i: number) => family.series.get(keys[i])!;
  const timeAt = timestampOf && ((i: number) => timestampOf(keys[i]));
  const pieces = [familyHeader(family)];
  for (let from = 0; from < keys.length;) {
    const [text, next] = renderSeries(family, keys.length, keyAt, valueAt, from, timeAt);
    pieces.push(text);
    from = next;
  }
  return pieces.join("");
}

/**
 * About how many lines a piece of text holds: about 75 KB with typical labels. V8 allocates
 * strings of that size in its young generation, where garbage is cheap; strings past 128 KB go
 * to its large-object space, and enough of them start a major garbage collection.
 */
const LINES_PER_TEXT = 1024;
/**
 * Lines per piece of {@linkcode renderPiece}: a few thousand lines keep the per-piece costs
 * (compressing, writing) small, and are few enough to be sent while the next piece renders.
 */
const LINES_PER_PIECE = 4 * LINES_PER_TEXT;
/**
 * The most chars a text of {@linkcode renderSeries}, or a piece of {@linkcode renderPiece}, takes
 * more series after: 1 Mi. Lines can be long (labels of kilobytes, a histogram's lines each
 * repeat its labels), and a count of lines alone would let one text reach V8's limit on the
 * length of a string (2^29 chars), where every scrape would fail. A text may pass it by its last
 * series, which is written whole: the label and bucket limits bound that.
 */
const MAX_TEXT_CHARS = 1 << 20;
/**
 * The most chars `formatValue` writes: 17 significant digits after `-0.00000`, as in
 * `-0.0000012345678901234567` (JavaScript writes numbers from 1e-6 on without an exponent).
 */
const MAX_VALUE_LENGTH = 25;
const encoder = new TextEncoder();

/**
 * Renders a piece of a stored family as {@linkcode renderFamily} writes it, as UTF-8: the
 * series of the slots `order[from]` on, about 4096 lines of them (fewer if they are very long),
 * preceded by the HELP and TYPE lines when `from` is 0. `order` holds slots of `series` sorted
 * by key. Returns the bytes and the index of the first slot left for the next piece
 * (`order.length` once all are written). Every piece ends a line.
 */
export function renderPiece(
  family: FamilyHead,
  series: SlotSeries,
  order: Int32Array,
  from: number,
): [Uint8Array<ArrayBuffer>, number] {
  const numeric = family.type !== "histogram" && family.type !== "summary";
  if (numeric && series.asciiKeys) return renderNumberPiece(family, series, order, from);
  const texts = from === 0 ? [familyHeader(family)] : [];
  const keyAt = (i: number) => series.keysBySlot[order[i]]!;
  const valueAt = numeric
    ? (i: number) => series.numbers[order[i]]
    : (i: number) => series.objects[order[i]]!;
  let next = from;
  let chars = 0;
  for (
    let i = 0;
    i < LINES_PER_PIECE / LINES_PER_TEXT && next < order.length && chars < MAX_TEXT_CHARS;
    i++
  ) {
    const [text, after] = renderSeries(family, order.length, keyAt, valueAt, next);
    texts.push(text);
    chars += text.length;
    next = after;
  }
  return [encodeAll(texts), next];
}

/** The size of {@linkcode scratch}. */
export const SCRATCH_BYTES = 512 * 1024;
/**
 * Where {@linkcode renderNumberPiece} writes, before it copies the piece out at its size: one
 * buffer for every piece, so that no piece pays to allocate and clear room it may not use. Safe
 * to share: a piece is written and copied synchronously. A first line longer than it is written
 * in a buffer of its own.
 */
const scratch = new Uint8Array(SCRATCH_BYTES);

/**
 * {@linkcode renderPiece} for a family of bare numbers whose keys are all ASCII, which is most
 * of a large store, written straight into bytes: the name, the key's chars and the value's
 * digits are copied with no string made per line, so a large scrape makes next to no garbage.
 * A piece ends early when the scratch buffer is full.
 */
function renderNumberPiece(
  family: FamilyHead,
  series: SlotSeries,
  order: Int32Array,
  from: number,
): [Uint8Array<ArrayBuffer>, number] {
  const to = Math.min(order.length, from + LINES_PER_PIECE);
  const name = encoder.encode(family.name); // a metric name is ASCII
  const header = from === 0 ? familyHeader(family) : "";
  // The HELP text may not be ASCII: up to 3 bytes of UTF-8 per UTF-16 unit.
  const first = 3 * header.length +
    (from < to ? lineRoom(name, series.keysBySlot[order[from]]!) : 0);
  const out = first <= scratch.length ? scratch : new Uint8Array(first);
  const start = header === "" ? 0 : encoder.encodeInto(header, out).written;
  const [end, next] = writeNumberLines(out, start, name, series, order, from, to);
  return [out.slice(0, end), next];
}

/** The most bytes the line of a number in a family `name` with an ASCII `key` can take. */
function lineRoom(name: Uint8Array, key: string): number {
  return name.length + 4 + key.length + MAX_VALUE_LENGTH;
}

/**
 * Writes the lines of the slots `order[from]` on, up to `order[to - 1]` or until `out` has no
 * room for the next line, at `pos`; returns the end and the index of the first slot not
 * written. The first line must fit. The hot loop of a scrape, kept in a function of its own so
 * that the JIT optimizes all of it once, not piece by piece.
 */
function writeNumberLines(
  out: Uint8Array,
  pos: number,
  name: Uint8Array,
  series: SlotSeries,
  order: Int32Array,
  from: number,
  to: number,
): [number, number] {
  const { keysBySlot: keys, numbers } = series;
  const nameLength = name.length;
  const room = out.length - nameLength - 4 - MAX_VALUE_LENGTH;
  let i = from;
  for (; i < to; i++) {
    const slot = order[i];
    const key = keys[slot]!;
    const keyLength = key.length;
    if (pos + keyLength > room) break;
    for (let j = 0; j < nameLength; j++) out[pos++] = name[j];
    if (keyLength > 0) {
      out[pos++] = 123; // {
      for (let j = 0; j < keyLength; j++) out[pos++] = key.charCodeAt(j);
      out[pos++] = 125; // }
    }
    out[pos++] = 32; // blank
    pos = writeValue(out, pos, numbers[slot]);
    out[pos++] = 10; // line feed
  }
  return [pos, i];
}

/** Writes `value` as {@linkcode formatValue} formats it, at `pos`; returns the end. */
function writeValue(out: Uint8Array, pos: number, value: number): number {
  // Counters are mostly whole numbers: their digits are written without making a string.
  if (value >= 0 && value <= 0x7fffffff && value === Math.floor(value)) {
    let v = value | 0;
    let end = pos + 1;
    for (let rest = v; rest >= 10; rest = (rest / 10) | 0) end++;
    for (let p = end - 1; p >= pos; p--) {
      out[p] = 48 + v % 10;
      v = (v / 10) | 0;
    }
    return end;
  }
  const text = formatValue(value);
  for (let j = 0; j < text.length; j++) out[pos + j] = text.charCodeAt(j);
  return pos + text.length;
}

/** The UTF-8 encoding of the texts one after another. */
function encodeAll(texts: readonly string[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const text of texts) length += text.length;
  // As many bytes as UTF-16 units, which ASCII text fills exactly; grown if text is not ASCII.
  let bytes = new Uint8Array(length);
  let written = 0;
  for (let text of texts) {
    for (;;) {
      const result = encoder.encodeInto(text, bytes.subarray(written));
      written += result.written;
      if (result.read === text.length) break;
      text = text.slice(result.read);
      const grown = new Uint8Array(2 * bytes.length + 3 * text.length);
      grown.set(bytes.subarray(0, written));
      bytes = grown;
    }
  }
  return written === bytes.length ? bytes : bytes.slice(0, written);
}

/** The HELP line (when known) and the TYPE line of a family. */
export function familyHeader(family: FamilyHead): string {
  const help = family.help === undefined
    ? ""
    : `# HELP ${family.name} ${escapeHelp(family.help)}\n`;
  return `${help}# TYPE ${family.name} ${family.type}\n`;
}

/**
 * The lines of the series `from` on (of `total`, each given by `keyAt` and `valueAt`, and with
 * `timeAt` ending each sample with a timestamp), until about {@linkcode LINES_PER_TEXT} lines
 * or {@linkcode MAX_TEXT_CHARS} chars are written, and the index of the first series not
 * written. Lines are joined with `+=`: V8 keeps the pieces as a rope, which it copies once when
 * the text is encoded; building an array of parts to join measured slower.
 */
export function renderSeries(
  family: FamilyHead,
  total: number,
  keyAt: (i: number) => string,
  valueAt: (i: number) => SeriesValue,
  from: number,
  timeAt?: (i: number) => number,
): [string, number] {
  const name = family.name;
  const end = (i: number) => timeAt === undefined ? "\n" : ` ${timeAt(i)}\n`;
  let text = "";
  let i = from;
  switch (family.type) {
    case "histogram":
      for (
        let lines = 0;
        i < total && lines < LINES_PER_TEXT && text.length < MAX_TEXT_CHARS;
        i++
      ) {
        const key = keyAt(i);
        const value = valueAt(i) as HistogramValue;
        text += histogramLines(name, key, value, end(i));
        lines += value.bounds.length + 2;
      }
      break;
    case "summary":
      for (
        const stop = Math.min(total, from + LINES_PER_TEXT / 2);
        i < stop && text.length < MAX_TEXT_CHARS;
        i++
      ) {
        const key = keyAt(i);
        const { count, sum } = valueAt(i) as SummaryValue;
        const labels = key === "" ? "" : `{${key}}`;
        text += `${name}_sum${labels} ${formatValue(sum)}${end(i)}`;
        text += `${name}_count${labels} ${formatValue(count)}${end(i)}`;
      }
      break;
    default: {
      const open = name + "{";
      for (
        const stop = Math.min(total, from + LINES_PER_TEXT);
        i < stop && text.length < MAX_TEXT_CHARS;
        i++
      ) {
        const key = keyAt(i);
        text += (key === "" ? name + " " : open + key + "} ") +
          formatValue(valueAt(i) as number) + end(i);
      }
    }
  }
  return [text, i];
}

/** A histogram series' lines; `le` is spelt as Prometheus' own exposition spells it. */
function histogramLines(name: string, key: string, value: HistogramValue, end: string): string {
  const prefix = key === "" ? `${name}_bucket{le="` : `${name}_bucket{${key},le="`;
  let text = "";
  for (let i = 0; i < value.bounds.length; i++) {
    text += prefix + formatBound(value.bounds[i]) + '"} ' + formatValue(value.counts[i]) + end;
  }
  const labels = key === "" ? "" : `{${key}}`;
  text += `${name}_sum${labels} ${formatValue(value.sum)}${end}`;
  return text + `${name}_count${labels} ${formatValue(value.count)}${end}`;
}
