// The in-memory aggregate: every family and series the gateway holds. The only stateful module
// of the core; it applies pushes atomically, expires idle series, and renders itself.

import { PushError } from "../core/errors.ts";
import {
  applyDelta,
  copyValue,
  type GaugeBehavior,
  mergedBoundCount,
  mergeValue,
} from "../core/merge.ts";
import {
  type Delta,
  detach,
  escapeLabelValue,
  type HistogramValue,
  type Label,
  type MetricType,
  type Push,
  type PushFamily,
  type SeriesValue,
} from "../core/model.ts";
import { checkCounterValue, sampleNames, seriesName, shortSeriesName } from "../core/checks.ts";
import type { StoreRoom } from "../ingest/push_builder.ts";
import { concatBytes } from "../core/bytes.ts";
import type { FamilyHead } from "../expose/render.ts";
import { SeriesTable } from "./series_table.ts";
import type { Rules } from "../core/rules.ts";
import { gaugeOver } from "../core/rules.ts";
import { type Source, SourceTable } from "./sources.ts";
import {
  commitInPlace,
  filterDeltas,
  gaugeValues,
  type RuledFamily,
  RulePlanner,
} from "./ruled_push.ts";
import { FamilyText, ScrapeCutOff, type StoredFamily, StoreReader } from "./store_reader.ts";
import {
  bucketBytes,
  familyBytes,
  familyBytesAtMost,
  helpBytes,
  pushBytesAtMost,
  seriesBytesOf,
  utf8Bytes,
} from "../core/store_bytes.ts";

/** A family as {@linkcode Store.capture} copied it; its arrays are in render order. */
export interface CapturedFamily extends FamilyHead {
  readonly keys: readonly string[];
  readonly values: readonly SeriesValue[];
  /** When each series was last pushed to; undefined when the store keeps no touch times. */
  readonly touched: Float64Array | undefined;
}

/** What applying a push did, for the gateway's own metrics. */
export interface ApplyResult {
  samples: number;
  newSeries: number;
}

export interface StoreOptions {
  gaugeBehavior: GaugeBehavior;
  /** The most series the store holds (`--maxSeries`); unlimited when absent. */
  maxSeries?: number;
  /**
   * The most bytes the store holds (`--maxStoreBytes`), as `store_bytes.ts` estimates them;
   * unlimited when absent.
   */
  maxStoreBytes?: number;
  /** The most families the store holds (`--maxFamilies`); unlimited when absent. */
  maxFamilies?: number;
  /** The most buckets of one histogram series (`--maxBucketsPerSeries`); unlimited when absent. */
  maxBucketsPerSeries?: number;
  /** Drop a series no push touched for this many milliseconds (`--seriesTTL`); 0: never. */
  seriesTTL?: number;
  /** The clock, in milliseconds; `Date.now` when absent. */
  now?: () => number;
  /**
   * Bytes of scrape text the store keeps for reads that have yet to send a family that has
   * changed since they began (`--maxScrapeBacklogBytes`); unlimited when absent. Past it, the
   * reads that would need more are cut off.
   */
  maxScrapeBacklogBytes?: number;
}

/**
 * The aggregate store.
 *
 * Contract:
 * - Atomicity: {@linkcode Store.apply} and {@linkcode Store.applyDeltas} validate the whole
 *   push against the store before they change anything. If they throw, the store is exactly
 *   as it was; if they return, all of the push is merged. There is no partial application.
 * - Limits: a push that would take the store past `maxSeries`, `maxFamilies` or
 *   `maxStoreBytes` is refused whole; a push that only touches series the store holds is never
 *   refused for them, unless it makes a histogram wider or a HELP text longer (which cost
 *   bytes). A push that would give a histogram series more than `maxBucketsPerSeries` buckets,
 *   its own or merged with the stored ones, is refused whole. Bytes are an estimate of what the
 *   store keeps (see `store_bytes.ts`), counted as series come and given back as they go.
 * - Expiry: with `seriesTTL`, a series that no push touched for that long is gone before the
 *   next {@linkcode Store.render}, limit check or {@linkcode Store.expire}, and a family
 *   left empty with it.
 * - Ownership: the store copies what it keeps; the caller's push is never modified and may be
 *   dropped or applied again.
 * - Consistency: a family keeps the type of its first push. No two families ever write the same
 *   sample name (a histogram `x` owns `x_bucket`, `x_sum`, `x_count`), so a scrape never holds
 *   a sample twice.
 * - Ordering: {@linkcode Store.render} writes families sorted by name and series sorted by
 *   label key, so equal stores render byte-for-byte equal text.
 * - Reads: a {@linkcode StoreReader} renders the text piece by piece as it is read, and still
 *   shows the store as it was when the read began: before a family it has yet to read changes,
 *   the store renders the rest of that family's text as it was.
 * - Rules: with {@linkcode Store.rules}, a push is first planned under them (`ruled_push.ts`):
 *   dropped series left out, a family `default: reject` refuses thrown, cumulative series turned
 *   into deltas of their aggregate series. The plan is checked whole like any push, its new
 *   sources included, and only once it is merged are the sources' new values kept: a refused push
 *   leaves the sources as they were too. Sources count against `maxSeries` and `maxStoreBytes`,
 *   are removed by {@linkcode Store.delete} and once stale by {@linkcode Store.expire}, and are
 *   captured and restored with the snapshot.
 * - Concurrency: every method runs to completion synchronously, so requests served
 *   concurrently by one event loop see each push whole or not at all.
 */
