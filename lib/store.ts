// The in-memory aggregate: every family and series the gateway holds. The only stateful module
// of the core; it applies pushes atomically, expires idle series, and renders itself.

import { PushError } from "./errors.ts";
import { applyDelta, copyValue, type GaugeBehavior, mergeValue } from "./merge.ts";
import {
  type Delta,
  detach,
  escapeLabelValue,
  type Label,
  type MetricType,
  type Push,
  type PushFamily,
} from "./model.ts";
import { checkCounterValue, sampleNames, seriesName } from "./push.ts";
import { concatBytes, renderPiece } from "./render.ts";
import { SeriesTable } from "./series_table.ts";

/** A family as the store holds it. Owned by the store: callers must not modify it. */
export interface StoredFamily {
  readonly name: string;
  readonly type: MetricType;
  help: string | undefined;
  /**
   * The series by canonical label key, with their values and, only with a `seriesTTL` (the one
   * thing that reads them), the times they were last pushed to in milliseconds of the store's
   * clock. It keeps its slots sorted by key, merging in new series when they are read or many.
   */
  readonly series: SeriesTable;
  /** The family's scrape text, kept until the family next changes. */
  text: FamilyText | undefined;
}

/** A piece of the scrape text: whole lines of one family, as UTF-8. */
export interface TextPiece {
  readonly plain: Uint8Array<ArrayBuffer>;
  /**
   * The piece compressed for a gzip body (`deflatePiece`): a cache the scrape fills the first
   * time it sends the piece gzipped, kept with the piece.
   */
  deflated: Uint8Array<ArrayBuffer> | undefined;
}

/**
 * A family's scrape text as the family was when the text was begun, rendered a piece at a time
 * as readers ask for it. The store finishes it before the family changes if an open read has yet
 * to send all of it, so it never mixes two states of the family.
 */
export class FamilyText {
  readonly #family: StoredFamily;
  readonly #pieces: TextPiece[] = [];
  /** The family's slots in render order, taken when the first piece renders. */
  #order: Int32Array | undefined;
  /** The index in the order of the first series not rendered yet. */
  #next = 0;
  #done = false;
  /** Open reads that have yet to read all of this text. */
  waiting = 0;

  constructor(family: StoredFamily) {
    this.#family = family;
  }

  /** Pieces rendered so far. */
  get length(): number {
    return this.#pieces.length;
  }

