// What the status page shows of the pushes themselves: the push targets (each distinct set of
// grouping labels, with its last push, pushes, series and last error) and the most recent
// refused requests. Both are bounded in bytes: anyone may push to a new path or be refused.

import { ParseError, PushError, type RejectionReason, RequestError } from "../core/errors.ts";
import { detach, type Label, labelKey } from "../core/model.ts";
import { parseGroupingPath } from "../ingest/grouping.ts";
import type { HttpRequest } from "./http1.ts";

/** A push target as the status page shows it. */
export interface TargetEntry {
  /** The grouping labels, sorted by name, without empty values (an empty value is absent). */
  readonly labels: readonly Label[];
  /** The labels as text, `job="a",instance="b"`: what tells targets apart. */
  readonly key: string;
  /** When the last push to this target was accepted, in milliseconds since the epoch. */
  lastPush: number;
  /** Pushes accepted. */
  pushes: number;
  /** Series in the last accepted push. */
  series: number;
  /** The last refusal of a push to this target, if any. */
  lastError: { time: number; reason: RejectionReason; message: string } | undefined;
  /** What this entry is counted as against the bound. */
  bytes: number;
  /** When the entry last moved to the end of the log's order, in the log's own count. */
  moved: number;
}

/** A refused request as the status page shows it: never its body. */
export interface RejectionEntry {
  readonly time: number;
  readonly remoteAddress: string;
  readonly method: string;
  /** The request path as sent, cut to {@linkcode MAX_PATH_CHARS}. */
  readonly path: string;
  readonly reason: RejectionReason;
  readonly status: number;
  /** The error message, cut to {@linkcode MAX_MESSAGE_CHARS}. */
  readonly message: string;
  readonly bytes: number;
}

export interface StatusLogOptions {
  /** What the targets may take together (default {@linkcode DEFAULT_TARGET_BYTES}). */
  maxTargetBytes?: number;
  /** The most refusals kept (default {@linkcode DEFAULT_REJECTIONS}). */
  maxRejections?: number;
  /** What the refusals may take together (default {@linkcode DEFAULT_REJECTION_BYTES}). */
  maxRejectionBytes?: number;
  /** The clock, in milliseconds; `Date.now` when absent. */
  now?: () => number;
}

export const DEFAULT_TARGET_BYTES = 4 * 1024 * 1024;
export const DEFAULT_REJECTIONS = 100;
export const DEFAULT_REJECTION_BYTES = 256 * 1024;
/** The longest path and message of a refusal kept, in chars; longer ones are cut. */
export const MAX_PATH_CHARS = 512;
export const MAX_MESSAGE_CHARS = 1024;

/**
 * What an entry costs beyond its strings: the object, its array and pairs, the map's slot. An
 * estimate on the high side, as V8 lays them out on 64-bit machines.
 */
const ENTRY_OVERHEAD = 200;
const LABEL_OVERHEAD = 48;

/**
 * Refusals that anyone can provoke on any path without being its sender (no credentials, a
 * foreign page, a busy gateway): they are not a target's last error, or anyone could write a
 * reason on any target of the page.
 */
const NOT_THE_TARGETS: ReadonlySet<RejectionReason> = new Set([
  "unauthorized",
  "origin_not_allowed",
  "overloaded",
]);

/**
 * The push targets and the recent refusals.
 *
 * Contract:
 * - Bounds: the targets together never count more than `maxTargetBytes`: a new target past it
 *   drops the targets pushed to least recently first, and the drops are counted. The refusals
 *   keep at most `maxRejections` entries and `maxRejectionBytes`, the oldest dropped first;
 *   paths and messages are cut to a bounded length. Strings are counted at two bytes a char.
 * - Cost: recording a push is a few map operations (its key is computed once per grouping
 *   array, which the push handler keeps per path); reading copies nothing it need not.
 * - Reads never change what is held.
 */
