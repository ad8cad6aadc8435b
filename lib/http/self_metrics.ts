// The gateway's own metrics, served on the lifecycle listener: pushes, samples and rejections
// by outcome and reason, request durations, scrape render time, store size, build and memory.
// One instance per gateway, passed to the handlers; no global registry.

import type { RejectionReason } from "../core/errors.ts";
import type { ServerEvents } from "./http1.ts";
import { type HistogramValue, labelKey, type SeriesValue } from "../core/model.ts";
import { type RenderableFamily, renderFamily } from "../expose/render.ts";
import { COMMIT, VERSION } from "../core/version.ts";

/** The buckets of the duration histograms, in seconds. */
const DURATION_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  Infinity,
];

/** What the self metrics read from the store at scrape time. */
export interface StoreStats {
  readonly seriesCount: number;
  readonly familyCount: number;
  /** What the aggregate holds, in bytes, as `--maxStoreBytes` counts them. */
  readonly bytes: number;
  readonly expiredCount: number;
  readonly scrapeBacklogBytes: number;
  readonly scrapesCutOff: number;
}

/** What the self metrics read of `--rulesFile` and cumulative input, when a rules file is given. */
export interface RulesStats {
  readonly rulesLoaded: number;
  readonly lastReloadOk: boolean;
  /** When the rules in force were loaded, in seconds since the Unix epoch. */
  readonly lastReloadSuccessSeconds: number;
  readonly reloadFailures: number;
  readonly sources: number;
  readonly resets: number;
  readonly staleSources: number;
}

export type PushOutcome = "accepted" | "rejected";