export class Store implements StoreRoom {
  readonly #gaugeBehavior: GaugeBehavior;
  readonly #maxSeries: number;
  readonly #maxBytes: number;
  readonly #maxFamilies: number;
  readonly #maxBuckets: number;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #families = new Map<string, StoredFamily>();
  #seriesCount = 0;
  /** The estimate of what the families and series held cost (see `store_bytes.ts`). */
  #bytes = 0;
  #expiredCount = 0;
  #changes = 0;
  /**
   * A lower bound of every series' touch time. Touches only move times forward, so when the
   * expiry cutoff is below it nothing can have expired and no scan is needed.
   */
  #oldestTouch = Infinity;
  /** Family names in render order; undefined after a family is added or removed. */
  #order: string[] | undefined = [];
  /** Reads begun and not closed. */
  #readers = 0;
  readonly #maxBacklog: number;
  #backlog = 0;
  #cutOffCount = 0;
  /**
   * The rules of `--rulesFile`, which decide how later pushes combine; none when absent. Set by
   * whoever loads the file, again on each reload: what the store holds stays.
   */
  rules: Rules | undefined;
  /** The per-source state of cumulative input (see `ruled_push.ts`). */
  readonly #sources = new SourceTable();
  readonly #planner = new RulePlanner();
  #resets = 0;
  #staleSources = 0;

  constructor(options: StoreOptions) {
    this.#gaugeBehavior = options.gaugeBehavior;
    this.#maxSeries = options.maxSeries ?? Infinity;
    this.#maxBytes = options.maxStoreBytes ?? Infinity;
    this.#maxFamilies = options.maxFamilies ?? Infinity;
    this.#maxBuckets = options.maxBucketsPerSeries ?? Infinity;
    this.#ttl = options.seriesTTL ?? 0;
    this.#now = options.now ?? Date.now;
    this.#maxBacklog = options.maxScrapeBacklogBytes ?? Infinity;
  }

  /** Bytes of scrape text kept only for reads that began before their family changed. */
  get scrapeBacklogBytes(): number {
    return this.#backlog;
  }

  /** Reads cut off because they fell too far behind (see `maxScrapeBacklogBytes`). */
  get scrapesCutOff(): number {
    return this.#cutOffCount;
  }

  /** Number of series held; a histogram or summary series counts once. */
  get seriesCount(): number {
    return this.#seriesCount;
  }

  get familyCount(): number {
    return this.#families.size;
  }

  /** What the families and series held cost, as `store_bytes.ts` estimates it. */
  get bytes(): number {
    return this.#bytes + this.#sources.bytes;
  }

  /** Goes up with every change to the store, so a caller can tell whether it changed. */
  get changes(): number {
    return this.#changes;
  }

  /** Reads begun and not yet closed (see {@linkcode Store.read}). */
  get readers(): number {
    return this.#readers;
  }

  /** Source series of cumulative input held; they count against `maxSeries` too. */
  get sourceCount(): number {
    return this.#sources.size;
  }

  /** Resets of cumulative sources seen (a value below the source's last). */
  get resetCount(): number {
    return this.#resets;
  }

  /** Sources forgotten because no push came for their `staleAfter`. */
  get staleSourceCount(): number {
    return this.#staleSources;
  }

  /** Series removed by expiry since the store was made. */
  get expiredCount(): number {
    return this.#expiredCount;
  }

  /** The families, sorted by name. For reading only. */
  families(): StoredFamily[] {
    this.#order ??= [...this.#families.keys()].sort();
    return this.#order.map((name) => this.#families.get(name)!);
  }

