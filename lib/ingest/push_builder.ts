// Builds a validated Push from the samples a parser reads. Every input format feeds this one
// builder, so grouping labels, series keys and the per-push rules are written once.

import {
  checkCounterValue,
  checkHistogramValues,
  checkSampleNames,
  checkSummaryValues,
  seriesName,
  shortSeriesName,
} from "../core/checks.ts";
import { PushError } from "../core/errors.ts";
import {
  formatBound,
  type HistogramValue,
  isLabelName,
  type Label,
  labelKey,
  type MetricType,
  type Push,
  type PushFamily,
  type SeriesValue,
  type SummaryValue,
} from "../core/model.ts";
import { familyBytes, seriesBytes, seriesBytesAtMost, utf8Bytes } from "../core/store_bytes.ts";

/** Limits on the labels of one series (`--maxLabelsPerSeries`, `--maxLabelValueLength`). */
export interface LabelLimits {
  maxLabels: number;
  /**
   * In bytes of UTF-8, as Prometheus' own `label_value_length_limit` counts (Go's `len`): the
   * limit guards memory, and bytes are what a value costs.
   */
  maxValueLength: number;
}

export const NO_LABEL_LIMITS: LabelLimits = { maxLabels: Infinity, maxValueLength: Infinity };

/** What a push is checked against while it is read: the label limits, and more. */
export interface PushLimits extends LabelLimits {
  /** The most buckets of one histogram series (`--maxBucketsPerSeries`); none when absent. */
  maxBuckets?: number;
  /**
   * The most samples (lines, or protobuf and JSON values) one push may hold
   * (`--maxSamplesPerPush`); none when absent. A push is parsed and applied in one go, so this
   * bounds how long one push keeps the gateway from everything else.
   */
  maxSamples?: number;
  /** The store the push is for, to refuse early a push that cannot fit it. */
  room?: StoreRoom;
}

/**
 * What a push may still add to the store, which the builder asks while a push is read, so that a
 * push the store would refuse for its size is refused when that is plain, not after it is built
 * whole (the store checks the built push all the same). The builder only asks once the push
 * could pass the room, so a push that fits with room to spare costs no look-ups.
 */
export interface StoreRoom {
  /** How many new series, families and bytes the store can take now (Infinity: no limit). */
  room(): { series: number; families: number; bytes: number };
  holdsSeries(name: string, key: string): boolean;
  holdsFamily(name: string): boolean;
  /**
   * The error the store refuses a push with that adds at least `families` families, `series`
   * series and `bytes` bytes (as `store_bytes.ts` counts them); undefined if those fit.
   */
  refusal(families: number, series: number, bytes: number): PushError | undefined;
}

interface HistogramDraft {
  buckets: Map<number, number>;
  count: number | undefined;
  sum: number | undefined;
}

interface SummaryDraft {
  count: number | undefined;
  sum: number | undefined;
}

type DraftValue = number | HistogramDraft | SummaryDraft;

/** A family being built; parsers hold it to add samples without a name lookup per line. */
export interface FamilyDraft {
  readonly name: string;
  readonly type: MetricType;
  help: string | undefined;
  readonly series: Map<string, DraftValue>;
  /** In snapshot mode: each series' latest sample timestamp. */
  readonly touched: Map<string, number>;
}

/**
 * Collects the samples of one push. A parser keys each sample's labels with
 * {@linkcode PushBuilder.seriesKey} (from a flat `[name, value, name, value…]` array in input
 * order: the grouping labels override body labels of the same name, empty values are dropped,
 * the rest sorted and escaped) and adds the sample under that key; a series is keyed once.
 *
 * Errors are thrown as {@linkcode PushError} at the sample that causes them, so a parser can
 * add its line number.
 */
export class PushBuilder {
  readonly #grouping: readonly Label[];
  readonly #groupingNames: ReadonlySet<string>;
  readonly #groupingKey: string;
  readonly #limits: LabelLimits;
  readonly #maxBuckets: number;
  readonly #maxSamples: number;
  #samples = 0;
  readonly #room: RoomCheck | undefined;
  readonly #snapshot: boolean;
  /**
   * The timestamp of the sample being added, which a parser sets before each `add…` call.
   * Kept only in snapshot mode, where it is the time the series was last pushed to.
   */
  sampleTime: number | undefined;
  readonly #families = new Map<string, FamilyDraft>();

