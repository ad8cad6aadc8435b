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
  let text = family.help === undefined ? "" : `# HELP ${name} ${escapeHelp(family.help)}\n`;
  text += `# TYPE ${name} ${family.type}\n`;
  const keys = sortedKeys ?? [...family.series.keys()].sort();
  const end = (key: string) => timestampOf === undefined ? "\n" : ` ${timestampOf(key)}\n`;
  switch (family.type) {
    case "histogram":
      for (const key of keys) {
        text += renderHistogram(name, key, family.series.get(key) as HistogramValue, end(key));
      }
      break;
    case "summary":
      for (const key of keys) {
        const { count, sum } = family.series.get(key) as SummaryValue;
        const labels = key === "" ? "" : `{${key}}`;
        text += `${name}_sum${labels} ${formatValue(sum)}${end(key)}`;
        text += `${name}_count${labels} ${formatValue(count)}${end(key)}`;
      }
      break;
    default:
      for (const key of keys) {
        const labels = key === "" ? "" : `{${key}}`;
        text += `${name}${labels} ${formatValue(family.series.get(key) as number)}${end(key)}`;
      }
  }
  return text;
}

function renderHistogram(name: string, key: string, value: HistogramValue, end: string): string {
  const prefix = key === "" ? `${name}_bucket{le="` : `${name}_bucket{${key},le="`;
  let text = "";
  for (let i = 0; i < value.bounds.length; i++) {
    text += `${prefix}${formatValue(value.bounds[i])}"} ${formatValue(value.counts[i])}${end}`;
  }
  const labels = key === "" ? "" : `{${key}}`;
  text += `${name}_sum${labels} ${formatValue(value.sum)}${end}`;
  text += `${name}_count${labels} ${formatValue(value.count)}${end}`;
  return text;
}
