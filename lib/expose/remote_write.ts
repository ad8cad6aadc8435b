// Encodes the aggregate as Prometheus remote-write 1.0 requests: protobuf `WriteRequest`
// messages of classic series, cut into bounded batches, and the stale markers of series that
// left. Pure; `app/remote_write.ts` compresses, queues and sends them.
// Spec: https://prometheus.io/docs/specs/remote_write_spec/
// Schema: https://github.com/prometheus/prometheus/blob/main/prompb/remote.proto and types.proto
// Wire format: https://protobuf.dev/programming-guides/encoding/

import {
  formatValue,
  type HistogramValue,
  type Label,
  type MetricType,
  type SeriesValue,
  type SummaryValue,
} from "../core/model.ts";

/** What the encoder needs of a family: the store's captured families have this shape. */
export interface WritableFamily {
  readonly name: string;
  readonly type: MetricType;
  /** Canonical label keys (`labelKey`), `values[i]` the value of `keys[i]`. */
  readonly keys: readonly string[];
  readonly values: readonly SeriesValue[];
}

/**
 * The little endian bytes of Prometheus' stale marker, the NaN `0x7ff0000000000002`
 * (model/value.StaleNaN). Written as bytes: a NaN passed through a JavaScript number may lose
 * its payload.
 */
const STALE_NAN_BYTES = new Uint8Array([0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]);

/** A sample value, or the stale marker of a series that left. */
export type WriteValue = number | "stale";

/** One encoded `TimeSeries`, as the field-1 entry of a `WriteRequest` (tag, length, message). */
export interface EncodedSeries {
  readonly bytes: Uint8Array;
}

/**
 * The labels of a canonical key (`a="1",b="x\"y"`), unescaped, in the key's (sorted) order.
 * The key is the store's own, written by `labelKey`, so it is well formed.
 */
export function labelsOfKey(key: string): Label[] {
  const labels: Label[] = [];
  let i = 0;
  while (i < key.length) {
    const eq = key.indexOf('="', i);
    const name = key.slice(i, eq);
    const quote = key.indexOf('"', eq + 2);
    const backslash = key.indexOf("\\", eq + 2);
    if (backslash === -1 || backslash > quote) {
      // No escape in the value, as nearly always: one slice.
      labels.push([name, key.slice(eq + 2, quote)]);
      i = quote + 2; // past `",`
      continue;
    }
    let value = "";
    let j = eq + 2;
    for (; key.charCodeAt(j) !== 34; j++) { // until the closing "
      const c = key[j];
      if (c === "\\") {
        const next = key[++j];
        value += next === "n" ? "\n" : next;
      } else {
        value += c;
      }
    }
    labels.push([name, value]);
    i = j + 2; // past `",`
  }
  return labels;
}

/** Appends `value` as a protobuf varint (non-negative, up to 2^53) at `pos`; returns the end. */
function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value >= 128) {
    out[pos++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Bytes of `text` in UTF-8 (a lone surrogate counts as U+FFFD, as TextEncoder writes it). */
function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      length += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      length += 2; // 4 bytes for the 2 code units of the pair
      i++;
    } else {
      length += 2;
    }
  }
  return length;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * Writes `text` as UTF-8 at `pos`; returns the end. By hand rather than with TextEncoder, which
 * costs a call and an allocation per string: ten times the time of the whole encoding here.
 */
function writeUtf8(out: Uint8Array, pos: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[pos++] = c;
    } else if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6);
      out[pos++] = 0x80 | (c & 63);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const low = text.charCodeAt(i + 1);
        if (c <= 0xdbff && isLowSurrogate(low)) {
          c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
          i++;
          out[pos++] = 0xf0 | (c >> 18);
          out[pos++] = 0x80 | ((c >> 12) & 63);
          out[pos++] = 0x80 | ((c >> 6) & 63);
          out[pos++] = 0x80 | (c & 63);
          continue;
        }
        c = 0xfffd;
      }
      out[pos++] = 0xe0 | (c >> 12);
      out[pos++] = 0x80 | ((c >> 6) & 63);
      out[pos++] = 0x80 | (c & 63);
    }
  }
  return pos;
}