  /**
   * `grouping` must hold valid, distinct label names (see `grouping.ts`), in any order. Throws
   * {@linkcode PushError} when the grouping has more labels, or a longer value, than `limits`
   * allow. With `limits.room`, the push is checked against the store's room as it grows.
   */
  constructor(
    grouping: readonly Label[] = [],
    limits: PushLimits = NO_LABEL_LIMITS,
    snapshot = false,
  ) {
    this.#limits = limits;
    this.#maxBuckets = limits.maxBuckets ?? Infinity;
    this.#maxSamples = snapshot ? Infinity : limits.maxSamples ?? Infinity;
    this.#snapshot = snapshot;
    // Checked here, not only where a line's labels join the grouping's: a line with no labels
    // of its own is keyed by the grouping alone.
    this.#checkLabelCount(grouping.length, "the path");
    for (const [name, value] of grouping) this.#checkValueLength(name, value);
    this.#room = limits.room === undefined || snapshot ? undefined : new RoomCheck(limits.room);
    // Sorted once here, so that a sample without labels of its own is keyed canonically too.
    this.#grouping = grouping.toSorted(byName);
    this.#groupingNames = new Set(grouping.map(([name]) => name));
    this.#groupingKey = labelKey(this.#grouping);
  }

  /** Counts a sample, and stops the parse at the first one past `maxSamples`. */
  #countSample(): void {
    if (++this.#samples <= this.#maxSamples) return;
    throw new PushError(
      `the push holds more than ${this.#maxSamples} samples, the limit (--maxSamplesPerPush)`,
      "push_limit",
    );
  }

  /** Returns the family `name`, declaring it with `type` if the push has not seen it. */
  family(name: string, type: MetricType, help?: string): FamilyDraft {
    let family = this.#families.get(name);
    if (family === undefined) {
      this.checkNameLength(name);
      family = { name, type, help, series: new Map(), touched: new Map() };
      this.#families.set(name, family);
    } else if (family.type !== type) {
      throw new PushError(
        `metric "${name}" is pushed as both ${family.type} and ${type}`,
        "type_conflict",
      );
    } else if (help !== undefined) {
      family.help = help;
    }
    return family;
  }

  /** Adds the value of a counter, gauge or untyped series. */
  addValue(family: FamilyDraft, key: string, value: number): void {
    this.#countSample();
    if (family.series.has(key)) throw duplicate(family.name, key);
    if (family.type === "counter") checkCounterValue(family.name, key, value);
    family.series.set(key, value);
    this.#admit(family, key);
    this.#touch(family, key);
  }

  /** Adds one cumulative bucket of a histogram series. */
  addBucket(family: FamilyDraft, key: string, le: number, value: number): void {
    this.#countSample();
    if (Number.isNaN(le)) {
      throw new PushError(`histogram ${seriesName(family.name, key)} has a bucket with le="NaN"`);
    }
    const draft = this.#histogram(family, key);
    if (draft.buckets.has(le)) {
      throw duplicate(family.name, key, ` with le="${formatBound(le)}"`);
    }
    // Before the bucket is kept: a push of a histogram with endless bounds stops here.
    if (draft.buckets.size >= this.#maxBuckets) {
      const what = `histogram ${shortSeriesName(family.name, key)}`;
      throw new PushError(
        `${what} has more than ${this.#maxBuckets} buckets, the limit (--maxBucketsPerSeries)`,
        "bucket_limit",
      );
    }
    draft.buckets.set(le, value);
    this.#touch(family, key);
  }

  /** Adds the `_sum` of a histogram or summary series. */
  addSum(family: FamilyDraft, key: string, value: number): void {
    this.#countSample();
    const draft = family.type === "histogram"
      ? this.#histogram(family, key)
      : this.#summary(family, key);
    if (draft.sum !== undefined) throw duplicate(family.name + "_sum", key);
    draft.sum = value;
    this.#touch(family, key);
  }

