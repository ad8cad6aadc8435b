// Renders families in the Prometheus text format 0.0.4, the format the scrape serves.
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

import {
  escapeHelp,
  formatValue,
  type HistogramValue,
  type MetricType,
  type Push,
  type SeriesValue,
  type SummaryValue,
} from "./model.ts";

/** The Content-Type of the text format 0.0.4. */
export const TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** What rendering needs of a family; the store's families and the self metrics both fit. */
export interface RenderableFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string | undefined;
  readonly series: ReadonlyMap<string, SeriesValue>;
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
  const pieces = [familyHeader(family)];
  for (let from = 0; from < keys.length;) {
    const [text, next] = renderSeries(family, keys, from, timestampOf);
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
 * Texts per piece of {@linkcode renderPiece}: a few thousand lines keep the per-piece costs
 * (compressing, writing) small, and are few enough to be sent while the next piece renders.
 */
const TEXTS_PER_PIECE = 4;
const encoder = new TextEncoder();

/**
 * Renders a piece of a family as {@linkcode renderFamily} writes it, as UTF-8: the series of
 * `sortedKeys` from `from` on, about 4096 lines of them, preceded by the HELP and TYPE lines
 * when `from` is 0. Returns the bytes and the index of the first series left for the next piece
 * (`sortedKeys.length` once all are written). Every piece ends a line.
 */
export function renderPiece(
  family: RenderableFamily,
  sortedKeys: readonly string[],
  from: number,
): [Uint8Array<ArrayBuffer>, number] {
  const texts = from === 0 ? [familyHeader(family)] : [];
  let next = from;
  for (let i = 0; i < TEXTS_PER_PIECE && next < sortedKeys.length; i++) {
    const [text, after] = renderSeries(family, sortedKeys, next);
    texts.push(text);
    next = after;
  }
  return [encodeAll(texts), next];
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

/** The pieces as one array, in order. */
export function concatBytes(pieces: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const piece of pieces) size += piece.byteLength;
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const piece of pieces) {
    whole.set(piece, offset);
    offset += piece.byteLength;
  }
  return whole;
}

function familyHeader(family: RenderableFamily): string {
  const help = family.help === undefined
    ? ""
    : `# HELP ${family.name} ${escapeHelp(family.help)}\n`;
  return `${help}# TYPE ${family.name} ${family.type}\n`;
}

/**
 * The lines of the series `keys[from]` on, until about {@linkcode LINES_PER_TEXT} lines are
 * written, and the index of the first series not written. Lines are joined with `+=`: V8 keeps
 * the pieces as a rope, which it copies once when the text is encoded; building an array of
 * parts to join measured slower.
 */
function renderSeries(
  family: RenderableFamily,
  keys: readonly string[],
  from: number,
  timestampOf?: (key: string) => number,
): [string, number] {
  const name = family.name;
  const series = family.series;
  const end = (key: string) => timestampOf === undefined ? "\n" : ` ${timestampOf(key)}\n`;
  const to = keys.length;
  let text = "";
  let i = from;
  switch (family.type) {
    case "histogram":
      for (let lines = 0; i < to && lines < LINES_PER_TEXT; i++) {
        const key = keys[i];
        const value = series.get(key) as HistogramValue;
        text += histogramLines(name, key, value, end(key));
        lines += value.bounds.length + 2;
      }
      break;
    case "summary":
      for (const stop = Math.min(to, from + LINES_PER_TEXT / 2); i < stop; i++) {
        const key = keys[i];
        const { count, sum } = series.get(key) as SummaryValue;
        const labels = key === "" ? "" : `{${key}}`;
        text += `${name}_sum${labels} ${formatValue(sum)}${end(key)}`;
        text += `${name}_count${labels} ${formatValue(count)}${end(key)}`;
      }
      break;
    default: {
      const open = name + "{";
      for (const stop = Math.min(to, from + LINES_PER_TEXT); i < stop; i++) {
        const key = keys[i];
        text += (key === "" ? name + " " : open + key + "} ") +
          formatValue(series.get(key) as number) + end(key);
      }
    }
  }
  return [text, i];
}

function histogramLines(name: string, key: string, value: HistogramValue, end: string): string {
  const prefix = key === "" ? `${name}_bucket{le="` : `${name}_bucket{${key},le="`;
  let text = "";
  for (let i = 0; i < value.bounds.length; i++) {
    text += prefix + formatValue(value.bounds[i]) + '"} ' + formatValue(value.counts[i]) + end;
  }
  const labels = key === "" ? "" : `{${key}}`;
  text += `${name}_sum${labels} ${formatValue(value.sum)}${end}`;
  return text + `${name}_count${labels} ${formatValue(value.count)}${end}`;
}
