// The checks of single values and names that every input format and the store share: sample
// names that must not collide, counters that never fall, histograms and summaries that are whole.
// Pure functions that throw PushError.

import { PushError } from "./errors.ts";
import {
  formatBound,
  formatValue,
  type HistogramValue,
  type MetricType,
  type SummaryValue,
} from "./model.ts";

/** The sample names a family of `type` renders, used to keep families from colliding. */
export function sampleNames(name: string, type: MetricType): string[] {
  switch (type) {
    case "histogram":
      return [name + "_bucket", name + "_sum", name + "_count"];
    case "summary":
      return [name, name + "_sum", name + "_count"];
    default:
      return [name];
  }
}

/**
 * Throws when two of `families` (distinct names) would write the same sample name, as a
 * histogram `h` and a gauge `h_count` would.
 */
export function checkSampleNames(families: Iterable<{ name: string; type: MetricType }>): void {
  const owners = new Map<string, string>();
  for (const family of families) {
    for (const sample of sampleNames(family.name, family.type)) {
      const owner = owners.get(sample);
      if (owner !== undefined) {
        throw new PushError(
          `metric "${family.name}" (${family.type}) and metric "${owner}" both write samples named "${sample}"`,
          "type_conflict",
        );
      }
      owners.set(sample, family.name);
    }
  }
}

/** How a series is written in messages: `name{labels}`. */
export function seriesName(name: string, key: string): string {
  return key === "" ? name : `${name}{${key}}`;
}

/**
 * {@linkcode seriesName} with the labels cut short after 200 chars: a message about a limit must
 * not echo a series with labels of megabytes.
 */
export function shortSeriesName(name: string, key: string): string {
  return seriesName(name, key.length > 200 ? key.slice(0, 200) + "…" : key);
}

/** A counter never decreases and is a number: negative and NaN values are refused. */
export function checkCounterValue(name: string, key: string, value: number): void {
  if (value >= 0) return;
  const why = Number.isNaN(value) ? "value NaN" : `negative value ${formatValue(value)}`;
  throw new PushError(`counter ${seriesName(name, key)} has ${why}`);
}

/**
 * The checks of a complete histogram that depend on its values: a count that is a number and
 * not negative, a `_count` equal to the `+Inf` bucket, and buckets that never fall.
 */
export function checkHistogramValues(name: string, key: string, value: HistogramValue): void {
  const { bounds, counts, count } = value;
  const what = () => `histogram ${seriesName(name, key)}`;
  if (!(count >= 0)) throw new PushError(`${what()} has invalid _count ${formatValue(count)}`);
  const inf = counts[counts.length - 1];
  if (count !== inf) {
    throw new PushError(
      `${what()} has _count ${formatValue(count)} but ${formatValue(inf)} in its le="+Inf" bucket`,
    );
  }
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] >= 0 && (i === 0 || counts[i] >= counts[i - 1])) continue;
    const le = `le="${formatBound(bounds[i])}"`;
    if (!(counts[i] >= 0)) {
      throw new PushError(`${what()} has invalid count ${formatValue(counts[i])} at ${le}`);
    }
    throw new PushError(`${what()} is not cumulative: the count falls at ${le}`);
  }
}

/** The check of a complete summary that depends on its values: a count that is not negative. */
export function checkSummaryValues(name: string, key: string, value: SummaryValue): void {
  if (!(value.count >= 0)) {
    throw new PushError(
      `summary ${seriesName(name, key)} has invalid _count ${formatValue(value.count)}`,
    );
  }
}