  /** Adds the `_count` of a histogram or summary series. */
  addCount(family: FamilyDraft, key: string, value: number): void {
    this.#countSample();
    const draft = family.type === "histogram"
      ? this.#histogram(family, key)
      : this.#summary(family, key);
    if (draft.count !== undefined) throw duplicate(family.name + "_count", key);
    draft.count = value;
    this.#touch(family, key);
  }

  /**
   * Notes a summary quantile sample. Quantiles are dropped, but the series still exists, so
   * a summary pushed with quantiles only is reported as missing its `_count`, not ignored.
   */
  addQuantile(family: FamilyDraft, key: string): void {
    this.#countSample();
    this.#summary(family, key);
  }

  /**
   * Finishes the push: checks every histogram and summary is complete, drops the `X_created`
   * families that sit beside a counter, histogram or summary `X`, drops families without
   * series, and checks that no two families render the same sample name.
   */
  finish(): Push {
    const push: Push = [];
    for (const family of this.#families.values()) {
      if (family.series.size === 0) continue;
      // A snapshot holds what the store held, which never has such a family beside its owner
      // unless it came in a separate push: it is kept.
      if (!this.#snapshot && this.#isCreatedTimestamp(family)) continue;
      push.push(finishFamily(family));
    }
    checkSampleNames(push);
    return push;
  }

  /**
   * The canonical key of a sample's labels with the grouping labels applied. Throws on an
   * invalid or reserved label name, on a name given twice, and on the label `reserved` (`le`
   * of a histogram, `quantile` of a summary), which the series itself must not carry.
   */
  seriesKey(labels: readonly string[], reserved?: string): string {
    if (reserved !== undefined && this.#groupingNames.has(reserved)) {
      throw new PushError(
        `label "${reserved}" in the path is reserved for ${RESERVED_FOR[reserved]}`,
      );
    }
    if (labels.length === 0) return this.#groupingKey;
    // Checked before anything else, so an endless label set costs no sorting.
    this.#checkLabelCount(labels.length / 2);
    const pairs: Label[] = [];
    for (let i = 0; i < labels.length; i += 2) {
      const name = labels[i];
      this.#checkValueLength(name, labels[i + 1]);
      if (!isLabelName(name)) throw new PushError(`invalid label name "${name}"`);
      if (name.startsWith("__")) {
        throw new PushError(
          `label name "${name}" is reserved: names starting with "__" are for Prometheus`,
        );
      }
      if (name === reserved) {
        throw new PushError(`label "${name}" is reserved for ${RESERVED_FOR[name]}`);
      }
      pairs.push([name, labels[i + 1]]);
    }
    // Sorting first finds a repeated name in O(n log n) however many labels a line has.
    if (pairs.length > 1) {
      pairs.sort(byName);
      for (let i = 1; i < pairs.length; i++) {
        if (pairs[i][0] === pairs[i - 1][0]) {
          throw new PushError(`label "${pairs[i][0]}" is given twice`);
        }
      }
    }
    if (this.#grouping.length === 0) return labelKey(pairs);
    const merged = pairs.filter(([name]) => !this.#groupingNames.has(name));
    merged.push(...this.#grouping);
    this.#checkLabelCount(merged.length);
    return labelKey(merged.sort(byName));
  }

  #checkLabelCount(count: number, what = "a series"): void {
    if (count > this.#limits.maxLabels) {
      throw new PushError(
        `${what} has ${count} labels, more than the limit of ${this.#limits.maxLabels} (--maxLabelsPerSeries)`,
        "label_limit",
      );
    }
  }

  /** Checks the series `key`, new to the push, against the store's room. */
  #admit(family: FamilyDraft, key: string): void {
    const room = this.#room;
    // An `X_created` family may yet be dropped (see finish()): it is left out of the count,
    // which only has to stay below what the store would count.
    if (room === undefined || family.name.endsWith("_created")) return;
    if (family.series.size === 1) room.addFamily(family.name);
    room.addSeries(family, key, this.#families.values());
  }

  /**
   * Refuses a metric name longer than `--maxLabelValueLength` bytes: a name is held, matched
   * against the rules' regexes and printed like a value, and only the body's size bounded it.
   */
  checkNameLength(name: string): void {
    const max = this.#limits.maxValueLength;
    if (name.length <= max / 3) return;
    const bytes = utf8Bytes(name);
    if (bytes > max) {
      const shown = name.length > 64 ? name.slice(0, 64) + "…" : name;
      throw new PushError(
        `metric name "${shown}" is ${bytes} bytes long, more than the limit of ${max} (--maxLabelValueLength)`,
        "label_limit",
      );
    }
  }

  #checkValueLength(name: string, value: string): void {
    const max = this.#limits.maxValueLength;
    // A UTF-16 unit is at most 3 bytes of UTF-8: most values are plainly short enough.
    if (value.length <= max / 3) return;
    const bytes = utf8Bytes(value);
    if (bytes > max) {
      throw new PushError(
        `the value of label "${name}" is ${bytes} bytes long, more than the limit of ${max} (--maxLabelValueLength)`,
        "label_limit",
      );
    }
  }

  #touch(family: FamilyDraft, key: string): void {
    const time = this.sampleTime;
    if (!this.#snapshot || time === undefined) return;
    family.touched.set(key, Math.max(time, family.touched.get(key) ?? -Infinity));
  }

  #histogram(family: FamilyDraft, key: string): HistogramDraft {
    let draft = family.series.get(key) as HistogramDraft | undefined;
    if (draft === undefined) {
      draft = { buckets: new Map(), count: undefined, sum: undefined };
      family.series.set(key, draft);
      this.#admit(family, key);
    }
    return draft;
  }

  #summary(family: FamilyDraft, key: string): SummaryDraft {
    let draft = family.series.get(key) as SummaryDraft | undefined;
    if (draft === undefined) {
      draft = { count: undefined, sum: undefined };
      family.series.set(key, draft);
      this.#admit(family, key);
    }
    return draft;
  }

