// Push bodies for the benchmarks, generated so that every run measures the same input.

/**
 * A typical push of 110 samples: counters, gauges, histograms, a summary and untyped series,
 * like one batch job or page reports. `variant` changes one label value so that different
 * variants make different series; `round` changes the values, as a sender's next push would.
 */
export function typicalPush(variant = 0, round = 0): string {
  const r = round + 1;
  let text = "# HELP http_requests_total Requests handled.\n# TYPE http_requests_total counter\n";
  for (const method of ["get", "post", "put", "delete"]) {
    for (const code of ["200", "201", "204", "301", "400", "401", "403", "404", "500", "503"]) {
      text += `http_requests_total{method="${method}",code="${code}",shard="${variant}"} ${
        3 * r
      }\n`;
    }
  }
  text += "# TYPE queue_depth gauge\n";
  for (let i = 0; i < 20; i++) {
    text += `queue_depth{queue="q${i}",shard="${variant}"} ${i + round}\n`;
  }
  text += "# TYPE request_seconds histogram\n";
  const bounds = [
    "0.005",
    "0.01",
    "0.025",
    "0.05",
    "0.1",
    "0.25",
    "0.5",
    "1",
    "2.5",
    "5",
    "10",
    "+Inf",
  ];
  for (const route of ["/a", "/b"]) {
    bounds.forEach((le, i) => {
      text += `request_seconds_bucket{route="${route}",shard="${variant}",le="${le}"} ${
        (i + 1) * r
      }\n`;
    });
    text += `request_seconds_sum{route="${route}",shard="${variant}"} ${4.25 * r}\n`;
    text += `request_seconds_count{route="${route}",shard="${variant}"} ${12 * r}\n`;
  }
  text += "# TYPE rpc_seconds summary\n";
  for (const rpc of ["get", "put"]) {
    for (const q of ["0.5", "0.9", "0.99"]) {
      text += `rpc_seconds{rpc="${rpc}",shard="${variant}",quantile="${q}"} 0.1\n`;
    }
    text += `rpc_seconds_sum{rpc="${rpc}",shard="${variant}"} ${2 * r}\n`;
    text += `rpc_seconds_count{rpc="${rpc}",shard="${variant}"} ${9 * r}\n`;
  }
  for (let i = 0; i < 12; i++) text += `build_step_runs{step="s${i}",shard="${variant}"} ${r}\n`;
  return text;
}

/** A body of `lines` counter series, each a different label set. */
export function counterLines(lines: number, offset = 0): string {
  let text = "# TYPE events_total counter\n";
  for (let i = offset; i < offset + lines; i++) {
    text += `events_total{source="host-${i % 1000}",kind="k${Math.floor(i / 1000)}"} ${i % 7}\n`;
  }
  return text;
}
