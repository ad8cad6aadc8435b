// What the store's families and series cost in memory, in bytes: the estimate that
// `--maxStoreBytes` limits. Pure arithmetic over names, keys and bucket counts, so that the store
// can count a series when it comes and give back exactly as much when it goes.

import type { HistogramValue, MetricType, PushFamily } from "../core/model.ts";

// The measured constants. How: `deno run --v8-flags=--expose-gc bench/store_bytes.ts` fills a
// store with 100k series in one family (and 100k families of one series, and 100k histograms),
// scrapes it once in plain text and once gzipped (so that the kept pieces of both are held), and
// divides Deno.memoryUsage() heapUsed + external, after forced garbage collections, by the count;
// the constants are what is left once the parts counted from the text (below) are taken out,
// rounded up. Deno 2.9 (V8 14, no pointer compression), labels like
// `instance="i1000",job="fill",kind="k1",source="host-7"`; the script prints the measured
// costs beside this estimate, to check the constants after a change.

/**
 * A family beyond its name, HELP and series: its record, its series table (a Map and the slot
 * arrays), its entry in the store's map, its scrape text's records and the buffers of one piece
 * of text and its gzip copy (each ~200 bytes of typed array and buffer objects, whatever the
 * size of the text).
 */
export const FAMILY_BYTES = 1400;
/**
 * A series beyond its key's chars, its value and its text: its entries in the family's Map and
 * slot arrays (with their spare room), its place in the render order, the string's header, and
 * its share of the gzip copy of the text (labels that repeat from series to series compress to
 * about a tenth).
 */
export const SERIES_BYTES = 72;
/** A histogram's value record and its two arrays' headers. */
export const HISTOGRAM_BYTES = 112;
/** A summary's value record. */
export const SUMMARY_BYTES = 40;
/** A bucket's bound and count: two doubles, with the spare room of a grown array. */
export const BUCKET_VALUE_BYTES = 24;
/** A number series' value: one double in the family's array, with its spare room. */
const NUMBER_BYTES = 12;
/**
 * The chars of a line beyond the name and the key: braces, blank, value (most are short), line
 * feed. A `_sum` or `_count` line adds its suffix.
 */
const LINE_CHARS = 16;
/** The chars of a `_bucket` line beyond the name and the key: the suffix, `,le="…"`, the count. */
const BUCKET_LINE_CHARS = 28;
/** The chars of the HELP and TYPE lines beyond the name (twice) and the HELP text. */
const HEADER_CHARS = 32;

/**
 * What V8 holds for the chars of `text`: one byte each when all are Latin-1, two otherwise (the
 * string's header is in the overheads above).
 */
export function stringBytes(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0xff) return 2 * text.length;
  }
  return text.length;
}

/** The length of `text` in UTF-8, as the scrape writes it (a lone surrogate as 3 bytes). */
export function utf8Bytes(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c < 0xdc00 && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 2; // a pair: 4 bytes for 2 units
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code < 0xe000;
}

/** What a family costs beyond its series: its records, its name and its HELP, held and written. */
export function familyBytes(name: string, help: string | undefined): number {
  return FAMILY_BYTES + 3 * name.length + HEADER_CHARS + helpBytes(help);
}

/** What a family's HELP text costs: held once and written once. */
export function helpBytes(help: string | undefined): number {
  return help === undefined ? 0 : stringBytes(help) + utf8Bytes(help);
}

/**
 * What a series costs: its key held once and written on each of its lines, with the family's
 * name, its value, and the overheads. `keyChars` is {@linkcode stringBytes} of the key and
 * `keyUtf8` {@linkcode utf8Bytes} (a caller may pass the key's length for both for a lower bound,
 * or three times it for an upper one); `buckets` counts a histogram's buckets, `+Inf` included.
 */
export function seriesBytes(
  nameLength: number,
  type: MetricType,
  keyChars: number,
  keyUtf8: number,
  buckets: number,
): number {
  const line = nameLength + lineKeyBytes(keyUtf8) + LINE_CHARS;
  switch (type) {
    case "histogram":
      return SERIES_BYTES + HISTOGRAM_BYTES + keyChars + 2 * line + 10 +
        buckets * bucketBytes(nameLength, keyUtf8);
    case "summary":
      return SERIES_BYTES + SUMMARY_BYTES + keyChars + 2 * line + 10;
    default:
      return SERIES_BYTES + NUMBER_BYTES + keyChars + line;
  }
}

/** What one bucket of a histogram series costs: its bound and count, and its line. */
export function bucketBytes(nameLength: number, keyUtf8: number): number {
  return BUCKET_VALUE_BYTES + nameLength + lineKeyBytes(keyUtf8) + BUCKET_LINE_CHARS;
}

/**
 * What the key costs on each line it is written on: its UTF-8 in the plain text, and half that
 * again for the gzip copy of the text. Measured: the labels of a family, which repeat from
 * series to series, deflate to a tenth of their size; random letters to 60%; other random text
 * would keep its size (half is the middle ground, and the name and the rest of a line, repeated
 * on every line, deflate to nearly nothing).
 */
function lineKeyBytes(keyUtf8: number): number {
  return keyUtf8 + (keyUtf8 >> 1);
}

/** {@linkcode seriesBytes} of the series `key` of a family `name`, counted exactly. */
export function seriesBytesOf(
  name: string,
  type: MetricType,
  key: string,
  buckets: number,
): number {
  return seriesBytes(name.length, type, stringBytes(key), utf8Bytes(key), buckets);
}

/**
 * No less than {@linkcode seriesBytes} of a series with a key of `keyLength` chars, whatever
 * they are: two bytes each held, three each written. O(1), for bounds worked out per push.
 */
export function seriesBytesAtMost(
  nameLength: number,
  type: MetricType,
  keyLength: number,
  buckets: number,
): number {
  return seriesBytes(nameLength, type, 2 * keyLength, 3 * keyLength, buckets);
}

/** No less than {@linkcode familyBytes}; O(1). */
export function familyBytesAtMost(name: string, help: string | undefined): number {
  return FAMILY_BYTES + 3 * name.length + HEADER_CHARS + 5 * (help?.length ?? 0);
}

/** No less than what the series of `family` would cost the store if all were new. */
export function pushBytesAtMost(family: PushFamily): number {
  if (family.bytes !== undefined) return family.bytes;
  const { name, type, keys, values } = family;
  let bytes = 0;
  for (let i = 0; i < keys.length; i++) {
    const buckets = type === "histogram" ? (values[i] as HistogramValue).bounds.length : 0;
    bytes += seriesBytesAtMost(name.length, type, keys[i].length, buckets);
  }
  return bytes;
}