export class SelfMetrics {
  readonly #pushes = new Map<string, number>();
  readonly #samples = new Map<string, number>();
  readonly #rejections = new Map<string, number>();
  readonly #requestDurations = new Map<string, HistogramValue>();
  /** The same histograms by handler and code, found without building a key per request. */
  readonly #requestHistograms = new Map<string, Map<number, HistogramValue>>();
  readonly #outcomeKeys: Record<PushOutcome, string> = {
    accepted: labelKey([["outcome", "accepted"]]),
    rejected: labelKey([["outcome", "rejected"]]),
  };
  readonly #renderDurations = new Map<string, HistogramValue>();
  readonly #startTime: number;
  #snapshotFailures = 0;
  #snapshotSeconds = 0;
  #snapshotBytes = 0;
  #snapshotSuccess = 0;
  #acceptErrors = 0;
  /** The budget of the per-path push caches, once the API handler reports it. */
  #pushCache: { readonly used: number } | undefined;
  /** The rules file's loads and the sources of cumulative input, when a rules file is given. */
  #rules: RulesStats | undefined;
  #connectionsRefused = 0;
  /** Families other modules keep, such as remote write's, rendered with these. */
  readonly #sources: (() => RenderableFamily[])[] = [];
  readonly #timeouts = new Map<string, number>(
    ["header", "body", "idle", "write"].map((phase) => [labelKey([["phase", phase]]), 0]),
  );

  /** What the HTTP servers report: accept errors, refused connections, timeouts by phase. */
  readonly connectionEvents: ServerEvents = {
    acceptError: () => this.#acceptErrors++,
    connectionRefused: () => this.#connectionsRefused++,
    timeout: (phase) => add(this.#timeouts, labelKey([["phase", phase]]), 1),
  };

  readonly #authFailures = new Map<string, number>();
  #tlsHandshakeFailures = 0;
  readonly #certificateReloads = new Map<string, number>(
    ["success", "failure"].map((result) => [labelKey([["result", result]]), 0]),
  );

  /** What the TLS layer of --webConfigFile reports: failed handshakes, certificate reloads. */
  readonly tlsEvents = {
    handshakeFailure: () => this.#tlsHandshakeFailures++,
    certificateReload: (result: "success" | "failure") =>
      add(this.#certificateReloads, labelKey([["result", result]]), 1),
  };

  /** Counts a request refused by `basic_auth_users`: no, wrong, or not yet checked credentials. */
  countAuthFailure(reason: "missing" | "wrong" | "busy"): void {
    add(this.#authFailures, labelKey([["reason", reason]]), 1);
  }

  constructor(startTime: number = Date.now()) {
    this.#startTime = startTime;
    // Outcomes start at zero so that rate() works from the first scrape.
    for (const key of Object.values(this.#outcomeKeys)) {
      this.#pushes.set(key, 0);
      this.#samples.set(key, 0);
    }
  }

  /** Reports the budget of the per-path push caches, whose use `pag_push_cache_bytes` shows. */
  trackPushCache(budget: { readonly used: number }): void {
    this.#pushCache = budget;
  }

  /** Adds the families that `source` returns to every render (remote write's, for one). */
  addFamilies(source: () => RenderableFamily[]): void {
    this.#sources.push(source);
  }

  /** When the gateway started, in milliseconds since the epoch. */
  get startTime(): number {
    return this.#startTime;
  }

  /** Pushes by outcome, for the status page. */
  pushCounts(): Record<PushOutcome, number> {
    return {
      accepted: this.#pushes.get(this.#outcomeKeys.accepted) ?? 0,
      rejected: this.#pushes.get(this.#outcomeKeys.rejected) ?? 0,
    };
  }

  /** Refused requests by reason, for the status page. */
  rejectionCounts(): Record<string, number> {
    // The keys are `reason="<reason>"`; reasons need no escaping.
    return Object.fromEntries(
      [...this.#rejections].map(([key, count]) => [key.slice(8, -1), count]),
    );
  }

  /** Reports the rules file's state, which the `pag_rules_*` and `pag_sources*` metrics show. */
  trackRules(stats: RulesStats): void {
    this.#rules = stats;
  }

  /** Counts a push and its samples; a rejected push counts its reason too. */
  countPush(outcome: PushOutcome, samples: number): void {
    const key = this.#outcomeKeys[outcome];
    add(this.#pushes, key, 1);
    add(this.#samples, key, samples);
  }

  /** Counts a refused request (push, delete or any other) by reason. */
  countRejection(reason: RejectionReason): void {
    add(this.#rejections, labelKey([["reason", reason]]), 1);
  }

  observeRequest(handler: string, code: number, seconds: number): void {
    let byCode = this.#requestHistograms.get(handler);
    if (byCode === undefined) this.#requestHistograms.set(handler, byCode = new Map());
    let histogram = byCode.get(code);
    if (histogram === undefined) {
      const key = labelKey([["code", String(code)], ["handler", handler]]);
      byCode.set(code, histogram = histogramOf(this.#requestDurations, key));
    }
    observeInto(histogram, seconds);
  }

  observeRender(seconds: number): void {
    observeInto(histogramOf(this.#renderDurations, ""), seconds);
  }

  /** Records a snapshot write: its duration, and its size or its failure. */
  observeSnapshot(seconds: number, bytes: number | undefined, now: number = Date.now()): void {
    this.#snapshotSeconds = seconds;
    if (bytes === undefined) {
      this.#snapshotFailures++;
    } else {
      this.#snapshotBytes = bytes;
      this.#snapshotSuccess = now / 1000;
    }
  }

  /**
   * Records that the snapshot file holds the store as it is, with no write: it was just loaded,
   * or nothing changed since the last write. An idle gateway's snapshot is current, not stale.
   */
  markSnapshotCurrent(now: number = Date.now()): void {
    this.#snapshotSuccess = now / 1000;
  }

  /** The metrics in the text format 0.0.4. */
  render(store: StoreStats): string {
    const memory = Deno.memoryUsage();
    const families: RenderableFamily[] = [
      counter("pag_pushes_total", "Pushes received, by outcome.", this.#pushes),
      counter(
        "pag_samples_total",
        "Series values in pushes, by outcome of the push.",
        this.#samples,
      ),
      counter("pag_rejections_total", "Requests refused, by reason.", this.#rejections),
      gauge("pag_series", "Series held in the aggregate.", store.seriesCount),
      gauge(
        "pag_store_bytes",
        "Bytes the aggregate takes in memory, as estimated for --maxStoreBytes.",
        store.bytes,
      ),
      gauge("pag_families", "Metric families held in the aggregate.", store.familyCount),
      gauge(
        "pag_push_cache_bytes",
        "Bytes the per-path caches of pushed series and push paths hold, as counted for --maxPushCacheBytes.",
        this.#pushCache?.used ?? 0,
      ),
      {
        name: "pag_series_expired_total",
        type: "counter",
        help: "Series dropped by --seriesTTL.",
        series: new Map([["", store.expiredCount]]),
      },
      gauge(
        "pag_snapshot_last_success_timestamp_seconds",
        "When the last snapshot was written, since the Unix epoch; 0 before the first.",
        this.#snapshotSuccess,
      ),
      gauge(
        "pag_snapshot_duration_seconds",
        "Time the last snapshot write took.",
        this.#snapshotSeconds,
      ),
      gauge("pag_snapshot_bytes", "Size of the last snapshot written.", this.#snapshotBytes),
      {
        name: "pag_snapshot_failures_total",
        type: "counter",
        help: "Snapshot writes that failed.",
        series: new Map([["", this.#snapshotFailures]]),
      },
      {
        name: "pag_http_request_duration_seconds",
        type: "histogram",
        help: "Time to answer API requests, by handler and status code.",
        series: this.#requestDurations,
      },
      {
        name: "pag_scrape_render_duration_seconds",
        type: "histogram",
        help: "Time to render the aggregate for a scrape.",
        series: this.#renderDurations,
      },
      {
        name: "pag_build_info",
        type: "gauge",
        help: "Build information; the value is always 1.",
        series: new Map([[
          labelKey([["commit", COMMIT], ["deno", Deno.version.deno], ["version", VERSION]]),
          1,
        ]]),
      },
      gauge(
        "pag_scrape_backlog_bytes",
        "Scrape text kept for scrapes still being sent after their families changed.",
        store.scrapeBacklogBytes,
      ),
      {
        name: "pag_scrapes_cut_off_total",
        type: "counter",
        help: "Scrapes cut off for falling behind by more than --maxScrapeBacklogBytes.",
        series: new Map([["", store.scrapesCutOff]]),
      },
      {
        name: "pag_accept_errors_total",
        type: "counter",
        help: "Connections the listeners failed to accept (out of file descriptors, most often).",
        series: new Map([["", this.#acceptErrors]]),
      },
      {
        name: "pag_connections_refused_total",
        type: "counter",
        help: "Connections closed at once: --maxConnections were open, or no buffer was left.",
        series: new Map([["", this.#connectionsRefused]]),
      },
      counter(
        "pag_connection_timeouts_total",
        "Connections closed for taking too long, by phase: header, body, idle or write.",
        this.#timeouts,
      ),
      counter(
        "pag_auth_failures_total",
        "Requests refused by basic_auth_users of --webConfigFile, by reason: missing, wrong, busy.",
        this.#authFailures,
      ),
      {
        name: "pag_tls_handshake_failures_total",
        type: "counter",
        help: "TLS connections that ended before their handshake completed, for any reason.",
        series: new Map([["", this.#tlsHandshakeFailures]]),
      },
      counter(
        "pag_tls_certificate_reloads_total",
        "Changes of the TLS certificate files, by result: success (now served) or failure (kept out).",
        this.#certificateReloads,
      ),
      gauge("process_resident_memory_bytes", "Resident memory size in bytes.", memory.rss),
      gauge("process_heap_bytes", "JavaScript heap in use, in bytes.", memory.heapUsed),
      gauge(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds.",
        this.#startTime / 1000,
      ),
    ];
    for (const source of this.#sources) families.push(...source());
    if (this.#rules !== undefined) families.push(...rulesFamilies(this.#rules));
    return families.map((family) => renderFamily(family)).join("");
  }
}

function rulesFamilies(rules: RulesStats): RenderableFamily[] {
  const total = (name: string, help: string, value: number): RenderableFamily => ({
    name,
    type: "counter",
    help,
    series: new Map([["", value]]),
  });
  return [
    gauge("pag_rules", "Rules of --rulesFile in force.", rules.rulesLoaded),
    gauge(
      "pag_rules_last_reload_successful",
      "Whether the last load of --rulesFile succeeded (1) or kept the rules in force (0).",
      rules.lastReloadOk ? 1 : 0,
    ),
    gauge(
      "pag_rules_last_reload_success_timestamp_seconds",
      "When the rules in force were loaded, since the Unix epoch.",
      rules.lastReloadSuccessSeconds,
    ),
    total(
      "pag_rules_reload_failures_total",
      "Reloads of --rulesFile refused for an invalid file.",
      rules.reloadFailures,
    ),
    gauge("pag_sources", "Source series of cumulative input held.", rules.sources),
    total(
      "pag_source_resets_total",
      "Resets of cumulative sources: a value below the source's last one.",
      rules.resets,
    ),
    total(
      "pag_sources_stale_total",
      "Sources of cumulative input forgotten after staleAfter without a push.",
      rules.staleSources,
    ),
  ];
}

function counter(name: string, help: string, series: Map<string, number>): RenderableFamily {
  return { name, type: "counter", help, series };
}

function gauge(name: string, help: string, value: number): RenderableFamily {
  return { name, type: "gauge", help, series: new Map<string, SeriesValue>([["", value]]) };
}

function add(map: Map<string, number>, key: string, amount: number): void {
  map.set(key, (map.get(key) ?? 0) + amount);
}

/** The histogram `key` of `map`, made empty if new. */
function histogramOf(map: Map<string, HistogramValue>, key: string): HistogramValue {
  let histogram = map.get(key);
  if (histogram === undefined) {
    histogram = {
      bounds: DURATION_BUCKETS,
      counts: DURATION_BUCKETS.map(() => 0),
      count: 0,
      sum: 0,
    };
    map.set(key, histogram);
  }
  return histogram;
}

function observeInto(histogram: HistogramValue, seconds: number): void {
  for (let i = 0; i < DURATION_BUCKETS.length; i++) {
    if (seconds <= DURATION_BUCKETS[i]) histogram.counts[i]++;
  }
  histogram.count++;
  histogram.sum += seconds;
}
