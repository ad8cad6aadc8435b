// The per-source state of cumulative input: each source series' last pushed value, when it was
// pushed, and how it feeds its aggregate series. Held by the store, which counts it against its
// limits, snapshots it, and removes it on DELETE and when a source goes stale.

import type { GaugeBehavior } from "../core/merge.ts";
import type { HistogramValue, MetricType, SeriesValue } from "../core/model.ts";
import { stringBytes } from "../core/store_bytes.ts";

/** One source series: the full label set of one sender, sources labels included. */
export interface Source {
  readonly family: string;
  readonly type: MetricType;
  /** The canonical key of the source series, its `sources` labels included. */
  readonly key: string;
  /** The key of the aggregate series it feeds: `key` without the `sources` labels. */
  readonly aggregate: string;
  /** The rule's `sources` labels, sorted (shared by the sources of one rule). */
  readonly labels: readonly string[];
  /** The last value pushed; the store owns it. */
  value: SeriesValue;
  /** When it was last pushed, in milliseconds. */
  touched: number;
  /** Milliseconds without a push after which the source is forgotten. */
  readonly staleAfter: number;
  /** For a gauge: how the live sources' values combine into the aggregate. */
  readonly gauge: GaugeBehavior;
  /** What {@linkcode sourceBytes} counted for it. */
  readonly bytes: number;
  /** A gauge source's group: the sources of its aggregate series; set by the table. */
  group?: ReadonlySet<Source>;
}

/**
 * What a source costs beyond its key's and aggregate key's chars and its value: its record, its
 * entries in the maps of sources (and, for a gauge, in its group's set) and the strings' headers.
 * Measured with `bench/source_bytes.ts`: 242 bytes in all for a counter source of a 58-char key
 * and 308 for a gauge source. This estimate puts either at 319 bytes: these 230, plus the chars
 * of the family name (12), the key (58) and the aggregate key (19) that `sourceBytes` adds.
 */
export const SOURCE_BYTES = 230;

/** The estimate of what a source costs the store, counted against `--maxStoreBytes`. */
export function sourceBytes(
  family: string,
  key: string,
  aggregate: string,
  value: SeriesValue,
): number {
  let bytes = SOURCE_BYTES + stringBytes(family) + stringBytes(key) + stringBytes(aggregate);
  if (typeof value === "object") {
    bytes += "bounds" in value ? 112 + (value as HistogramValue).bounds.length * 16 : 40;
  }
  return bytes;
}

/** The least time between two scans for stale sources: a source goes at most this late. */
export const STALE_SCAN_MS = 1000;

const NONE: Source[] = [];

/** The id of a source in the table: family and key ("\n" is in neither). */
export function sourceId(family: string, key: string): string {
  return family + "\n" + key;
}

/**
 * The sources held. Gauge sources are also grouped by their aggregate series, whose value is
 * the gauge rule over the group. Mutated only by the store.
 */
export class SourceTable {
  /**
   * By family name, then by key: the keys a push brings are the same string objects push after
   * push (from the series caches), whose hashes V8 keeps, where a joined id would be hashed anew.
   */
  readonly #sources = new Map<string, Map<string, Source>>();
  #size = 0;
  #epoch = 0;
  readonly #groups = new Map<string, Set<Source>>();
  /** No source goes stale before this time; a scan is needed only once it passes. */
  #nextStale = Infinity;
  #bytes = 0;

  get size(): number {
    return this.#size;
  }

  /**
   * Changes whenever a source is added, replaced or removed (not when one held is updated in
   * place), so that a caller may keep sources it looked up until it changes.
   */
  get epoch(): number {
    return this.#epoch;
  }

  /** What the sources cost, as {@linkcode sourceBytes} counts. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The sources of the family `family`, by key. */
  family(family: string): ReadonlyMap<string, Source> | undefined {
    return this.#sources.get(family);
  }

  get(family: string, key: string): Source | undefined {
    return this.#sources.get(family)?.get(key);
  }

  /** The gauge sources that feed the aggregate series `aggregate` of `family`. */
  group(family: string, aggregate: string): ReadonlySet<Source> | undefined {
    return this.#groups.get(sourceId(family, aggregate));
  }

  /** Adds or replaces a source. */
  set(source: Source): void {
    const old = this.get(source.family, source.key);
    // Forgetting the only source of a family removes the family's map: looked up after it.
    if (old !== undefined) this.#forget(this.#sources.get(source.family)!, old);
    let keys = this.#sources.get(source.family);
    if (keys === undefined) this.#sources.set(source.family, keys = new Map());
    keys.set(source.key, source);
    this.#size++;
    this.#epoch++;
    this.#bytes += source.bytes;
    if (source.type === "gauge") {
      const groupId = sourceId(source.family, source.aggregate);
      let group = this.#groups.get(groupId);
      if (group === undefined) this.#groups.set(groupId, group = new Set());
      group.add(source);
      source.group = group;
    }
    const stale = source.touched + source.staleAfter;
    if (stale < this.#nextStale) this.#nextStale = stale;
  }

  /** Every source, in no order. */
  *values(): IterableIterator<Source> {
    for (const keys of this.#sources.values()) yield* keys.values();
  }

  /** Removes the sources `doomed` picks; returns them. */
  removeWhere(doomed: (source: Source) => boolean): Source[] {
    const removed: Source[] = [];
    for (const keys of this.#sources.values()) {
      for (const source of keys.values()) {
        if (!doomed(source)) continue;
        this.#forget(keys, source);
        removed.push(source);
      }
    }
    return removed;
  }

  /** Removes the sources not pushed to for their `staleAfter` by `now`; returns them. */
  removeStale(now: number): readonly Source[] {
    if (now < this.#nextStale) return NONE;
    let next = Infinity;
    const removed = this.removeWhere((source) => {
      const stale = source.touched + source.staleAfter;
      if (stale <= now) return true;
      if (stale < next) next = stale;
      return false;
    });
    // A scan looks at every source: at most one a second, however the deadlines are spread, so
    // that pushes that come while sources go stale one by one do not each pay for a scan.
    this.#nextStale = Math.max(next, now + STALE_SCAN_MS);
    return removed;
  }

  #forget(keys: Map<string, Source>, source: Source): void {
    keys.delete(source.key);
    if (keys.size === 0) this.#sources.delete(source.family);
    this.#size--;
    this.#epoch++;
    this.#bytes -= source.bytes;
    if (source.type !== "gauge") return;
    const groupId = sourceId(source.family, source.aggregate);
    const group = this.#groups.get(groupId);
    group?.delete(source);
    if (group?.size === 0) this.#groups.delete(groupId);
  }
}