/** Scratch for the sizes of one series' labels: names and values, in bytes. */
let sizes = new Int32Array(256);

/**
 * Encodes one `TimeSeries` of one sample as a `WriteRequest` entry: `labels` must be sorted by
 * name, with no name twice and no empty value (remote-write 1.0 requires both).
 */
export function encodeSeries(
  labels: readonly Label[],
  value: WriteValue,
  timestampMs: number,
): EncodedSeries {
  if (sizes.length < labels.length * 2) sizes = new Int32Array(labels.length * 4);
  let labelsSize = 0;
  for (let i = 0; i < labels.length; i++) {
    const n = utf8Length(labels[i][0]);
    const v = utf8Length(labels[i][1]);
    sizes[2 * i] = n;
    sizes[2 * i + 1] = v;
    const message = 1 + varintSize(n) + n + 1 + varintSize(v) + v;
    labelsSize += 1 + varintSize(message) + message;
  }
  // Sample: double value = 1 (fixed64), int64 timestamp = 2 (varint).
  const sampleSize = 1 + 8 + 1 + varintSize(timestampMs);
  const seriesSize = labelsSize + 1 + varintSize(sampleSize) + sampleSize;
  const out = new Uint8Array(1 + varintSize(seriesSize) + seriesSize);
  let pos = 0;
  out[pos++] = 0x0a; // WriteRequest.timeseries = 1
  pos = writeVarint(out, pos, seriesSize);
  for (let i = 0; i < labels.length; i++) {
    const n = sizes[2 * i];
    const v = sizes[2 * i + 1];
    out[pos++] = 0x0a; // TimeSeries.labels = 1
    pos = writeVarint(out, pos, 1 + varintSize(n) + n + 1 + varintSize(v) + v);
    out[pos++] = 0x0a; // Label.name = 1
    pos = writeVarint(out, pos, n);
    pos = writeUtf8(out, pos, labels[i][0]);
    out[pos++] = 0x12; // Label.value = 2
    pos = writeVarint(out, pos, v);
    pos = writeUtf8(out, pos, labels[i][1]);
  }
  out[pos++] = 0x12; // TimeSeries.samples = 2
  pos = writeVarint(out, pos, sampleSize);
  out[pos++] = 0x09; // Sample.value = 1, fixed64
  if (value === "stale") {
    out.set(STALE_NAN_BYTES, pos);
  } else {
    FLOAT[0] = value;
    out.set(FLOAT_BYTES, pos);
  }
  pos += 8;
  out[pos++] = 0x10; // Sample.timestamp = 2, varint
  writeVarint(out, pos, timestampMs);
  return { bytes: out };
}

/** A double's bytes, little endian as protobuf writes them (every platform Deno runs on is). */
const FLOAT = new Float64Array(1);
const FLOAT_BYTES = new Uint8Array(FLOAT.buffer);

