// Sends the aggregate by Prometheus remote write 1.0 every interval to each `--remoteWriteURL`:
// captures the store, encodes and compresses it in bounded batches, and keeps one bounded
// queue and one sender per receiver, with retries, backoff, timeouts and self metrics.
// Spec: https://prometheus.io/docs/specs/remote_write_spec/

import { concatBytes } from "../core/bytes.ts";
import { NAME, VERSION } from "../core/version.ts";
import type { Logger } from "../core/logger.ts";
import { type Label, labelKey } from "../core/model.ts";
import type { RenderableFamily } from "../expose/render.ts";
import { batchSeries, RemoteWriteEncoder } from "../expose/remote_write.ts";
import { snappyCompress } from "../expose/snappy.ts";
import type { Store } from "../store/store.ts";

/** Uncompressed bytes of one request at most, unless a single series is larger. */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/** The first wait before a retry; it doubles up to `MAX_BACKOFF_MS`. */
const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;
/** The longest `Retry-After` obeyed; a longer one waits this long. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;
/** Bytes of a refusal's body read and kept for the log. */
const MAX_ERROR_BODY_BYTES = 256;
/** The final send at shutdown takes this long at most, or --remoteWriteTimeout if shorter. */
export const MAX_FINAL_SEND_MS = 5000;
/** Bytes of a password or token file read at most. */
const MAX_SECRET_BYTES = 64 * 1024;

/** How the receiver is told who sends: HTTP Basic or a bearer token, each inline or in a file. */
export type RemoteWriteAuth =
  | { kind: "basic"; username: string; password: Secret }
  | { kind: "bearer"; token: Secret };

/** A secret given as a value (flag or environment) or as a file read at every request. */
export type Secret = { value: string } | { file: string };

export interface RemoteWriteOptions {
  urls: readonly URL[];
  intervalMs: number;
  /** Added to every series that lacks them, sorted by name. */
  labels: readonly Label[];
  /** Extra headers sent with every request (`--remoteWriteHeader`), such as a tenant's. */
  headers: readonly [string, string][];
  auth: RemoteWriteAuth | undefined;
  timeoutMs: number;
  maxSamplesPerRequest: number;
  /** Compressed bytes each receiver's queue may hold; the oldest batches go beyond. */
  maxQueueBytes: number;
}

/** A compressed request body, shared by the queues of every receiver. */
interface Batch {
  readonly body: Uint8Array<ArrayBuffer>;
  readonly samples: number;
}

/** A receiver's counters, for the self metrics. */
interface ReceiverStats {
  sent: number;
  failed: number;
  dropped: number;
  retries: number;
  lastSuccess: number;
}

/** A remote write setting that cannot be used at start, such as an unreadable secret file. */
export class RemoteWriteSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RemoteWriteSetupError";
  }
}

/** The URL as logs and metrics show it: no credentials, no query (which may hold a key). */
export function describeUrl(url: URL): string {
  return url.origin + url.pathname;
}

/** Reads a secret: a file's content without its trailing line break, or the value. */
export async function readSecret(secret: Secret): Promise<string> {
  if ("value" in secret) return secret.value;
  using file = await Deno.open(secret.file);
  const buffer = new Uint8Array(MAX_SECRET_BYTES + 1);
  let length = 0;
  for (let n; length < buffer.length && (n = await file.read(buffer.subarray(length))) !== null;) {
    length += n;
  }
  if (length > MAX_SECRET_BYTES) {
    throw new Error(`${secret.file} is longer than ${MAX_SECRET_BYTES} bytes`);
  }
  const text = new TextDecoder().decode(buffer.subarray(0, length)).replace(/\r?\n$/, "");
  if (text === "") throw new Error(`${secret.file} is empty`);
  return text;
}

/** The `Authorization` header value, the files read anew (so a rotated secret takes effect). */
async function authorizationOf(auth: RemoteWriteAuth | undefined): Promise<string | undefined> {
  if (auth === undefined) return undefined;
  if (auth.kind === "bearer") return `Bearer ${await readSecret(auth.token)}`;
  const pair = new TextEncoder().encode(`${auth.username}:${await readSecret(auth.password)}`);
  return `Basic ${btoa(String.fromCharCode(...pair))}`;
}

/** The wait a `Retry-After` header asks for (seconds or an HTTP date), if any, capped. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const seconds = /^\d+$/.test(header.trim()) ? Number(header.trim()) * 1000 : undefined;
  const ms = seconds ?? Date.parse(header) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** One receiver: its bounded queue and the loop that sends it, one request at a time. */
