// The series of one stored family, kept by slot: each series has a small index into flat arrays
// of keys, values and touch times, and the family keeps its slots sorted by key, so that a scrape
// walks arrays in order instead of looking up every series in a hash map.

import type { HistogramValue, MetricType, SeriesValue, SummaryValue } from "../core/model.ts";

/** Tables with more slots than this are compacted once three quarters of the slots are free. */
const COMPACT_FROM = 1024;

// Shared by every table, and never written: most families hold one series or a few, and a
// million of them must not each pay for empty arrays (an empty typed array alone is ~200 bytes).
/** The order of an empty table. */
const NO_SLOTS = new Int32Array(0);
/** The order of a table whose one series is in slot 0. */
const FIRST_SLOT = Int32Array.of(0);
/** The value array a table does not use (`objects` of a numeric one, `numbers` of the others). */
const UNUSED: never[] = Object.freeze([]) as never[];

/** Whether a family of `type` holds a bare number per series. */
export function isNumeric(type: MetricType): boolean {
  return type === "counter" || type === "gauge" || type === "untyped";
}

/**
 * A family's series. Owned by the store, which changes it only after finishing any text an
 * open read still needs (slots are reused, so a text begun before a change must not read on).
 *
 * A slot, once given to a series, stays that series' until it is removed; removed slots are
 * given to the next new series, and when removals leave most slots free the table is compacted
 * (every series gets a new slot). Values live in `numbers` for a counter, gauge or untyped
 * family (a plain array of doubles, which V8 stores unboxed) and in `objects` for the others.
 * The arrays are replaced when the table is compacted and when its first series is added: read
 * them again after a removal or an addition.
 */
export class SeriesTable {
  readonly numeric: boolean;
  /** The slot of each series, by canonical label key. */
  readonly #slots = new Map<string, number>();
  /** The key of each slot; undefined for a free slot. Read only outside this class. */
  keysBySlot: (string | undefined)[] = UNUSED;
  /** False once a key with a char outside ASCII is added, until a compaction finds none left. */
  asciiKeys = true;
  /**
   * A histogram family's: no fewer than the buckets of its widest series. The store raises it as
   * series widen and never lowers it; it spares the store a look at the stored series when a
   * pushed histogram cannot take one past `--maxBucketsPerSeries`.
   */
  mostBuckets = 0;
  /** Values by slot for a numeric family. The store writes them in place. */
  numbers: number[] = UNUSED;
  /** Values by slot for a histogram or summary family, updated in place by the store. */
  objects: (HistogramValue | SummaryValue | undefined)[] = UNUSED;
  /** When each slot's series was last pushed to; kept only when the store tracks it. */
  #touched: number[] | undefined;
  /** Slots freed by removals, for the next new series; undefined when there are none yet. */
  #free: number[] | undefined;
  /**
   * The slots in render order (sorted by key), kept up to date: removed slots are taken out at
   * once, and added ones (in `#added`) are merged in by {@linkcode SeriesTable.sorted}, or by
   * {@linkcode SeriesTable.settle} once they are many, so that no render sorts all the keys
   * again. Undefined after {@linkcode SeriesTable.unsorted} until the next `sorted()` sorts all.
   */
  #order: Int32Array | undefined = NO_SLOTS;
  /** Slots of the series added since `#order` was last brought up to date. */
  #added: number[] = UNUSED;

  constructor(type: MetricType, tracksTouches: boolean) {
    this.numeric = isNumeric(type);
    this.#touched = tracksTouches ? UNUSED : undefined;
  }

  /** How many series the table holds. */
  get size(): number {
    return this.#slots.size;
  }

  /** The slot of the series `key`, or undefined when the table does not hold it. */
  slotOf(key: string): number | undefined {
    return this.#slots.get(key);
  }

  has(key: string): boolean {
    return this.#slots.has(key);
  }

