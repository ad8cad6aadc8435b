// Test helper: reads one sample from exposition text, such as the gateway's own metrics.

/**
 * The value of `series` (a name with its labels as the text writes them, such as
 * `pag_rejections_total{reason="parse"}`) in `text`, or undefined when it has no such line.
 */
export function sampleValue(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/**
 * The value of one series of the gateway's own metrics, scraped from its lifecycle listener;
 * 0 when absent, as a labelled counter is until its first increment.
 */
export async function selfMetric(gateway: { lifecycle: string }, series: string): Promise<number> {
  const text = await fetch(gateway.lifecycle + "/metrics").then((r) => r.text());
  return sampleValue(text, series) ?? 0;
}