class Receiver {
  readonly url: URL;
  readonly label: string;
  readonly stats: ReceiverStats = { sent: 0, failed: 0, dropped: 0, retries: 0, lastSuccess: 0 };
  readonly #queue: Batch[] = [];
  #queueBytes = 0;
  readonly #options: RemoteWriteOptions;
  readonly #logger: Logger;
  readonly #stopped: AbortSignal;
  /** Wakes the loop when a batch arrives or the one in retry is dropped. */
  #wake: (() => void) | undefined;
  /**
   * Whether the loop runs. It is cleared by the loop itself, in the same step as its last look
   * at the queue, so that a batch queued at any moment either is seen by the loop or starts one.
   */
  #running = false;

  constructor(url: URL, options: RemoteWriteOptions, logger: Logger, stopped: AbortSignal) {
    this.url = url;
    this.label = describeUrl(url);
    this.#options = options;
    this.#logger = logger;
    this.#stopped = stopped;
  }

  get queueLength(): number {
    return this.#queue.length;
  }

  get queueBytes(): number {
    return this.#queueBytes;
  }

  /** Queues `batch`, dropping the oldest batches (the one in retry too) past the byte bound. */
  enqueue(batch: Batch): void {
    this.#queue.push(batch);
    this.#queueBytes += batch.body.length;
    let dropped = 0;
    while (this.#queueBytes > this.#options.maxQueueBytes && this.#queue.length > 1) {
      const oldest = this.#queue.shift()!;
      this.#queueBytes -= oldest.body.length;
      this.stats.dropped += oldest.samples;
      dropped += oldest.samples;
    }
    if (dropped > 0) {
      this.#logger.warn("remote write queue full: dropped the oldest samples", {
        url: this.label,
        dropped,
      });
    }
    if (!this.#running) {
      this.#running = true;
      this.#run(); // never rejects: a failed send is logged and retried
    }
    this.#wake?.();
  }

  async #run(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    try {
      while (this.#queue.length > 0 && !this.#stopped.aborted) {
        const batch = this.#queue[0];
        let wait: number | undefined;
        try {
          wait = await this.#send(batch);
        } catch (error) {
          // Nothing here may reject: an unhandled rejection would end the process.
          this.#logger.error("remote write: unexpected error: retrying", { error: String(error) });
          wait = 0;
        }
        if (this.#queue[0] !== batch) continue; // dropped while in flight: counted as dropped
        if (wait === undefined) {
          this.#queue.shift();
          this.#queueBytes -= batch.body.length;
          backoff = MIN_BACKOFF_MS;
          continue;
        }
        this.stats.retries++;
        await this.#sleep(wait === 0 ? backoff : wait, batch);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    } finally {
      // In the same step as the loop's last look at the queue: no await in between.
      this.#running = false;
    }
  }

  /** Waits `ms`, or less if `batch` is dropped meanwhile or the writer stops. */
  async #sleep(ms: number, batch: Batch): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until && this.#queue[0] === batch && !this.#stopped.aborted) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#wake = resolve;
      const timer = setTimeout(resolve, until - Date.now());
      const onAbort = () => resolve();
      this.#stopped.addEventListener("abort", onAbort, { once: true });
      await promise;
      clearTimeout(timer);
      this.#stopped.removeEventListener("abort", onAbort);
      this.#wake = undefined;
    }
  }

  /**
   * Sends `batch` once, at shutdown, outside the queue (which is abandoned by then): resolves
   * true when the receiver took it, false when it refused, failed, or `deadline` came first.
   */
  async sendFinal(batch: Batch, deadline: AbortSignal): Promise<boolean> {
    const sent = this.stats.sent;
    try {
      await this.#send(batch, deadline);
    } catch {
      return false; // logged by the caller, as the whole final send
    }
    return this.stats.sent > sent;
  }

  /**
   * Sends `batch` once. Resolves undefined when it is done with (sent, or refused for good and
   * counted failed, or `stopped`), or with the time to wait before the next try (0 means the
   * backoff).
   */
  async #send(batch: Batch, stopped = this.#stopped): Promise<number | undefined> {
    const headers: Record<string, string> = {
      ...Object.fromEntries(this.#options.headers),
      "Content-Encoding": "snappy",
      "Content-Type": "application/x-protobuf",
      // The spec asks for the sender's name and version.
      "User-Agent": `${NAME}/${VERSION}`,
      "X-Prometheus-Remote-Write-Version": "0.1.0",
    };
    let response: Response;
    try {
      const authorization = await authorizationOf(this.#options.auth);
      if (authorization !== undefined) headers["Authorization"] = authorization;
      response = await fetch(this.url, {
        method: "POST",
        headers,
        body: batch.body,
        // A redirect would carry the body and the headers (secrets too) elsewhere: refused below.
        redirect: "manual",
        signal: AbortSignal.any([AbortSignal.timeout(this.#options.timeoutMs), stopped]),
      });
    } catch (error) {
      if (stopped.aborted) return undefined;
      this.#logger.warn("remote write failed: retrying", {
        url: this.label,
        error: describeError(error, this.url),
      });
      return 0;
    }
    if (response.ok) {
      await response.body?.cancel();
      this.stats.sent += batch.samples;
      this.stats.lastSuccess = Date.now();
      return undefined;
    }
    const text = await readErrorBody(response);
    if (response.status >= 500 || response.status === 429) {
      this.#logger.warn("remote write refused for now: retrying", {
        url: this.label,
        status: response.status,
        body: text,
      });
      return retryAfterMs(response.headers.get("Retry-After"), Date.now()) ?? 0;
    }
    this.stats.failed += batch.samples;
    this.#logger.error("remote write refused: samples dropped", {
      url: this.label,
      status: response.status,
      samples: batch.samples,
      body: text,
      ...(response.status < 400 ? { location: response.headers.get("Location") ?? "" } : {}),
    });
    return undefined;
  }
}