  /**
   * Merges a push into the store, all or nothing (see the contract above). Throws
   * {@linkcode PushError} when a family's type differs from the stored one, when a new family
   * would write a sample name another family already writes, when the push would take the
   * store past `maxSeries`, `maxFamilies` or `maxStoreBytes`, or a histogram series past
   * `maxBucketsPerSeries`.
   */
  apply(push: Push): ApplyResult {
    this.expire();
    if (this.rules !== undefined) return this.#applyRuled(push, this.rules);
    this.#validate(push);
    return this.#merge(push);
  }

  /**
   * {@linkcode Store.apply} under rules: the push is planned (`ruled_push.ts`: drops, refusals,
   * cumulative deltas), the plan checked whole with its new sources, then merged, and only then
   * are the sources' new values kept.
   */
  #applyRuled(push: Push, rules: Rules): ApplyResult {
    const now = this.#now();
    push = this.#asHeldGauges(push);
    const plan = this.#planner.plan(push, rules, this.#sources, this.#gaugeBehavior, now);
    const { sources, olds } = plan.updates;
    let freshSources = 0;
    let grownBytes = 0;
    for (let i = 0; i < sources.length; i++) {
      const old = olds[i];
      if (old === undefined) freshSources++;
      grownBytes += sources[i].bytes - (old?.bytes ?? 0);
    }
    this.#validate(plan.families, freshSources, Math.max(0, grownBytes));
    const result = this.#merge(plan.families);
    commitInPlace(plan, now);
    for (const source of sources) this.#sources.set(source);
    this.#resets += plan.resets;
    return result;
  }

  /**
   * `push` with each family without TYPE that the store holds as a gauge typed as that gauge,
   * as {@linkcode Store.#merge} takes it: planned as untyped, a cumulative gauge's source would
   * start over and its value count as an increment (5 pushed twice summed to 10). An untyped
   * sample of a counter is planned as the counter's already (`sameType` in ruled_push.ts).
   */
  #asHeldGauges(push: Push): Push {
    let typed: PushFamily[] | undefined;
    for (let i = 0; i < push.length; i++) {
      const pushed = push[i];
      if (pushed.type !== "untyped" || this.#families.get(pushed.name)?.type !== "gauge") continue;
      typed ??= [...push];
      typed[i] = { ...pushed, type: "gauge" };
    }
    return typed ?? push;
  }

  /** Merges a push already checked against the store; cannot fail. */
  #merge(push: readonly RuledFamily[]): ApplyResult {
    // Texts that open reads still need are finished before anything changes: it is the one
    // step here that takes time and memory, and it must not find the push half applied.
    for (const pushed of push) this.#changingNamed(pushed.name);
    const now = this.#now();
    let samples = 0;
    let newSeries = 0;
    for (const pushed of push) {
      const family = this.#familyFor(pushed.name, pushed.type, pushed.help);
      const { type, series } = family;
      const { keys, values, gauges } = pushed;
      const gauge = pushed.gauge ?? this.#gaugeBehavior;
      for (let i = 0; i < keys.length; i++) {
        const value = values[i];
        let slot = series.slotOf(keys[i]);
        if (slot === undefined) {
          slot = this.#addSeries(family, keys[i], copyValue(value));
          newSeries++;
        } else if (series.numeric) {
          // Read here, not before the loop: adding the first series replaces the arrays.
          const numbers = series.numbers;
          numbers[slot] = mergeValue(type, numbers[slot], value, gauges?.[i] ?? gauge) as number;
        } else if (type === "histogram") {
          this.#mergeHistogram(family, slot, value as HistogramValue);
        } else {
          mergeValue(type, series.objects[slot]!, value, this.#gaugeBehavior); // in place
        }
        series.touch(slot, now);
        samples++;
      }
      series.settle();
    }
    this.#added(newSeries, now);
    return { samples, newSeries };
  }

  /**
   * Applies JSON deltas in order, all or nothing: every family they touch is checked against
   * the store (type, sample names, limits) before the first one is applied, and applying
   * cannot fail. The caller has checked the deltas among themselves (see `parseDeltas`). A
   * delta to a stored histogram keeps its bounds, so only new series are checked for buckets.
   */
  applyDeltas(deltas: readonly Delta[]): ApplyResult {
    this.expire();
    // Deltas name their own operation: rules drop and refuse them, never make them cumulative.
    if (this.rules !== undefined) deltas = filterDeltas(deltas, this.rules);
    const checked = new Set<string>();
    const fresh = new Set<string>();
    /** The HELP of each family the deltas give one, as the last of them gives it. */
    const helps = new Map<string, string>();
    let freshFamilies = 0;
    let freshBytes = 0;
    for (const delta of deltas) {
      const family = this.#families.get(delta.name);
      if (!checked.has(delta.name)) {
        this.#checkFamily(delta.name, delta.type);
        checked.add(delta.name);
        if (family === undefined) {
          freshFamilies++;
          freshBytes += familyBytes(delta.name, undefined);
        }
      }
      if (delta.help !== undefined) helps.set(delta.name, delta.help);
      const id = delta.name + "{" + delta.key;
      if (family?.series.has(delta.key) || fresh.has(id)) continue;
      fresh.add(id);
      const buckets = delta.bounds?.length ?? 0;
      if (buckets > this.#maxBuckets) throw this.#bucketError(delta.name, delta.key, buckets);
      freshBytes += seriesBytesOf(delta.name, delta.type, delta.key, buckets);
    }
    for (const [name, help] of helps) {
      freshBytes += Math.max(0, helpBytes(help) - helpBytes(this.#families.get(name)?.help));
    }
    this.#checkLimits(freshFamilies, fresh.size, freshBytes);
    for (const name of checked) this.#changingNamed(name); // as in apply(), before any change
    const now = this.#now();
    for (const delta of deltas) {
      const family = this.#familyFor(delta.name, delta.type, delta.help);
      const { series } = family;
      let slot = series.slotOf(delta.key);
      if (slot === undefined) {
        slot = this.#addSeries(family, delta.key, applyDelta(delta, undefined));
      } else if (series.numeric) {
        series.numbers[slot] = applyDelta(delta, series.numbers[slot]) as number;
      } else {
        applyDelta(delta, series.objects[slot]); // applied in place
      }
      series.touch(slot, now);
      series.settle();
    }
    this.#added(fresh.size, now);
    return { samples: deltas.length, newSeries: fresh.size };
  }

  /**
   * Adds a family read back from a snapshot, with its series' values and touch times, to a
   * store that does not hold it. Throws {@linkcode PushError} as {@linkcode Store.apply} would.
   */
  restore(family: PushFamily & { touched: ReadonlyMap<string, number> }): void {
    if (this.#families.has(family.name)) {
      throw new PushError(`metric "${family.name}" appears twice`);
    }
    // No limits here: what the gateway accepted before a restart is kept, even if --maxSeries,
    // --maxFamilies or --maxStoreBytes is now lower; new series wait until expiry or DELETE
    // makes room.
    this.#checkFamily(family.name, family.type);
    const stored = this.#familyFor(family.name, family.type, family.help);
    const { series } = stored;
    series.unsorted(); // the series come sorted by family, not by key: the first render sorts
    let oldest = Infinity;
    let bytes = 0;
    for (const [i, key] of family.keys.entries()) {
      if (series.has(key)) {
        // The family is new to the store: dropping it leaves the store as it was.
        this.#dropFamily(stored);
        throw new PushError(`series ${seriesName(family.name, key)} appears twice`);
      }
      const touched = family.touched.get(key) ?? this.#now();
      const value = copyValue(family.values[i]);
      bytes += this.#costOf(stored, key, value);
      series.touch(series.add(key, value), touched);
      oldest = Math.min(oldest, touched);
    }
    this.#bytes += bytes; // no limit here either: counted, so that new pushes see it
    this.#added(family.keys.length, oldest);
  }

  /**
   * Removes every series whose labels include all of `match`; a pair with an empty value
   * matches series that do not have that label. Families left empty are removed. Returns the
   * number of series removed.
   */
  delete(match: readonly Label[]): number {
    const removed = this.#remove((key) => matches(key, match));
    if (this.#sources.size > 0) {
      const gone = this.#sources.removeWhere((source) => matches(source.key, match));
      // A snapshot must be written even when only counter sources went, or they come back.
      if (gone.length > 0) this.#changes++;
      this.#regauge(gone);
    }
    return removed;
  }

  /**
   * Sets the gauge aggregate series that `gone` sources fed to the gauge rule over the sources
   * left; one with none left is removed.
   */
  #regauge(gone: readonly Source[]): void {
    const groups = new Map<string, Source>();
    for (const source of gone) {
      if (source.type === "gauge") groups.set(source.family + "\n" + source.aggregate, source);
    }
    for (const { family: name, aggregate } of groups.values()) {
      const family = this.#families.get(name);
      const slot = family?.series.slotOf(aggregate);
      if (family === undefined || slot === undefined || family.type !== "gauge") continue;
      const group = this.#sources.group(name, aggregate);
      const values = gaugeValues(group);
      if (values.length === 0) {
        this.#removeIn(family, aggregate);
        continue;
      }
      let latest: Source | undefined;
      for (const source of group!) if (!latest || source.touched >= latest.touched) latest = source;
      this.#changing(family);
      family.series.numbers[slot] = gaugeOver(values, latest!.gauge)!;
      this.#changes++;
    }
  }

  /** Removes the series `key` of `family` (and the family if it is left empty). */
  #removeIn(family: StoredFamily, key: string): void {
    const { series } = family;
    const count = series.removeWhere((k) => k === key, () => this.#changing(family));
    if (count === 0) return;
    this.#bytes -= this.#costOf(family, key, 0);
    this.#seriesCount -= count;
    this.#changes++;
    if (series.size === 0) this.#dropFamily(family);
  }

  /** A copy of every source's state, for a snapshot (see {@linkcode Store.capture}). */
  captureSources(): Source[] {
    return [...this.#sources.values()].map((source) => ({
      ...source,
      value: copyValue(source.value),
    }));
  }

  /** Keeps a source read back from a snapshot; as with {@linkcode Store.restore}, no limits. */
  restoreSource(source: Source): void {
    this.#sources.set(source);
  }

  /**
   * Removes the series no push touched for `seriesTTL`, and the families they leave empty.
   * Cheap when nothing can have expired. Returns the number removed.
   */
  expire(): number {
    if (this.#sources.size > 0) {
      const stale = this.#sources.removeStale(this.#now());
      if (stale.length > 0) {
        this.#staleSources += stale.length;
        this.#changes++;
        this.#regauge(stale);
      }
    }
    if (!(this.#ttl > 0)) return 0;
    const cutoff = this.#now() - this.#ttl;
    if (this.#oldestTouch > cutoff) return 0;
    let oldest = Infinity;
    const removed = this.#remove((_, touched) => {
      if (touched <= cutoff) return true;
      if (touched < oldest) oldest = touched;
      return false;
    });
    this.#oldestTouch = oldest;
    this.#expiredCount += removed;
    return removed;
  }

  /**
   * Begins a read of the whole aggregate in the text format 0.0.4, expired series gone first.
   * The pieces render as they are read; a family's pieces are kept until it changes, so reading
   * an unchanged store costs little more than handing over the pieces.
   */
  read(): StoreReader {
    this.expire();
    const texts = this.families().map((family) => family.text ??= new FamilyText(family));
    this.#readers++;
    return new StoreReader(texts, () => this.#readers--);
  }

  /**
   * The keys of `family`, one of {@linkcode Store.families}, in render order: the table keeps
   * its slots sorted between calls (see `SeriesTable.sorted`), so this is cheap after a few
   * changes.
   */
  sortedKeys(family: StoredFamily): readonly string[] {
    return family.series.sortedKeys();
  }

  /**
   * A copy of every family as it is now, for a snapshot written while the store goes on
   * changing: names, HELP and TYPE, the keys in render order (strings are immutable: only the
   * references are copied), the values (histograms and summaries deep-copied, since pushes
   * merge into them in place) and the touch times. Linear in the series and renders nothing,
   * so the event loop waits only for the copy.
   */
  capture(): CapturedFamily[] {
    return this.families().map((family) => {
      const { series } = family;
      const order = series.sorted();
      const keys: string[] = [];
      const values: SeriesValue[] = [];
      const touched = series.tracksTouches ? new Float64Array(order.length) : undefined;
      for (let i = 0; i < order.length; i++) {
        const slot = order[i];
        keys.push(series.keysBySlot[slot]!);
        values.push(series.numeric ? series.numbers[slot] : copyValue(series.objects[slot]!));
        if (touched !== undefined) touched[i] = series.touchedAtSlot(slot)!;
      }
      return { name: family.name, type: family.type, help: family.help, keys, values, touched };
    });
  }

  /** The whole aggregate in the text format 0.0.4, expired series gone first. */
  render(): string {
    const reader = this.read();
    const pieces: Uint8Array[] = [];
    try {
      for (let piece; (piece = reader.next()) !== undefined;) pieces.push(piece.plain);
    } finally {
      reader.close();
    }
    return new TextDecoder().decode(concatBytes(pieces));
  }

  #validate(push: readonly PushFamily[], extraSeries = 0, extraBytes = 0): void {
    // New series and their bytes need counting only when the push could take the store past a
    // limit: bounds worked out per family say when, so that a push of series the store holds
    // costs no look-up here (apply() does those).
    let pushedSeries = 0;
    let mostBytes = 0;
    for (const pushed of push) {
      pushedSeries += pushed.keys.length;
      mostBytes += familyBytesAtMost(pushed.name, pushed.help) + pushBytesAtMost(pushed);
    }
    const countFresh = this.#heldSeries + pushedSeries + extraSeries > this.#maxSeries;
    const countBytes = this.bytes + mostBytes + extraBytes > this.#maxBytes;
    let fresh = 0;
    let freshFamilies = 0;
    let freshBytes = 0;
    for (const pushed of push) {
      const family = this.#families.get(pushed.name);
      if (
        family !== undefined && pushed.type === "untyped" &&
        (family.type === "counter" || family.type === "gauge")
      ) {
        // A sample without a TYPE line takes the type the gateway already knows, so that
        // `echo 'jobs 1' | curl --data-binary @- …` adds to a counter pushed with TYPE.
        if (family.type === "counter") checkCounterValues(pushed);
      } else {
        this.#checkFamily(pushed.name, pushed.type);
      }
      if (pushed.type === "histogram") freshBytes += this.#checkBuckets(family, pushed, countBytes);
      if (family === undefined) {
        freshFamilies++;
        fresh += pushed.keys.length;
        if (countBytes) freshBytes += familyBytes(pushed.name, pushed.help) + newBytes(pushed);
        continue;
      }
      if (countFresh || countBytes) {
        const { name, type, keys, values } = pushed;
        for (let i = 0; i < keys.length; i++) {
          if (family.series.has(keys[i])) continue;
          fresh++;
          if (countBytes) freshBytes += seriesBytesOf(name, type, keys[i], bucketCount(values[i]));
        }
      }
      if (countBytes && pushed.help !== undefined && pushed.help !== family.help) {
        // A shorter HELP gives bytes back, but does not make room for the rest of the push.
        freshBytes += Math.max(0, helpBytes(pushed.help) - helpBytes(family.help));
      }
    }
    this.#checkLimits(
      freshFamilies,
      fresh + extraSeries,
      (countBytes ? freshBytes : 0) + extraBytes,
    );
  }

  /** The series that count against `maxSeries`: the aggregate's and the sources'. */
  get #heldSeries(): number {
    return this.#seriesCount + this.#sources.size;
  }

  /**
   * Throws when the histogram series of `pushed` would have more than `maxBucketsPerSeries`
   * buckets, alone or merged into `family` (the stored one, if any). Returns the bytes the
   * merges add to stored series when `countBytes`, else 0. A stored series is looked at only
   * when the merge could pass the limit, or bytes are counted.
   */
  #checkBuckets(
    family: StoredFamily | undefined,
    pushed: PushFamily,
    countBytes: boolean,
  ): number {
    const max = this.#maxBuckets;
    const widest = family?.series.mostBuckets ?? 0;
    let grown = 0;
    for (let i = 0; i < pushed.keys.length; i++) {
      const { bounds } = pushed.values[i] as HistogramValue;
      if (bounds.length > max) throw this.#bucketError(pushed.name, pushed.keys[i], bounds.length);
      if (family === undefined || (!countBytes && widest + bounds.length <= max)) continue;
      const slot = family.series.slotOf(pushed.keys[i]);
      if (slot === undefined) continue; // a new series: its bytes are counted with the others
      const stored = (family.series.objects[slot] as HistogramValue).bounds;
      const merged = mergedBoundCount(stored, bounds);
      if (merged > max) throw this.#bucketError(pushed.name, pushed.keys[i], merged, true);
      if (countBytes && merged > stored.length) {
        grown += (merged - stored.length) *
          bucketBytes(pushed.name.length, utf8Bytes(pushed.keys[i]));
      }
    }
    return grown;
  }

  #bucketError(name: string, key: string, buckets: number, merged = false): PushError {
    const what = `histogram ${shortSeriesName(name, key)} ` +
      (merged ? "merged with the gateway's would have" : "has");
    return new PushError(
      `${what} ${buckets} buckets, more than the limit of ${this.#maxBuckets} (--maxBucketsPerSeries)`,
      "bucket_limit",
    );
  }

  /**
   * Throws when `families` new families, `series` new series or `bytes` more bytes would take
   * the store past its limits; `atLeast` when the counts are what a push adds at least.
   */
  #checkLimits(families: number, series: number, bytes: number, atLeast = false): void {
    const error = this.#limitError(families, series, bytes, atLeast);
    if (error !== undefined) throw error;
  }

  #limitError(
    families: number,
    series: number,
    bytes: number,
    atLeast: boolean,
  ): PushError | undefined {
    const some = atLeast ? "at least " : "";
    if (families > 0 && this.#families.size + families > this.#maxFamilies) {
      return new PushError(
        `the push would add ${some}${families} families to the ${this.#families.size} the gateway holds, ` +
          `more than its limit of ${this.#maxFamilies} (--maxFamilies)`,
        "family_limit",
      );
    }
    if (series > 0 && this.#heldSeries + series > this.#maxSeries) {
      return new PushError(
        `the push would add ${some}${series} series to the ${this.#heldSeries} the gateway holds, ` +
          `more than its limit of ${this.#maxSeries} (--maxSeries)`,
        "series_limit",
      );
    }
    if (bytes > 0 && this.bytes + bytes > this.#maxBytes) {
      return new PushError(
        `the push would add ${some}${bytes} bytes to the ${this.bytes} the gateway holds, ` +
          `more than its limit of ${this.#maxBytes} (--maxStoreBytes)`,
        "bytes_limit",
      );
    }
    return undefined;
  }

  /**
   * What a push can add before a limit refuses it, expired series gone first: new series,
   * families and bytes (`Infinity` without a limit). See {@linkcode StoreRoom}.
   */
  room(): { series: number; families: number; bytes: number } {
    this.expire();
    return {
      series: this.#maxSeries - this.#heldSeries,
      families: this.#maxFamilies - this.#families.size,
      bytes: this.#maxBytes - this.bytes,
    };
  }

  /** Whether the store holds the series `key` of the family `name`. */
  holdsSeries(name: string, key: string): boolean {
    if (this.#families.get(name)?.series.has(key)) return true;
    // A source of cumulative input adds no series when pushed again.
    return this.#sources.size > 0 && this.#sources.get(name, key) !== undefined;
  }

  /** Whether the store holds a family `name`. */
  holdsFamily(name: string): boolean {
    return this.#families.has(name);
  }

  /**
   * The error {@linkcode Store.apply} would refuse a push with that adds at least `families`
   * families, `series` series and `bytes` bytes; undefined when those fit.
   */
  refusal(families: number, series: number, bytes: number): PushError | undefined {
    return this.#limitError(families, series, bytes, true);
  }

  /**
   * Throws when a family `name` of `type` cannot join the store: the store holds `name` with
   * another type, or a new family would write a sample name another family writes.
   */
  #checkFamily(name: string, type: MetricType): void {
    const family = this.#families.get(name);
    if (family !== undefined) {
      if (family.type !== type) {
        throw new PushError(
          `metric "${name}" is a ${family.type} in the gateway, the push has it as ${type}`,
          "type_conflict",
        );
      }
      return;
    }
    for (const sample of sampleNames(name, type)) {
      const owner = this.#sampleOwner(sample);
      if (owner !== undefined) {
        throw new PushError(
          `metric "${name}" (${type}) would write samples named "${sample}", which ${owner.type} "${owner.name}" in the gateway already writes`,
          "type_conflict",
        );
      }
    }
  }

  /**
   * The family that writes samples named `sample`, if any: one of that name (unless a histogram,
   * whose samples all have suffixes), or a histogram or summary whose `_bucket`, `_sum` or
   * `_count` it is. Looked up from the names, as `sampleNames` writes them, rather than kept in a
   * map of its own, which would cost every family up to three more entries and strings.
   */
  #sampleOwner(sample: string): StoredFamily | undefined {
    const own = this.#families.get(sample);
    if (own !== undefined && own.type !== "histogram") return own;
    for (const suffix of ["_bucket", "_sum", "_count"]) {
      if (!sample.endsWith(suffix)) continue;
      const base = this.#families.get(sample.slice(0, -suffix.length));
      if (base?.type === "histogram" || (base?.type === "summary" && suffix !== "_bucket")) {
        return base;
      }
    }
    return undefined;
  }

  /** The family `name`, created if new; marked changed, with its HELP updated if given. */
  #familyFor(name: string, type: MetricType, help: string | undefined): StoredFamily {
    let family = this.#families.get(name);
    if (family === undefined) {
      // Copied: a name or HELP sliced from a request body would keep the whole body alive.
      name = detach(name);
      family = {
        name,
        type,
        help: help === undefined ? undefined : detach(help),
        series: new SeriesTable(type, this.#ttl > 0),
        text: undefined,
      };
      this.#families.set(name, family);
      this.#bytes += familyBytes(name, family.help);
      this.#order = undefined;
    } else {
      this.#changing(family);
      if (help !== undefined && help !== family.help) {
        this.#bytes += helpBytes(help) - helpBytes(family.help);
        family.help = detach(help); // the latest wins
      }
    }
    return family;
  }

  /** Adds the series `key` with `value`, which the store then owns, to `family`; its slot. */
  #addSeries(family: StoredFamily, key: string, value: SeriesValue): number {
    this.#bytes += this.#costOf(family, key, value);
    return family.series.add(key, value);
  }

  /**
   * What the series `key` of `family` with `value` costs (see `store_bytes.ts`). Widens the
   * family's `mostBuckets` to a histogram's buckets.
   */
  #costOf(family: StoredFamily, key: string, value: SeriesValue): number {
    const buckets = bucketCount(value);
    if (buckets > family.series.mostBuckets) family.series.mostBuckets = buckets;
    return seriesBytesOf(family.name, family.type, key, buckets);
  }

  /** Merges `pushed` into the histogram series in `slot`, counting the bytes of new buckets. */
  #mergeHistogram(family: StoredFamily, slot: number, pushed: HistogramValue): void {
    const { series } = family;
    const stored = series.objects[slot] as HistogramValue;
    const before = stored.bounds.length;
    mergeValue("histogram", stored, pushed, this.#gaugeBehavior); // merged in place
    const after = stored.bounds.length;
    if (after === before) return;
    const key = series.keysBySlot[slot]!;
    this.#bytes += (after - before) * bucketBytes(family.name.length, utf8Bytes(key));
    if (after > series.mostBuckets) series.mostBuckets = after;
  }

  /** {@linkcode Store.#changing} for the family `name`, if the store holds it. */
  #changingNamed(name: string): void {
    const family = this.#families.get(name);
    if (family !== undefined) this.#changing(family);
  }

  /**
   * Called before `family` changes: drops its text, after finishing it if an open read has yet
   * to send the family as it was. That rendering is what the read would do anyway, done sooner;
   * the change waits for it.
   */
  #changing(family: StoredFamily): void {
    const text = family.text;
    if (text === undefined) return;
    family.text = undefined;
    if (text.waiting === 0) return;
    // Reads that stop reading would each keep a copy of the aggregate as it was: what they keep
    // has a budget, and the reads that would pass it are cut off instead.
    if (text.finish(this.#maxBacklog - this.#backlog)) {
      this.#backlog += text.bytes;
      text.onReleased = () => this.#backlog -= text.bytes;
      return;
    }
    const reason = new ScrapeCutOff(
      `scrape cut off: it fell behind the changes of the aggregate by more than ${this.#maxBacklog} bytes (--maxScrapeBacklogBytes)`,
    );
    for (const reader of [...text.readers]) {
      this.#cutOffCount++;
      reader.cutOff(reason);
    }
  }

  /** Counts `count` new series, touched at `time`, and a change. */
  #added(count: number, time: number): void {
    this.#changes++;
    this.#seriesCount += count;
    if (count > 0 && time < this.#oldestTouch) this.#oldestTouch = time;
  }

  /** Removes the series `doomed` picks, and families left empty; returns how many. */
  #remove(doomed: (key: string, touched: number) => boolean): number {
    let removed = 0;
    for (const family of this.#families.values()) {
      const { series } = family;
      let freed = 0;
      const pick = (key: string, touched: number, slot: number) => {
        if (!doomed(key, touched)) return false;
        freed += this.#costOf(family, key, series.numeric ? 0 : series.objects[slot]!);
        return true;
      };
      const count = series.removeWhere(pick, () => this.#changing(family));
      this.#bytes -= freed;
      removed += count;
      if (count > 0 && family.series.size === 0) this.#dropFamily(family);
    }
    this.#seriesCount -= removed;
    if (removed > 0) this.#changes++;
    return removed;
  }

  /** Forgets a family and its own bytes; its series are the caller's to count. */
  #dropFamily(family: StoredFamily): void {
    this.#families.delete(family.name);
    this.#bytes -= familyBytes(family.name, family.help);
    this.#order = undefined;
  }
}