  /** The value of the series `key`, or undefined. The value is the table's: do not modify it. */
  get(key: string): SeriesValue | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    return this.numeric ? this.numbers[slot] : this.objects[slot];
  }

  /** The keys of the series held, in no particular order. */
  keys(): IterableIterator<string> {
    return this.#slots.keys();
  }

  /** Adds the series `key`, which the table must not hold, with `value`, which it then owns. */
  add(key: string, value: SeriesValue): number {
    const slot = this.#free?.pop() ?? this.keysBySlot.length;
    this.#slots.set(key, slot);
    if (this.keysBySlot.length === 0) {
      // The first slot: arrays of one, where a write into an empty array would make room for 17.
      this.keysBySlot = [key];
      if (this.numeric) this.numbers = [value as number];
      else this.objects = [value as HistogramValue | SummaryValue];
      if (this.#touched !== undefined) this.#touched = [0];
    } else {
      this.keysBySlot[slot] = key;
      if (this.numeric) {
        this.numbers[slot] = value as number;
      } else {
        this.objects[slot] = value as HistogramValue | SummaryValue;
      }
      if (this.#touched !== undefined) this.#touched[slot] = 0;
    }
    if (this.asciiKeys) this.asciiKeys = isAscii(key);
    if (this.#order === undefined) return slot;
    if (this.#slots.size === 1) {
      // Alone in the table: already in order, and no list of added slots is needed.
      this.#order = slot === 0 ? FIRST_SLOT : Int32Array.of(slot);
    } else if (this.#added.length === 0) {
      this.#added = [slot];
    } else {
      this.#added.push(slot);
    }
    return slot;
  }

  /** Records that the series in `slot` was pushed to at `time`, if the table tracks it. */
  touch(slot: number, time: number): void {
    if (this.#touched !== undefined) this.#touched[slot] = time;
  }

  /** When the series `key` was last pushed to, or undefined when not tracked or not held. */
  touchedAt(key: string): number | undefined {
    const slot = this.#slots.get(key);
    return slot === undefined ? undefined : this.#touched?.[slot];
  }

  /** Whether the table keeps the times its series were last pushed to. */
  get tracksTouches(): boolean {
    return this.#touched !== undefined;
  }

  /** When the series in `slot` was last pushed to, if the table tracks it. */
  touchedAtSlot(slot: number): number | undefined {
    return this.#touched?.[slot];
  }

  /**
   * Removes the series `doomed` picks (given each key, touch time, 0 when not tracked, and
   * slot, whose value is still there to read), calling `before` once before the first removal.
   * Returns how many were removed.
   */
  removeWhere(
    doomed: (key: string, touched: number, slot: number) => boolean,
    before: () => void,
  ): number {
    let gone: Set<number> | undefined;
    for (const [key, slot] of this.#slots) {
      if (!doomed(key, this.#touched?.[slot] ?? 0, slot)) continue;
      if (gone === undefined) {
        before();
        gone = new Set();
      }
      gone.add(slot);
    }
    if (gone === undefined) return 0;
    for (const slot of gone) {
      this.#slots.delete(this.keysBySlot[slot]!);
      this.keysBySlot[slot] = undefined;
      if (this.numeric) {
        this.numbers[slot] = 0;
      } else {
        this.objects[slot] = undefined;
      }
      (this.#free ??= []).push(slot);
    }
    if (this.#order !== undefined) {
      this.#order = this.#order.filter((slot) => !gone.has(slot));
      this.#added = this.#added.filter((slot) => !gone.has(slot));
    }
    // Slots are reused, so the arrays only grow to the most series held at once; after a large
    // removal (a DELETE, a wave of expiry) most of that would stay unused.
    if (this.keysBySlot.length > COMPACT_FROM && 4 * this.#slots.size < this.keysBySlot.length) {
      this.#compact();
    }
    return gone.size;
  }

  /**
   * Gives every series a new slot, its place in the render order, in new arrays just large enough:
   * a scrape then also reads the arrays in order.
   */
  #compact(): void {
    const order = this.sorted();
    // Filled by push, which keeps V8's arrays packed (no holes to check for on reads).
    const keys: string[] = [];
    const numbers: number[] = [];
    const objects: (HistogramValue | SummaryValue)[] = [];
    const touched = this.#touched === undefined ? undefined : [] as number[];
    let asciiKeys = true;
    for (const slot of order) {
      const key = this.keysBySlot[slot]!;
      this.#slots.set(key, keys.length);
      keys.push(key);
      if (asciiKeys) asciiKeys = isAscii(key);
      if (this.numeric) numbers.push(this.numbers[slot]);
      else objects.push(this.objects[slot]!);
      touched?.push(this.#touched![slot]);
    }
    this.keysBySlot = keys;
    this.asciiKeys = asciiKeys;
    this.numbers = this.numeric ? numbers : UNUSED;
    this.objects = this.numeric ? UNUSED : objects;
    this.#touched = touched;
    this.#free = undefined;
    this.#order = Int32Array.from(keys, (_, i) => i);
  }

  /** Forgets the kept order, for a table filled in no order: the next `sorted()` sorts all. */
  unsorted(): void {
    this.#order = undefined;
    this.#added = UNUSED;
  }

  /**
   * Merges the added slots into the order when they are many: at least 1024, and a quarter of
   * the order. The merges of a family that grows by pushes then copy its order a few times over
   * in all, and a render has at most that many keys left to sort.
   */
  settle(): void {
    if (this.#added.length > Math.max(1024, (this.#order?.length ?? 0) / 4)) this.sorted();
  }

  /**
   * The slots in render order, brought up to date. The array is the table's, replaced (never
   * changed) when the order changes, so a caller may keep it while the table does not change.
   */
  sorted(): Int32Array {
    let order = this.#order;
    if (order === undefined) {
      order = this.#slotsOf([...this.#slots.keys()].sort());
    } else if (this.#added.length > 0) {
      const added = this.#slotsOf(this.#added.map((slot) => this.keysBySlot[slot]!).sort());
      order = this.#merge(order, added);
    }
    this.#order = order;
    this.#added = UNUSED;
    return order;
  }

  /** The keys in render order. */
  sortedKeys(): string[] {
    return Array.from(this.sorted(), (slot) => this.keysBySlot[slot]!);
  }

  #slotsOf(sortedKeys: readonly string[]): Int32Array {
    if (sortedKeys.length === 1 && this.#slots.get(sortedKeys[0]) === 0) return FIRST_SLOT;
    const slots = new Int32Array(sortedKeys.length);
    for (let i = 0; i < sortedKeys.length; i++) slots[i] = this.#slots.get(sortedKeys[i])!;
    return slots;
  }

  /** The sorted slot arrays `a` and `b` as one, ordered by key as `Array.prototype.sort` does. */
  #merge(a: Int32Array, b: Int32Array): Int32Array {
    const keys = this.keysBySlot;
    const merged = new Int32Array(a.length + b.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < a.length && j < b.length) {
      merged[k++] = keys[b[j]]! < keys[a[i]]! ? b[j++] : a[i++];
    }
    while (i < a.length) merged[k++] = a[i++];
    while (j < b.length) merged[k++] = b[j++];
    return merged;
  }
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 128) return false;
  return true;
}