/**
 * The start of a refusal's body, for the log: at most `MAX_ERROR_BODY_BYTES` are read, within
 * the request's timeout, and the rest is cancelled, so a receiver cannot make the gateway hold
 * a large answer.
 */
async function readErrorBody(response: Response): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    while (length < MAX_ERROR_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      length += value.length;
    }
    await reader.cancel();
  } catch {
    // a body cut short still has its start
  }
  return new TextDecoder().decode(concatBytes(chunks).subarray(0, MAX_ERROR_BODY_BYTES)).trim();
}

/**
 * An error for the log, with its causes: fetch says only "fetch failed" and keeps the reason
 * (connection refused, a DNS failure, TLS) in `cause`, whose text holds the URL: written as the
 * metrics' label, without a query's secrets.
 */
function describeError(error: unknown, url?: URL): string {
  if (error instanceof DOMException && error.name === "TimeoutError") return "timed out";
  let text = error instanceof Error ? error.message : String(error);
  for (let e = error, i = 0; e instanceof Error && e.cause !== undefined && i < 4; i++) {
    e = e.cause;
    text += `: ${e instanceof Error ? e.message : String(e)}`;
  }
  return url === undefined ? text : text.replaceAll(url.href, describeUrl(url));
}

/**
 * Sends the store by remote write every `intervalMs` until {@linkcode RemoteWriter.stop}. Each
 * interval captures the store (a copy, as a snapshot takes: the scrape's cached text is not
 * touched and pushes are never held), encodes it once, and queues the same compressed batches
 * for every receiver.
 */
export class RemoteWriter {
  readonly #store: Store;
  readonly #options: RemoteWriteOptions;
  readonly #logger: Logger;
  readonly #encoder: RemoteWriteEncoder;
  readonly #receivers: Receiver[];
  readonly #stop = new AbortController();
  #timer: ReturnType<typeof setInterval> | undefined;
  #encoding = false;

  constructor(store: Store, options: RemoteWriteOptions, logger: Logger) {
    this.#store = store;
    this.#options = options;
    this.#logger = logger;
    this.#encoder = new RemoteWriteEncoder(options.labels);
    this.#receivers = options.urls.map((url) =>
      new Receiver(url, options, logger, this.#stop.signal)
    );
  }