  /** Piece `i`, rendered first if need be; undefined past the last one. */
  piece(i: number): TextPiece | undefined {
    while (this.#pieces.length <= i && !this.#done) this.#renderNext();
    return this.#pieces[i];
  }

  /** Renders what is left. */
  finish(): void {
    while (!this.#done) this.#renderNext();
  }

  #renderNext(): void {
    const family = this.#family;
    const order = this.#order ??= family.series.sorted();
    const [plain, next] = renderPiece(family, family.series, order, this.#next);
    this.#pieces.push({ plain, deflated: undefined });
    this.#next = next;
    this.#done = next >= order.length;
  }
}

/**
 * One read of the whole aggregate, from {@linkcode Store.read}: the pieces of its text in order,
 * each rendered when asked for. It reads the store as it was when the read began, whatever
 * changes meanwhile; {@linkcode StoreReader.close} it when done (reading to the end closes it).
 */
export class StoreReader {
  /** The texts of the families in order; each is dropped once read, to free it sooner. */
  readonly #texts: (FamilyText | undefined)[];
  #family = 0;
  #piece = 0;
  #rendered = 0;
  #release: (() => void) | undefined;

  constructor(texts: FamilyText[], release: () => void) {
    this.#texts = texts;
    this.#release = release;
    for (const text of texts) text.waiting++;
  }

  /** Pieces this read rendered, as opposed to found rendered by an earlier read. */
  get rendered(): number {
    return this.#rendered;
  }

  /**
   * The next piece, or undefined at the end or once closed. The pieces are the store's: never
   * write to their bytes.
   */
  next(): TextPiece | undefined {
    if (this.#release === undefined) return undefined;
    while (this.#family < this.#texts.length) {
      const text = this.#texts[this.#family]!;
      const before = text.length;
      const piece = text.piece(this.#piece);
      this.#piece++;
      this.#rendered += text.length - before;
      if (piece !== undefined) return piece;
      text.waiting--;
      this.#texts[this.#family++] = undefined;
      this.#piece = 0;
    }
    this.close();
    return undefined;
  }

  /** Ends the read; the store then stops keeping its view. Closing twice does nothing. */
  close(): void {
    if (this.#release === undefined) return;
    for (let i = this.#family; i < this.#texts.length; i++) {
      this.#texts[i]!.waiting--;
      this.#texts[i] = undefined;
    }
    this.#release();
    this.#release = undefined;
  }
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
  /** Drop a series no push touched for this many milliseconds (`--seriesTTL`); 0: never. */
  seriesTTL?: number;
  /** The clock, in milliseconds; `Date.now` when absent. */
  now?: () => number;
}

/**
 * The aggregate store.
 *
 * Contract:
 * - Atomicity: {@linkcode Store.apply} and {@linkcode Store.applyDeltas} validate the whole
 *   push against the store before they change anything. If they throw, the store is exactly
 *   as it was; if they return, all of the push is merged. There is no partial application.
 * - Limits: a push that would take the store past `maxSeries` is refused whole; a push that
 *   only touches series the store holds is never refused for the limit.
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
 * - Concurrency: every method runs to completion synchronously, so requests served
 *   concurrently by one event loop see each push whole or not at all.
 */
export class Store {
  readonly #gaugeBehavior: GaugeBehavior;
  readonly #maxSeries: number;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #families = new Map<string, StoredFamily>();
  /** Which family writes each sample name, to refuse a family that would collide. */
  readonly #sampleOwners = new Map<string, string>();
  #seriesCount = 0;
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

  constructor(options: StoreOptions) {
    this.#gaugeBehavior = options.gaugeBehavior;
    this.#maxSeries = options.maxSeries ?? Infinity;
    this.#ttl = options.seriesTTL ?? 0;
    this.#now = options.now ?? Date.now;
  }

  /** Number of series held; a histogram or summary series counts once. */
  get seriesCount(): number {
    return this.#seriesCount;
  }

  get familyCount(): number {
    return this.#families.size;
  }

  /** Goes up with every change to the store, so a caller can tell whether it changed. */
  get changes(): number {
    return this.#changes;
  }

  /** Reads begun and not yet closed (see {@linkcode Store.read}). */
  get readers(): number {
    return this.#readers;
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
   * would write a sample name another family already writes, or when the push would add more
   * series than `maxSeries` allows.
   */
  apply(push: Push): ApplyResult {
    this.expire();
    this.#validate(push);
    // Texts that open reads still need are finished before anything changes: it is the one
    // step here that takes time and memory, and it must not find the push half applied.
    for (const pushed of push) this.#changingNamed(pushed.name);
    const now = this.#now();
    let samples = 0;
    let newSeries = 0;
    for (const pushed of push) {
      const family = this.#familyFor(pushed.name, pushed.type, pushed.help);
      const { type, series } = family;
      const { numbers, objects } = series;
      const { keys, values } = pushed;
      for (let i = 0; i < keys.length; i++) {
        const value = values[i];
        let slot = series.slotOf(keys[i]);
        if (slot === undefined) {
          slot = series.add(keys[i], copyValue(value));
          newSeries++;
        } else if (series.numeric) {
          numbers[slot] = mergeValue(type, numbers[slot], value, this.#gaugeBehavior) as number;
        } else {
          mergeValue(type, objects[slot]!, value, this.#gaugeBehavior); // merged in place
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
   * the store (type, sample names, series limit) before the first one is applied, and applying
   * cannot fail. The caller has checked the deltas among themselves (see `parseDeltas`).
   */
  applyDeltas(deltas: readonly Delta[]): ApplyResult {
    this.expire();
    const checked = new Set<string>();
    const fresh = new Set<string>();
    for (const delta of deltas) {
      if (!checked.has(delta.name)) this.#checkFamily(delta.name, delta.type);
      checked.add(delta.name);
      if (!this.#families.get(delta.name)?.series.has(delta.key)) {
        fresh.add(delta.name + "{" + delta.key);
      }
    }
    this.#checkSeriesLimit(fresh.size);
    for (const name of checked) this.#changingNamed(name); // as in apply(), before any change
    const now = this.#now();
    for (const delta of deltas) {
      const { series } = this.#familyFor(delta.name, delta.type, delta.help);
      let slot = series.slotOf(delta.key);
      if (slot === undefined) {
        slot = series.add(delta.key, applyDelta(delta, undefined));
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
    // No series limit here: what the gateway accepted before a restart is kept, even if
    // --maxSeries is now lower; new series wait until expiry or DELETE makes room.
    this.#checkFamily(family.name, family.type);
    const stored = this.#familyFor(family.name, family.type, family.help);
    const { series } = stored;
    series.unsorted(); // the series come sorted by family, not by key: the first render sorts
    let oldest = Infinity;
    for (const [i, key] of family.keys.entries()) {
      if (series.has(key)) {
        // The family is new to the store: dropping it leaves the store as it was.
        this.#dropFamily(stored);
        throw new PushError(`series ${seriesName(family.name, key)} appears twice`);
      }
      const touched = family.touched.get(key) ?? this.#now();
      series.touch(series.add(key, copyValue(family.values[i])), touched);
      oldest = Math.min(oldest, touched);
    }
    this.#added(family.keys.length, oldest);
  }

  /**
   * Removes every series whose labels include all of `match`; a pair with an empty value
   * matches series that do not have that label. Families left empty are removed. Returns the
   * number of series removed.
   */
  delete(match: readonly Label[]): number {
    return this.#remove((key) => matches(key, match));
  }

  /**
   * Removes the series no push touched for `seriesTTL`, and the families they leave empty.
   * Cheap when nothing can have expired. Returns the number removed.
   */
  expire(): number {
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

  #validate(push: Push): void {
    let fresh = 0;
    // New series need counting only when the push could take the store past its limit.
    let pushedSeries = 0;
    for (const pushed of push) pushedSeries += pushed.keys.length;
    const countFresh = this.#seriesCount + pushedSeries > this.#maxSeries;
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
      if (family === undefined) {
        fresh += pushed.keys.length;
      } else if (countFresh) {
        for (const key of pushed.keys) if (!family.series.has(key)) fresh++;
      }
    }
    this.#checkSeriesLimit(fresh);
  }

  #checkSeriesLimit(fresh: number): void {
    if (fresh > 0 && this.#seriesCount + fresh > this.#maxSeries) {
      throw new PushError(
        `the push would add ${fresh} series to the ${this.#seriesCount} the gateway holds, ` +
          `more than its limit of ${this.#maxSeries} (--maxSeries)`,
        "series_limit",
      );
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
      for (const sample of sampleNames(name, type)) this.#sampleOwners.set(sample, name);
      this.#order = undefined;
    } else {
      this.#changing(family);
      if (help !== undefined && help !== family.help) family.help = detach(help); // latest wins
    }
    return family;
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
    if (text.waiting > 0) text.finish();
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
      const count = family.series.removeWhere(doomed, () => this.#changing(family));
      removed += count;
      if (count > 0 && family.series.size === 0) this.#dropFamily(family);
    }
    this.#seriesCount -= removed;
    if (removed > 0) this.#changes++;
    return removed;
  }

  /** Forgets a family and the sample names it wrote; its series are the caller's to count. */
  #dropFamily(family: StoredFamily): void {
    this.#families.delete(family.name);
    for (const sample of sampleNames(family.name, family.type)) this.#sampleOwners.delete(sample);
    this.#order = undefined;
  }
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
