// The in-memory aggregate: every family and series the gateway holds. The only stateful module
// of the core; it applies pushes atomically and renders itself for the scrape.

import { PushError } from "./errors.ts";
import { applyDelta, copyValue, type GaugeBehavior, mergeValue } from "./merge.ts";
import {
  type Delta,
  escapeLabelValue,
  type Label,
  type MetricType,
  type Push,
  type PushFamily,
  type SeriesValue,
} from "./model.ts";
import { checkCounterValue, sampleNames } from "./push.ts";
import { renderFamily } from "./render.ts";

/** A family as the store holds it. Owned by the store: callers must not modify it. */
export interface StoredFamily {
  readonly name: string;
  readonly type: MetricType;
  help: string | undefined;
  /** Keyed by the canonical label key; values are owned by the store. */
  readonly series: Map<string, SeriesValue>;
  /** The family's rendered text, kept until the family next changes. */
  rendered: string | undefined;
}

/** What applying a push did, for the gateway's own metrics. */
export interface ApplyResult {
  samples: number;
  newSeries: number;
}

export interface StoreOptions {
  gaugeBehavior: GaugeBehavior;
}

/**
 * The aggregate store.
 *
 * Contract:
 * - Atomicity: {@linkcode Store.apply} and {@linkcode Store.applyDeltas} validate the whole
 *   push against the store before they change anything. If they throw, the store is exactly
 *   as it was; if they return, all of the push is merged. There is no partial application.
 * - Ownership: the store copies what it keeps; the caller's push is never modified and may be
 *   dropped or applied again.
 * - Consistency: a family keeps the type of its first push. No two families ever write the same
 *   sample name (a histogram `x` owns `x_bucket`, `x_sum`, `x_count`), so a scrape never holds
 *   a sample twice.
 * - Ordering: {@linkcode Store.render} writes families sorted by name and series sorted by
 *   label key, so equal stores render byte-for-byte equal text.
 * - Concurrency: every method runs to completion synchronously, so requests served
 *   concurrently by one event loop see each push whole or not at all.
 */
export class Store {
  readonly #gaugeBehavior: GaugeBehavior;
  readonly #families = new Map<string, StoredFamily>();
  /** Which family writes each sample name, to refuse a family that would collide. */
  readonly #sampleOwners = new Map<string, string>();
  #seriesCount = 0;
  /** Family names in render order; undefined after a family is added or removed. */
  #order: string[] | undefined = [];

  constructor(options: StoreOptions) {
    this.#gaugeBehavior = options.gaugeBehavior;
  }

  /** Number of series held; a histogram or summary series counts once. */
  get seriesCount(): number {
    return this.#seriesCount;
  }

  get familyCount(): number {
    return this.#families.size;
  }

  /** The family `name`, or undefined. For reading only. */
  family(name: string): StoredFamily | undefined {
    return this.#families.get(name);
  }

  /**
   * Merges a push into the store, all or nothing (see the contract above). Throws
   * {@linkcode PushError} when a family's type differs from the stored one or when a new family
   * would write a sample name another family already writes.
   */
  apply(push: Push): ApplyResult {
    this.#validate(push);
    let samples = 0;
    let newSeries = 0;
    for (const pushed of push) {
      const family = this.#familyFor(pushed.name, pushed.type, pushed.help);
      const series = family.series;
      for (const [key, value] of pushed.series) {
        const stored = series.get(key);
        if (stored === undefined) {
          series.set(key, copyValue(value));
          newSeries++;
        } else {
          series.set(key, mergeValue(family.type, stored, value, this.#gaugeBehavior));
        }
        samples++;
      }
    }
    this.#seriesCount += newSeries;
    return { samples, newSeries };
  }

  /**
   * Applies JSON deltas in order, all or nothing: every family they touch is checked against
   * the store (type, sample names) before the first one is applied, and applying cannot fail.
   * The caller has checked the deltas among themselves (see `parseDeltas`).
   */
  applyDeltas(deltas: readonly Delta[]): ApplyResult {
    const checked = new Set<string>();
    for (const delta of deltas) {
      if (!checked.has(delta.name)) this.#checkFamily(delta.name, delta.type);
      checked.add(delta.name);
    }
    let newSeries = 0;
    for (const delta of deltas) {
      const family = this.#familyFor(delta.name, delta.type, delta.help);
      const stored = family.series.get(delta.key);
      if (stored === undefined) newSeries++;
      family.series.set(delta.key, applyDelta(delta, stored));
    }
    this.#seriesCount += newSeries;
    return { samples: deltas.length, newSeries };
  }

  /**
   * Removes every series whose labels include all of `match`; a pair with an empty value
   * matches series that do not have that label. Families left empty are removed. Returns the
   * number of series removed.
   */
  delete(match: readonly Label[]): number {
    let removed = 0;
    for (const family of this.#families.values()) {
      for (const key of family.series.keys()) {
        if (matches(key, match)) {
          family.series.delete(key);
          family.rendered = undefined;
          removed++;
        }
      }
      if (family.series.size === 0) this.#removeFamily(family);
    }
    this.#seriesCount -= removed;
    return removed;
  }

  /** The whole aggregate in the text format 0.0.4. */
  render(): string {
    this.#order ??= [...this.#families.keys()].sort();
    let text = "";
    for (const name of this.#order) {
      const family = this.#families.get(name)!;
      family.rendered ??= renderFamily(family);
      text += family.rendered;
    }
    return text;
  }

  #validate(push: Push): void {
    for (const pushed of push) {
      const family = this.#families.get(pushed.name);
      if (
        family !== undefined && pushed.type === "untyped" &&
        (family.type === "counter" || family.type === "gauge")
      ) {
        // A sample without a TYPE line takes the type the gateway already knows, so that
        // `echo 'jobs 1' | curl --data-binary @- …` adds to a counter pushed with TYPE.
        if (family.type === "counter") checkCounterValues(pushed);
        continue;
      }
      this.#checkFamily(pushed.name, pushed.type);
    }
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
      const owner = this.#sampleOwners.get(sample);
      if (owner !== undefined) {
        const ownerType = this.#families.get(owner)!.type;
        throw new PushError(
          `metric "${name}" (${type}) would write samples named "${sample}", which ${ownerType} "${owner}" in the gateway already writes`,
          "type_conflict",
        );
      }
    }
  }

  /** The family `name`, created if new; marked changed, with its HELP updated if given. */
  #familyFor(name: string, type: MetricType, help: string | undefined): StoredFamily {
    let family = this.#families.get(name);
    if (family === undefined) {
      family = { name, type, help, series: new Map(), rendered: undefined };
      this.#families.set(name, family);
      for (const sample of sampleNames(name, type)) this.#sampleOwners.set(sample, name);
      this.#order = undefined;
    } else if (help !== undefined) {
      family.help = help; // the latest HELP wins
    }
    family.rendered = undefined;
    return family;
  }

  #removeFamily(family: StoredFamily): void {
    this.#families.delete(family.name);
    for (const sample of sampleNames(family.name, family.type)) {
      this.#sampleOwners.delete(sample);
    }
    this.#order = undefined;
  }
}

function checkCounterValues(family: PushFamily): void {
  for (const [key, value] of family.series) checkCounterValue(family.name, key, value as number);
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
