// Decodes the Prometheus protobuf exposition format: length-delimited
// `io.prometheus.client.MetricFamily` messages, what client_golang pushes by default.
// Schema: https://github.com/prometheus/client_model/blob/master/io/prometheus/client/metrics.proto
// Wire format: https://protobuf.dev/programming-guides/encoding/

import { ParseError, PushError } from "../core/errors.ts";
import { isMetricName, type Label, type MetricType, type Push } from "../core/model.ts";
import { type FamilyDraft, PushBuilder, type PushLimits, reservedLabel } from "./push_builder.ts";

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** MetricType enum values of metrics.proto. */
const TYPES: Record<number, MetricType | undefined> = {
  0: "counter",
  1: "gauge",
  2: "summary",
  3: "untyped",
  4: "histogram",
};

/**
 * Parses a body of delimited MetricFamily messages. A truncated or malformed message is a
 * {@linkcode ParseError} that says at which byte it broke; a family that decodes but is not a
 * valid push (bad name, negative counter, …) is a {@linkcode PushError} naming the metric.
 */
export function parseProtobuf(
  bytes: Uint8Array,
  grouping: readonly Label[] = [],
  limits?: PushLimits,
): Push {
  const builder = new PushBuilder(grouping, limits);
  const reader = new Reader(bytes, 0, bytes.length);
  while (!reader.done()) {
    const start = reader.pos;
    const length = reader.varint("the length of a MetricFamily");
    decodeFamily(reader.sub(length, `the MetricFamily at byte ${start}`), builder);
  }
  return builder.finish();
}