export class StatusLog {
  readonly #maxTargetBytes: number;
  readonly #maxRejections: number;
  readonly #maxRejectionBytes: number;
  readonly #now: () => number;
  /**
   * By key, least recently pushed first (nearly: a push moves its target to the end only when
   * the target is in the older half, which spares the map's work on a sender pushing again and
   * again; a target is thus dropped only after at least half the others moved past it).
   */
  readonly #targets = new Map<string, TargetEntry>();
  /** Moves to the end of `#targets`, counted. */
  #moves = 0;
  /** The key of each grouping array the push handler passes, worked out once. */
  readonly #keys = new WeakMap<readonly Label[], string>();
  #targetBytes = 0;
  #targetsDropped = 0;
  /** Oldest first. */
  #rejections: RejectionEntry[] = [];
  #rejectionBytes = 0;
  #rejectionsDropped = 0;

  constructor(options: StatusLogOptions = {}) {
    this.#maxTargetBytes = options.maxTargetBytes ?? DEFAULT_TARGET_BYTES;
    this.#maxRejections = options.maxRejections ?? DEFAULT_REJECTIONS;
    this.#maxRejectionBytes = options.maxRejectionBytes ?? DEFAULT_REJECTION_BYTES;
    this.#now = options.now ?? Date.now;
  }

  /** Records an accepted push of `series` series with the grouping labels `grouping`. */
  pushed(grouping: readonly Label[], series: number): void {
    let key = this.#keys.get(grouping);
    if (key === undefined) this.#keys.set(grouping, key = groupingKey(grouping));
    let entry = this.#targets.get(key);
    if (entry === undefined) {
      entry = this.#addTarget(grouping, key);
    } else if (entry.moved <= this.#moves - (this.#targets.size >> 1)) {
      // To the end of the map's order: the least recently pushed stay at its start.
      this.#targets.delete(key);
      this.#targets.set(key, entry);
      entry.moved = ++this.#moves;
    }
    entry.lastPush = this.#now();
    entry.pushes++;
    entry.series = series;
  }