  /**
   * A creation timestamp cannot be summed, so `X_created` is dropped when it sits beside a
   * counter, histogram or summary `X`. The Python client writes a counter `X` as `X_total`
   * with a gauge `X_created`, hence the second lookup.
   */
  #isCreatedTimestamp(family: FamilyDraft): boolean {
    if (!family.name.endsWith("_created")) return false;
    if (family.type !== "gauge" && family.type !== "untyped") return false;
    const base = family.name.slice(0, -"_created".length);
    const owner = this.#families.get(base);
    if (owner !== undefined && owner.type !== "gauge" && owner.type !== "untyped") return true;
    return this.#families.get(base + "_total")?.type === "counter";
  }
}

/**
 * Counts what a push being built would add to the store, to refuse one that cannot fit as soon
 * as that is plain (see {@linkcode StoreRoom}). Every series is counted as new, with a lower
 * bound of its bytes, until the count passes the store's room; from then on each is looked up
 * in the store, the ones counted before too, and counted only if the store does not hold it.
 * Every count stays at most what the store's own check counts, so a push refused here is one
 * the store would refuse.
 */
class RoomCheck {
  readonly #store: StoreRoom;
  readonly #room: { series: number; families: number; bytes: number };
  #families = 0;
  #familyBytes = 0;
  #series = 0;
  #seriesBytes = 0;
  /** Whether series are looked up, and counted only when new to the store. */
  #exact = false;

  constructor(store: StoreRoom) {
    this.#store = store;
    this.#room = store.room();
  }