  /** Reads the secret files once, so that a wrong path fails the start, not every request. */
  async checkSecrets(): Promise<void> {
    try {
      await authorizationOf(this.#options.auth);
    } catch (error) {
      throw new RemoteWriteSetupError(
        `remote write: cannot read a secret: ${describeError(error)}`,
      );
    }
  }

  start(): void {
    this.#timer = setInterval(() => this.tick(), this.#options.intervalMs);
  }

  /** Encodes the store now and queues it for every receiver. */
  async tick(): Promise<void> {
    if (this.#encoding) return; // the last interval's encoding is still running
    this.#encoding = true;
    try {
      this.#store.expire();
      const families = this.#store.capture();
      const timestamp = Date.now();
      const series = this.#encoder.encode(families, timestamp);
      const { maxSamplesPerRequest } = this.#options;
      for (const batch of batchSeries(series, maxSamplesPerRequest, MAX_REQUEST_BYTES)) {
        const compressed = { body: snappyCompress(batch.body), samples: batch.samples };
        for (const receiver of this.#receivers) receiver.enqueue(compressed);
        // Let pushes and scrapes in between batches of a large store.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } catch (error) {
      this.#logger.error("remote write: cannot encode the aggregate", { error: String(error) });
    } finally {
      this.#encoding = false;
    }
  }

  /**
   * Stops the timer and abandons what is queued or in flight: {@linkcode RemoteWriter.flush}
   * sends the aggregate once more when no push can come any more.
   */
  stop(): void {
    clearInterval(this.#timer);
    this.#stop.abort();
  }

  /**
   * The final send, at shutdown, after {@linkcode RemoteWriter.stop} and once the last pushes
   * are in the store: captures it and sends every batch once to every receiver (no retry), all
   * within `deadlineMs` (encoding included; by default --remoteWriteTimeout, at most
   * `MAX_FINAL_SEND_MS`), so that the pushes of the last interval are not
   * lost and the exit is never held longer. What the queue held is not sent: the aggregate now
   * carries every value it had, only newer. Resolves with the samples each receiver took.
   */
  async flush(
    deadlineMs = Math.min(this.#options.timeoutMs, MAX_FINAL_SEND_MS),
  ): Promise<Map<string, number>> {
    const deadline = AbortSignal.timeout(deadlineMs);
    const taken = new Map(this.#receivers.map((r) => [r.label, 0]));
    const started = Date.now();
    let total = 0;
    let complete = true;
    try {
      this.#store.expire();
      const series = this.#encoder.encode(this.#store.capture(), Date.now());
      const { maxSamplesPerRequest } = this.#options;
      for (const batch of batchSeries(series, maxSamplesPerRequest, MAX_REQUEST_BYTES)) {
        if (deadline.aborted) {
          complete = false;
          break;
        }
        total += batch.samples;
        const compressed = { body: snappyCompress(batch.body), samples: batch.samples };
        await Promise.all(this.#receivers.map(async (receiver) => {
          if (await receiver.sendFinal(compressed, deadline)) {
            taken.set(receiver.label, taken.get(receiver.label)! + batch.samples);
          }
        }));
      }
    } catch (error) {
      this.#logger.error("remote write: cannot encode the aggregate", { error: String(error) });
      complete = false;
    }
    for (const [url, samples] of taken) {
      const fields = { url, samples, of: total, ms: Date.now() - started };
      if (complete && samples === total) {
        this.#logger.info("remote write: final send done", fields);
      } else {
        this.#logger.warn("remote write: final send incomplete", { ...fields, deadlineMs });
      }
    }
    return taken;
  }

  /** The self metrics of remote write, by receiver URL. */
  families(): RenderableFamily[] {
    const by = (value: (r: Receiver) => number) =>
      new Map(this.#receivers.map((r) => [labelKey([["url", r.label]]), value(r)]));
    return [
      {
        name: "pag_remote_write_samples_sent_total",
        type: "counter",
        help: "Samples the receiver accepted, by remote write URL.",
        series: by((r) => r.stats.sent),
      },
      {
        name: "pag_remote_write_samples_failed_total",
        type: "counter",
        help: "Samples the receiver refused for good (4xx other than 429), by remote write URL.",
        series: by((r) => r.stats.failed),
      },
      {
        name: "pag_remote_write_samples_dropped_total",
        type: "counter",
        help: "Samples dropped unsent from a full queue (--remoteWriteMaxQueueBytes), by URL.",
        series: by((r) => r.stats.dropped),
      },
      {
        name: "pag_remote_write_retries_total",
        type: "counter",
        help: "Requests tried again after a timeout, a connection error, a 5xx or a 429, by URL.",
        series: by((r) => r.stats.retries),
      },
      {
        name: "pag_remote_write_last_success_timestamp_seconds",
        type: "gauge",
        help: "When the receiver last accepted a request, since the Unix epoch; 0 before.",
        series: by((r) => r.stats.lastSuccess / 1000),
      },
      {
        name: "pag_remote_write_queue_requests",
        type: "gauge",
        help: "Requests waiting to be sent (the one in flight included), by URL.",
        series: by((r) => r.queueLength),
      },
      {
        name: "pag_remote_write_queue_bytes",
        type: "gauge",
        help: "Compressed bytes waiting to be sent, by URL.",
        series: by((r) => r.queueBytes),
      },
    ];
  }
}
