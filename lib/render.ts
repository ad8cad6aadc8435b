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
  const name = family.name;
  // Pieces joined once at the end: a large family renders to one flat string, which is faster
  // to build and to encode than a string grown by `+=`.
  const parts: string[] = [];
  if (family.help !== undefined) parts.push(`# HELP ${name} ${escapeHelp(family.help)}\n`);
  parts.push(`# TYPE ${name} ${family.type}\n`);
  const keys = sortedKeys ?? [...family.series.keys()].sort();
  const series = family.series;
  const end = (key: string) => timestampOf === undefined ? "\n" : ` ${timestampOf(key)}\n`;
  const open = name + "{";
  switch (family.type) {
    case "histogram":
      for (const key of keys) {
        renderHistogram(parts, name, key, series.get(key) as HistogramValue, end(key));
      }
      break;
    case "summary":
      for (const key of keys) {
        const { count, sum } = series.get(key) as SummaryValue;
        const labels = key === "" ? "" : `{${key}}`;
        parts.push(`${name}_sum${labels} ${formatValue(sum)}${end(key)}`);
        parts.push(`${name}_count${labels} ${formatValue(count)}${end(key)}`);
      }
      break;
    default:
      for (const key of keys) {
        if (key === "") parts.push(name, " ");
        else parts.push(open, key, "} ");
        parts.push(formatValue(series.get(key) as number), end(key));
      }
  }
  return parts.join("");
}

function renderHistogram(
  parts: string[],
  name: string,
  key: string,
  value: HistogramValue,
  end: string,
): void {
  const prefix = key === "" ? `${name}_bucket{le="` : `${name}_bucket{${key},le="`;
  for (let i = 0; i < value.bounds.length; i++) {
    parts.push(prefix, formatValue(value.bounds[i]), '"} ', formatValue(value.counts[i]), end);
  }
  const labels = key === "" ? "" : `{${key}}`;
  parts.push(`${name}_sum${labels} ${formatValue(value.sum)}${end}`);
  parts.push(`${name}_count${labels} ${formatValue(value.count)}${end}`);
}
