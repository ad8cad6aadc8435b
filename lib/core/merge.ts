// The aggregation rules of DESIGN.md as pure functions over series values: how a pushed value
// combines with the stored one for each metric type and gauge behaviour.

import type { Delta, HistogramValue, MetricType, SeriesValue, SummaryValue } from "./model.ts";

/** How gauges combine across pushes (`--gaugeBehavior`). */
export type GaugeBehavior = "replace" | "sum" | "max" | "min";

export const GAUGE_BEHAVIORS: readonly GaugeBehavior[] = ["replace", "sum", "max", "min"];

/**
 * Combines a pushed value into a stored one of the same family type and returns the result.
 * Histograms and summaries are updated in place (the store owns them) and returned; the
 * pushed value is never modified, so a push can be applied more than once.
 */
export function mergeValue(
  type: MetricType,
  stored: SeriesValue,
  pushed: SeriesValue,
  gaugeBehavior: GaugeBehavior,
): SeriesValue {
  switch (type) {
    case "counter":
    case "untyped":
      return (stored as number) + (pushed as number);
    case "gauge":
      return mergeGauge(stored as number, pushed as number, gaugeBehavior);
    case "histogram":
      return mergeHistogram(stored as HistogramValue, pushed as HistogramValue);
    case "summary":
      return mergeSummary(stored as SummaryValue, pushed as SummaryValue);
  }
}

/**
 * A gauge under `max` or `min` ignores a pushed NaN unless the stored value is NaN too, so one
 * NaN does not poison the gauge for good; `replace` and `sum` follow the arithmetic.
 */
export function mergeGauge(stored: number, pushed: number, behavior: GaugeBehavior): number {
  switch (behavior) {
    case "replace":
      return pushed;
    case "sum":
      return stored + pushed;
    case "max":
      return pushed > stored || Number.isNaN(stored) ? pushed : stored;
    case "min":
      return pushed < stored || Number.isNaN(stored) ? pushed : stored;
  }
}

/** Adds `_count` and `_sum`; quantiles are never kept. */
export function mergeSummary(stored: SummaryValue, pushed: SummaryValue): SummaryValue {
  stored.count += pushed.count;
  stored.sum += pushed.sum;
  return stored;
}

/**
 * Adds a pushed histogram to a stored one. With the same bounds the cumulative counts add
 * up bucket by bucket. With different bounds the result has the union of the bounds, and its
 * cumulative count at each bound `b` is the sum over both inputs of that input's cumulative
 * count at its largest bound `<= b` (0 if it has none). Every observation thus lands in the
 * lowest bucket that surely holds it, and the result stays cumulative.
 *
 * Example: `{1:5, +Inf:5}` + `{0.5:0, 2:3, +Inf:3}` = `{0.5:0, 1:5, 2:8, +Inf:8}`.
 */
export function mergeHistogram(stored: HistogramValue, pushed: HistogramValue): HistogramValue {
  const a = stored.bounds;
  const b = pushed.bounds;
  stored.count += pushed.count;
  stored.sum += pushed.sum;
  if (sameBounds(a, b)) {
    const counts = stored.counts;
    for (let i = 0; i < counts.length; i++) counts[i] += pushed.counts[i];
    return stored;
  }
  const bounds: number[] = [];
  const counts: number[] = [];
  let i = 0;
  let j = 0;
  let atA = 0; // cumulative count of `stored` at its largest bound seen so far
  let atB = 0;
  // Both lists end with +Inf, so the loop ends with both exhausted together.
  while (i < a.length || j < b.length) {
    const bound = Math.min(i < a.length ? a[i] : Infinity, j < b.length ? b[j] : Infinity);
    if (i < a.length && a[i] === bound) atA = stored.counts[i++];
    if (j < b.length && b[j] === bound) atB = pushed.counts[j++];
    bounds.push(bound);
    counts.push(atA + atB);
  }
  stored.bounds = bounds;
  stored.counts = counts;
  return stored;
}

/**
 * How many bounds {@linkcode mergeHistogram} gives a histogram with bounds `a` merged with one
 * with bounds `b` (both sorted): the size of their union, counted without building it.
 */
export function mergedBoundCount(a: readonly number[], b: readonly number[]): number {
  if (sameBounds(a, b)) return a.length;
  let i = 0;
  let j = 0;
  let count = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) i++, j++;
    else if (a[i] < b[j]) i++;
    else j++;
    count++;
  }
  return count + (a.length - i) + (b.length - j);
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A deep copy of a pushed value, for storing it as a new series the store then owns. */
export function copyValue(value: SeriesValue): SeriesValue {
  if (typeof value === "number") return value;
  if ("bounds" in value) {
    return {
      bounds: value.bounds.slice(),
      counts: value.counts.slice(),
      count: value.count,
      sum: value.sum,
    };
  }
  return { count: value.count, sum: value.sum };
}

/**
 * Applies one JSON delta to a stored series (undefined when the series is new) and returns the
 * result. A gauge `set` replaces and an `add` changes the value whatever `--gaugeBehavior` says:
 * a delta names its own operation. A new histogram takes the delta's bounds; an existing one
 * keeps its own, and the observation goes into the lowest of them that holds it.
 */
export function applyDelta(delta: Delta, stored: SeriesValue | undefined): SeriesValue {
  switch (delta.type) {
    case "counter":
    case "gauge":
      return delta.op === "set" ? delta.value : ((stored as number | undefined) ?? 0) + delta.value;
    case "histogram": {
      const histogram = (stored as HistogramValue | undefined) ?? {
        bounds: delta.bounds!.slice(),
        counts: delta.bounds!.map(() => 0),
        count: 0,
        sum: 0,
      };
      const { bounds, counts } = histogram;
      for (let i = bounds.length - 1; i >= 0 && delta.value <= bounds[i]; i--) counts[i]++;
      histogram.count++;
      histogram.sum += delta.value;
      return histogram;
    }
    case "summary": {
      const summary = (stored as SummaryValue | undefined) ?? { count: 0, sum: 0 };
      summary.count++;
      summary.sum += delta.value;
      return summary;
    }
  }
}