  /**
   * Records a refused request, and on the target of `grouping` (when the refusal is of a push to
   * a target held) its last error, unless the refusal says nothing of the target's sender
   * (NOT_THE_TARGETS): those are in the list only, with the remote address that sent them.
   */
  refused(
    request: { remoteAddress: string; method: string; path: string },
    reason: RejectionReason,
    status: number,
    message: string,
    grouping?: readonly Label[],
  ): void {
    const time = this.#now();
    const cutMessage = cut(message, MAX_MESSAGE_CHARS);
    const path = cut(request.path, MAX_PATH_CHARS);
    const remoteAddress = cut(request.remoteAddress, 64);
    const method = cut(request.method, 16);
    const bytes = ENTRY_OVERHEAD +
      2 * (cutMessage.length + path.length + remoteAddress.length + method.length);
    this.#rejections.push({
      time,
      remoteAddress,
      method,
      path,
      reason,
      status,
      message: cutMessage,
      bytes,
    });
    this.#rejectionBytes += bytes;
    while (
      this.#rejections.length > this.#maxRejections ||
      (this.#rejectionBytes > this.#maxRejectionBytes && this.#rejections.length > 0)
    ) {
      this.#rejectionBytes -= this.#rejections.shift()!.bytes;
      this.#rejectionsDropped++;
    }
    if (grouping === undefined || NOT_THE_TARGETS.has(reason)) return;
    const entry = this.#targets.get(this.#keys.get(grouping) ?? groupingKey(grouping));
    if (entry === undefined) return;
    const before = entry.lastError?.message.length ?? 0;
    entry.lastError = { time, reason, message: cutMessage };
    this.#targetBytes += 2 * (cutMessage.length - before);
    entry.bytes += 2 * (cutMessage.length - before);
    this.#trimTargets(entry.key);
  }

  /** Forgets the targets a DELETE of `match` empties: those with every pair of `match`. */
  deleted(match: readonly Label[]): void {
    const wanted = match.filter(([, value]) => value !== "");
    const absent = match.filter(([, value]) => value === "").map(([name]) => name);
    for (const [key, entry] of this.#targets) {
      const has = (name: string, value: string) =>
        entry.labels.some(([n, v]) => n === name && v === value);
      if (!wanted.every(([name, value]) => has(name, value))) continue;
      if (absent.some((name) => entry.labels.some(([n]) => n === name))) continue;
      this.#targets.delete(key);
      this.#targetBytes -= entry.bytes;
    }
  }

  /** The targets, most recently pushed first. */
  targets(): TargetEntry[] {
    return [...this.#targets.values()].sort((a, b) => b.lastPush - a.lastPush || b.moved - a.moved);
  }

  /** The refusals kept, most recent first. */
  rejections(): RejectionEntry[] {
    return this.#rejections.toReversed();
  }

  /** What the log holds and has dropped, against its bounds. */
  stats(): StatusLogStats {
    return {
      targets: this.#targets.size,
      targetBytes: this.#targetBytes,
      maxTargetBytes: this.#maxTargetBytes,
      targetsDropped: this.#targetsDropped,
      rejections: this.#rejections.length,
      rejectionBytes: this.#rejectionBytes,
      maxRejections: this.#maxRejections,
      maxRejectionBytes: this.#maxRejectionBytes,
      rejectionsDropped: this.#rejectionsDropped,
    };
  }

  #addTarget(grouping: readonly Label[], key: string): TargetEntry {
    // Copied: a value sliced from a request's path would keep the whole request line alive.
    const labels: Label[] = grouping
      .filter(([, value]) => value !== "")
      .map(([name, value]): Label => [detach(name), detach(value)])
      .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    key = detach(key);
    let bytes = ENTRY_OVERHEAD + 2 * key.length;
    for (const [name, value] of labels) bytes += LABEL_OVERHEAD + 2 * (name.length + value.length);
    const entry: TargetEntry = {
      labels,
      key,
      lastPush: 0,
      pushes: 0,
      series: 0,
      lastError: undefined,
      bytes,
      moved: ++this.#moves,
    };
    this.#targets.set(key, entry);
    this.#targetBytes += bytes;
    this.#trimTargets(key);
    return entry;
  }

  /** Drops the least recently pushed targets until the bound holds, never `keep`. */
  #trimTargets(keep: string): void {
    if (this.#targetBytes <= this.#maxTargetBytes) return;
    for (const [key, entry] of this.#targets) {
      if (this.#targetBytes <= this.#maxTargetBytes) break;
      if (key === keep) continue;
      this.#targets.delete(key);
      this.#targetBytes -= entry.bytes;
      this.#targetsDropped++;
    }
  }
}

export interface StatusLogStats {
  targets: number;
  targetBytes: number;
  maxTargetBytes: number;
  targetsDropped: number;
  rejections: number;
  rejectionBytes: number;
  maxRejections: number;
  maxRejectionBytes: number;
  rejectionsDropped: number;
}

/** The key of a set of grouping labels: sorted by name, empty values left out. */
export function groupingKey(grouping: readonly Label[]): string {
  if (grouping.length < 2) return labelKey(grouping);
  return labelKey(grouping.toSorted(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
}

/** `text` cut to `max` chars with a note of what was left out, as a string of its own. */
function cut(text: string, max: number): string {
  if (text.length <= max) return detach(text);
  return detach(text.slice(0, max)) + `… (${text.length - max} more chars)`;
}

/**
 * Records a request that a handler refused with a domain error (one with a reason) in `log`,
 * and, for a push, on its target. Anything else (a 500) is the log's, not the page's.
 */
export function recordRefusal(
  log: StatusLog,
  request: HttpRequest,
  path: string,
  route: { handler: string; rest: string },
  error: unknown,
  status: number,
): void {
  if (
    !(error instanceof ParseError || error instanceof PushError || error instanceof RequestError)
  ) {
    return;
  }
  let grouping: Label[] | undefined;
  if (route.handler === "push") {
    try {
      grouping = parseGroupingPath(route.rest);
    } catch {
      grouping = undefined; // the path itself was refused: no target
    }
  }
  const from = { remoteAddress: request.remoteAddress ?? "", method: request.method, path };
  log.refused(from, error.reason, status, error.message, grouping);
}