  /** Counts the family `name`, new to the push, if new to the store. */
  addFamily(name: string): void {
    if (this.#store.holdsFamily(name)) return;
    this.#families++;
    this.#familyBytes += familyBytes(name, undefined);
    if (this.#families > this.#room.families) this.#refuse();
  }

  /** Counts the series `key` of `family`, new to the push; `drafts` are all the push's. */
  addSeries(family: FamilyDraft, key: string, drafts: Iterable<FamilyDraft>): void {
    if (this.#exact) {
      this.#countIfNew(family, key);
    } else {
      this.#series++;
      this.#seriesBytes += leastBytes(family, key);
      if (this.#fits()) return;
      this.#exact = true;
      this.#series = 0;
      this.#seriesBytes = 0;
      for (const draft of drafts) {
        if (draft.name.endsWith("_created")) continue; // as PushBuilder.#admit
        for (const held of draft.series.keys()) this.#countIfNew(draft, held);
      }
    }
    if (!this.#fits()) this.#refuse();
  }

  #fits(): boolean {
    return this.#series <= this.#room.series &&
      this.#familyBytes + this.#seriesBytes <= this.#room.bytes;
  }

  #countIfNew(family: FamilyDraft, key: string): void {
    if (this.#store.holdsSeries(family.name, key)) return;
    this.#series++;
    this.#seriesBytes += leastBytes(family, key);
  }

  #refuse(): void {
    const error = this.#exact
      ? this.#store.refusal(this.#families, this.#series, this.#familyBytes + this.#seriesBytes)
      : this.#store.refusal(this.#families, 0, this.#familyBytes);
    if (error !== undefined) throw error;
  }
}

/**
 * No more than the store counts for the series `key` of `family` if it is new: as if its key
 * were ASCII and, for a histogram, it had the one bucket it must have.
 */
function leastBytes(family: FamilyDraft, key: string): number {
  const buckets = family.type === "histogram" ? 1 : 0;
  return seriesBytes(family.name.length, family.type, key.length, key.length, buckets);
}

/** What the label a series of a type must not carry is for. */
const RESERVED_FOR: Record<string, string> = {
  le: "histogram buckets",
  quantile: "summary quantiles",
};

/** The label a series of `type` must not carry itself. */
export function reservedLabel(type: MetricType): string | undefined {
  return type === "histogram" ? "le" : type === "summary" ? "quantile" : undefined;
}

function byName(a: Label, b: Label): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function duplicate(name: string, key: string, detail = ""): PushError {
  return new PushError(`series ${seriesName(name, key)}${detail} appears twice in the push`);
}

function finishFamily(draft: FamilyDraft): PushFamily {
  const { name, type } = draft;
  const keys = [...draft.series.keys()];
  const values: SeriesValue[] = [];
  let bytes = 0;
  for (const [key, value] of draft.series) {
    let buckets = 0;
    if (typeof value === "number") {
      values.push(value);
    } else if (type === "histogram") {
      const histogram = finishHistogram(name, key, value as HistogramDraft);
      values.push(histogram);
      buckets = histogram.bounds.length;
    } else {
      values.push(finishSummary(name, key, value as SummaryDraft));
    }
    bytes += seriesBytesAtMost(name.length, type, key.length, buckets);
  }
  return { name, type, help: draft.help, keys, values, touched: draft.touched, bytes };
}

function finishHistogram(name: string, key: string, draft: HistogramDraft): HistogramValue {
  const what = `histogram ${seriesName(name, key)}`;
  if (!draft.buckets.has(Infinity)) throw new PushError(`${what} has no le="+Inf" bucket`);
  if (draft.count === undefined) throw new PushError(`${what} has no _count`);
  if (draft.sum === undefined) throw new PushError(`${what} has no _sum`);
  const bounds = [...draft.buckets.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => draft.buckets.get(le)!);
  const histogram = { bounds, counts, count: draft.count, sum: draft.sum };
  checkHistogramValues(name, key, histogram);
  return histogram;
}

function finishSummary(name: string, key: string, draft: SummaryDraft): SummaryValue {
  const what = `summary ${seriesName(name, key)}`;
  if (draft.count === undefined) throw new PushError(`${what} has no _count`);
  if (draft.sum === undefined) throw new PushError(`${what} has no _sum`);
  const summary = { count: draft.count, sum: draft.sum };
  checkSummaryValues(name, key, summary);
  return summary;
}