/** The labels of a sample: the series' own, `__name__`, an extra one (`le`), the external ones. */
function sampleLabels(
  name: string,
  own: readonly Label[],
  extra: Label | undefined,
  external: readonly Label[],
): Label[] {
  const labels: Label[] = [["__name__", name], ...own];
  if (extra !== undefined) labels.push(extra);
  // As Prometheus' external_labels: a label the series has wins over an external one.
  for (const label of external) {
    if (!labels.some(([n]) => n === label[0])) labels.push(label);
  }
  return labels.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The classic samples of one series, as a scrape shows them: a bare value, or a histogram's
 * `_bucket` per bound (with `le`), `_sum` and `_count`, or a summary's `_sum` and `_count`.
 * `value` undefined with `type` and `bounds` gives the same samples for a stale marker.
 */
function* classicSamples(
  name: string,
  type: MetricType,
  value: SeriesValue | undefined,
  bounds: readonly number[] | undefined,
): Generator<[sample: string, extra: Label | undefined, value: WriteValue]> {
  if (type === "histogram") {
    const h = value as HistogramValue | undefined;
    const les = h?.bounds ?? bounds ?? [];
    for (let i = 0; i < les.length; i++) {
      yield [
        `${name}_bucket`,
        ["le", formatValue(les[i])],
        h === undefined ? "stale" : h.counts[i],
      ];
    }
  }
  if (type === "histogram" || type === "summary") {
    const s = value as SummaryValue | undefined;
    yield [`${name}_sum`, undefined, s === undefined ? "stale" : s.sum];
    yield [`${name}_count`, undefined, s === undefined ? "stale" : s.count];
    return;
  }
  yield [name, undefined, value === undefined ? "stale" : value as number];
}

/** What was sent of a family, to know later which of its series left. */
interface SentFamily {
  readonly type: MetricType;
  /** Each key sent, with a histogram's bounds. */
  readonly keys: Map<string, readonly number[] | undefined>;
}

/**
 * Turns captures of the aggregate, one per interval, into the samples to write: every series
 * with its value, and a stale marker for each series sent last time that is gone now (TTL,
 * DELETE, a histogram bound no longer there), so that a receiver ends it at once instead of
 * five minutes later. Keeps only the keys (the store's own strings) of what it sent.
 */
export class RemoteWriteEncoder {
  readonly #external: readonly Label[];
  #sent = new Map<string, SentFamily>();

  /** `external`: labels added to every series that lacks them (`--remoteWriteLabel`). */
  constructor(external: readonly Label[]) {
    this.#external = external;
  }

  /** Every sample of `families`, then the stale markers, encoded with `timestampMs`. */
  *encode(families: readonly WritableFamily[], timestampMs: number): Generator<EncodedSeries> {
    const sent = new Map<string, SentFamily>();
    const external = this.#external;
    for (const family of families) {
      const keys = new Map<string, readonly number[] | undefined>();
      sent.set(family.name, { type: family.type, keys });
      for (let i = 0; i < family.keys.length; i++) {
        const key = family.keys[i];
        const value = family.values[i];
        keys.set(key, family.type === "histogram" ? (value as HistogramValue).bounds : undefined);
        const own = labelsOfKey(key);
        for (const [name, extra, v] of classicSamples(family.name, family.type, value, undefined)) {
          yield encodeSeries(sampleLabels(name, own, extra, external), v, timestampMs);
        }
      }
    }
    for (const [name, before] of this.#sent) {
      const now = sent.get(name);
      for (const [key, bounds] of before.keys) {
        const own = labelsOfKey(key);
        if (now === undefined || now.type !== before.type || !now.keys.has(key)) {
          for (const [sample, extra] of classicSamples(name, before.type, undefined, bounds)) {
            yield encodeSeries(sampleLabels(sample, own, extra, external), "stale", timestampMs);
          }
        } else if (bounds !== undefined) {
          const kept = new Set(now.keys.get(key));
          for (const bound of bounds) {
            if (kept.has(bound)) continue;
            const labels = sampleLabels(
              `${name}_bucket`,
              own,
              ["le", formatValue(bound)],
              external,
            );
            yield encodeSeries(labels, "stale", timestampMs);
          }
        }
      }
    }
    this.#sent = sent;
  }
}

/** A `WriteRequest` body (before compression) and the samples it holds. */
export interface WriteBatch {
  readonly body: Uint8Array<ArrayBuffer>;
  readonly samples: number;
}

/**
 * Cuts encoded series into `WriteRequest` bodies of at most `maxSamples` samples and, unless a
 * single series is larger, `maxBytes` bytes. Repeated fields concatenate in protobuf, so a body
 * is the entries one after another.
 */
export function* batchSeries(
  series: Iterable<EncodedSeries>,
  maxSamples: number,
  maxBytes: number,
): Generator<WriteBatch> {
  let parts: Uint8Array[] = [];
  let bytes = 0;
  const flush = (): WriteBatch => {
    const body = new Uint8Array(bytes);
    let pos = 0;
    for (const part of parts) {
      body.set(part, pos);
      pos += part.length;
    }
    const batch = { body, samples: parts.length };
    parts = [];
    bytes = 0;
    return batch;
  };
  for (const { bytes: entry } of series) {
    if (parts.length > 0 && (parts.length >= maxSamples || bytes + entry.length > maxBytes)) {
      yield flush();
    }
    parts.push(entry);
    bytes += entry.length;
  }
  if (parts.length > 0) yield flush();
}