/** The buckets of a histogram value; 0 for the other values. */
function bucketCount(value: SeriesValue): number {
  return typeof value === "object" && "bounds" in value ? value.bounds.length : 0;
}

/** What the series of `family` cost the store as new series, counted exactly. */
function newBytes(family: PushFamily): number {
  const { name, type, keys, values } = family;
  let bytes = 0;
  for (let i = 0; i < keys.length; i++) {
    bytes += seriesBytesOf(name, type, keys[i], bucketCount(values[i]));
  }
  return bytes;
}

function checkCounterValues(family: PushFamily): void {
  for (const [i, key] of family.keys.entries()) {
    checkCounterValue(family.name, key, family.values[i] as number);
  }
}

/**
 * Whether the series with canonical key `key` has every label of `match`. Each pair is looked
 * for as its rendered text, `name="escaped value"`, at a label boundary of the key: inside a
 * value every `"` is escaped, so `name="` can only start a label, and a closing `"` followed by
 * `,` or the end can only end one. This avoids parsing every key of the store on a DELETE.
 */
function matches(key: string, match: readonly Label[]): boolean {
  for (const [name, value] of match) {
    if (value === "") {
      if (key.startsWith(name + '="') || key.includes("," + name + '="')) return false;
      continue;
    }
    const pair = name + '="' + escapeLabelValue(value) + '"';
    const found = key === pair || key.startsWith(pair + ",") || key.endsWith("," + pair) ||
      key.includes("," + pair + ",");
    if (!found) return false;
  }
  return true;
}