/** Reads protobuf wire types from `bytes[pos, end)`. */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  pos: number;
  readonly end: number;

  constructor(bytes: Uint8Array, pos: number, end: number) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = pos;
    this.end = end;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** An unsigned varint; up to 64 bits, exact to 2^53. */
  varint(what: string): number {
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) fail(`truncated varint for ${what}`, start);
      const byte = this.#bytes[this.pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    return fail(`varint longer than 10 bytes for ${what}`, start);
  }

  double(what: string): number {
    if (this.end - this.pos < 8) fail(`truncated double for ${what}`, this.pos);
    const value = this.#view.getFloat64(this.pos, true);
    this.pos += 8;
    return value;
  }

  /** A reader over the next `length` bytes, which it skips. */
  sub(length: number, what: string): Reader {
    if (length > this.end - this.pos) {
      fail(`${what} claims ${length} bytes, but only ${this.end - this.pos} remain`, this.pos);
    }
    const reader = new Reader(this.#bytes, this.pos, this.pos + length);
    this.pos += length;
    return reader;
  }

  string(what: string): string {
    const start = this.pos;
    const length = this.varint(what);
    const sub = this.sub(length, what);
    try {
      return UTF8.decode(this.#bytes.subarray(sub.pos, sub.end));
    } catch {
      return fail(`${what} is not valid UTF-8`, start);
    }
  }

  /** Reads a field key; returns [field number, wire type]. */
  key(): [number, number] {
    const start = this.pos;
    const key = this.varint("a field key");
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) fail("field number 0", start);
    if (
      wireType !== VARINT && wireType !== FIXED64 && wireType !== LENGTH_DELIMITED &&
      wireType !== FIXED32
    ) {
      fail(`unsupported wire type ${wireType}`, start);
    }
    return [field, wireType];
  }

  /** Skips a field of an unknown number, or of a known one with an unexpected wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint("a skipped field");
        return;
      case FIXED64:
        this.sub(8, "a skipped fixed64 field");
        return;
      case LENGTH_DELIMITED:
        this.sub(this.varint("a skipped field"), "a skipped field");
        return;
      default: // FIXED32, the last wire type key() lets through
        this.sub(4, "a skipped fixed32 field");
    }
  }
}

// ignoreBOM: a leading U+FEFF in a string field is part of the value, not a mark to drop.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function fail(message: string, byte: number): never {
  throw new ParseError(`protobuf: ${message} at byte ${byte}`);
}

function decodeFamily(reader: Reader, builder: PushBuilder): void {
  const familyStart = reader.pos;
  let name = "";
  let help: string | undefined;
  let typeNumber = 0;
  const metrics: Reader[] = [];
  while (!reader.done()) {
    const [field, wireType] = reader.key();
    if (field === 1 && wireType === LENGTH_DELIMITED) name = reader.string("the family name");
    else if (field === 2 && wireType === LENGTH_DELIMITED) help = reader.string("the HELP text");
    else if (field === 3 && wireType === VARINT) typeNumber = reader.varint("the metric type");
    else if (field === 4 && wireType === LENGTH_DELIMITED) {
      metrics.push(reader.sub(reader.varint("a Metric"), "a Metric"));
    } else reader.skip(wireType);
  }
  if (!isMetricName(name)) {
    throw new PushError(`invalid metric name "${name}" in the MetricFamily at byte ${familyStart}`);
  }
  const type = TYPES[typeNumber];
  if (type === undefined) {
    const what = typeNumber === 5 ? "gauge histograms are" : `metric type ${typeNumber} is`;
    throw new PushError(`metric "${name}": ${what} not supported`);
  }
  const family = builder.family(name, type, help || undefined);
  for (const metric of metrics) decodeMetric(metric, family, builder);
}

/** Fields of a Metric: labels, then the value message that the family's type reads. */
function decodeMetric(reader: Reader, family: FamilyDraft, builder: PushBuilder): void {
  const labels: string[] = [];
  let value: Reader | undefined;
  // The field that holds the value for each type (metrics.proto's Metric message).
  const valueField = { gauge: 2, counter: 3, summary: 4, untyped: 5, histogram: 7 }[family.type];
  while (!reader.done()) {
    const [field, wireType] = reader.key();
    if (field === 1 && wireType === LENGTH_DELIMITED) {
      decodeLabel(reader.sub(reader.varint("a LabelPair"), "a LabelPair"), labels);
    } else if (field === valueField && wireType === LENGTH_DELIMITED) {
      value = reader.sub(reader.varint("a metric value"), "a metric value");
    } else reader.skip(wireType); // timestamp_ms and the fields of other types
  }
  const key = builder.seriesKey(labels, reservedLabel(family.type));
  switch (family.type) {
    case "histogram":
      return decodeHistogram(value, family, key, builder);
    case "summary":
      return decodeSummary(value, family, key, builder);
    default:
      return builder.addValue(family, key, decodeScalar(value));
  }
}

function decodeLabel(reader: Reader, labels: string[]): void {
  let name = "";
  let value = "";
  while (!reader.done()) {
    const [field, wireType] = reader.key();
    if (field === 1 && wireType === LENGTH_DELIMITED) name = reader.string("a label name");
    else if (field === 2 && wireType === LENGTH_DELIMITED) value = reader.string("a label value");
    else reader.skip(wireType);
  }
  labels.push(name, value);
}

/** Counter, Gauge and Untyped all hold `double value = 1`; an absent message is 0. */
function decodeScalar(reader: Reader | undefined): number {
  let value = 0;
  while (reader !== undefined && !reader.done()) {
    const [field, wireType] = reader.key();
    if (field === 1 && wireType === FIXED64) value = reader.double("a value");
    else reader.skip(wireType); // exemplar, created_timestamp
  }
  return value;
}

function decodeSummary(
  reader: Reader | undefined,
  family: FamilyDraft,
  key: string,
  builder: PushBuilder,
): void {
  let count = 0;
  let sum = 0;
  while (reader !== undefined && !reader.done()) {
    const [field, wireType] = reader.key();
    if (field === 1 && wireType === VARINT) count = reader.varint("sample_count");
    else if (field === 2 && wireType === FIXED64) sum = reader.double("sample_sum");
    else reader.skip(wireType); // quantiles are dropped; created_timestamp
  }
  builder.addCount(family, key, count);
  builder.addSum(family, key, sum);
}

/**
 * A classic histogram. The `+Inf` bucket is implied by `sample_count`; a histogram with only
 * native (sparse) buckets becomes that one `+Inf` bucket.
 */
function decodeHistogram(
  reader: Reader | undefined,
  family: FamilyDraft,
  key: string,
  builder: PushBuilder,
): void {
  let count = 0;
  let sum = 0;
  let hasInf = false;
  while (reader !== undefined && !reader.done()) {
    const [field, wireType] = reader.key();
    if (field === 1 && wireType === VARINT) count = reader.varint("sample_count");
    else if (field === 4 && wireType === FIXED64) count = reader.double("sample_count_float");
    else if (field === 2 && wireType === FIXED64) sum = reader.double("sample_sum");
    else if (field === 3 && wireType === LENGTH_DELIMITED) {
      const [bound, cumulative] = decodeBucket(reader.sub(reader.varint("a Bucket"), "a Bucket"));
      if (bound === Infinity) hasInf = true;
      builder.addBucket(family, key, bound, cumulative);
    } else reader.skip(wireType); // exemplars, created_timestamp, native histogram fields
  }
  if (!hasInf) builder.addBucket(family, key, Infinity, count);
  builder.addCount(family, key, count);
  builder.addSum(family, key, sum);
}

function decodeBucket(reader: Reader): [number, number] {
  let cumulative = 0;
  let bound = 0;
  while (!reader.done()) {
    const [field, wireType] = reader.key();
    if (field === 1 && wireType === VARINT) cumulative = reader.varint("cumulative_count");
    else if (field === 4 && wireType === FIXED64) {
      cumulative = reader.double("cumulative_count_float");
    } else if (field === 2 && wireType === FIXED64) bound = reader.double("upper_bound");
    else reader.skip(wireType);
  }
  return [bound, cumulative];
}
