// The caches that let a sender's repeat pushes skip the parse: per push path, the keys of series
// texts seen before and the templates of whole bodies, all drawing on one byte budget
// (`--maxPushCacheBytes`).

import { detach, type Label, type Push } from "../core/model.ts";
import type { PushTemplate } from "./push_template.ts";

/**
 * How a sample's labels are keyed: a plain value, a histogram bucket (its `le` taken out), a
 * summary quantile (its `quantile` taken out), or the `_sum`/`_count` of a histogram or a
 * summary (which must not carry `le` or `quantile`).
 */
export type KeyMode = "value" | "bucket" | "quantile" | "histogram" | "summary";

/** What a cache remembers of a series text: its name, key mode, key and bucket bound. */
export interface CachedSeries {
  readonly name: string;
  /** Undefined for a sample that is dropped (a `_created`), which has no key. */
  readonly mode: KeyMode | undefined;
  readonly key: string;
  /** A bucket's bound; NaN for the other modes. */
  readonly le: number;
}

/** The default of `--maxPushCacheBytes`: 8 MiB. */
export const DEFAULT_PUSH_CACHE_BYTES = 8 * 1024 * 1024;

// What the per-path caches hold beyond their text, in bytes, measured as the store's constants
// are (see `store_bytes.ts`): heapUsed after forced garbage collections, divided by the count.
// 100k cached lines of 61 chars measured 272 bytes each and count 398 (texts count two bytes a
// char, what V8 holds at most; ASCII takes one); 100k paths of two labels measured 520 and
// count 639.
/** A cached series beyond its texts: its Map entry, its record, its raw text's string headers. */
const CACHE_ENTRY_BYTES = 160;
/** A push path beyond its text: its Map entry, its record, its series cache's empty records. */
const TARGET_BYTES = 384;
/** A grouping label beyond its text: its pair and its strings' headers. */
const GROUPING_LABEL_BYTES = 64;

/**
 * What the target of a push path costs the budget: the path, its grouping labels and the
 * records that hold them. Strings count two bytes a char, what V8 holds at most.
 */
export function targetBytes(path: string, grouping: readonly Label[]): number {
  let bytes = TARGET_BYTES + 2 * path.length;
  for (const [name, value] of grouping) {
    bytes += GROUPING_LABEL_BYTES + 2 * (name.length + value.length);
  }
  return bytes;
}

/** Something that spends from a {@linkcode SeriesCacheBudget}, and lets go when told. */
export interface CacheHolder {
  clear(): void;
}

/**
 * The bytes all series caches of one gateway, and the push paths they are kept for, may hold
 * together (`--maxPushCacheBytes`). When they reach the limit, every holder that spent is
 * emptied and the count starts over, so the caches keep the series senders push again, and
 * cost little, and never more than the limit, when every push is new (a cache whose sender
 * never comes back is emptied too, and so is a cache of series the store refused).
 */
export class SeriesCacheBudget {
  #used = 0;
  /** The holders that spent from the budget since it last started over. */
  #holders = new Set<CacheHolder>();
  constructor(readonly limit: number = DEFAULT_PUSH_CACHE_BYTES) {}

  /** Bytes spent since the budget last started over. */
  get used(): number {
    return this.#used;
  }

  /** Spends `bytes` for `holder`, emptying every holder first if they would pass the limit. */
  spend(holder: CacheHolder, bytes: number): void {
    if (this.#used + bytes > this.limit) this.reset();
    this.#holders.add(holder);
    this.#used += bytes;
  }

  /**
   * Empties every holder that spent from the budget and forgets them, so that caches their
   * owner dropped hold nothing and can be collected.
   */
  reset(): void {
    for (const holder of this.#holders) holder.clear();
    this.#holders.clear();
    this.#used = 0;
  }
}

/**
 * Remembers what earlier pushes' text meant, for one grouping:
 * - the raw text of a sample's series (`name{labels}` as it stands on the line) with its name,
 *   key mode and canonical key, so that a sender that pushes the same series again skips
 *   parsing, checking, sorting and escaping its labels. Only keys that passed every check are
 *   stored, and a hit is used only when the name resolves to the same key mode in the current
 *   push;
 * - the {@linkcode PushTemplate}s of a few whole bodies whose series were all seen before, so
 *   that a sender that pushes the same body with new values skips the parse altogether.
 *
 * A key includes the grouping labels and passed the label limits, so a cache is valid for one
 * grouping and one set of limits: its owner keeps one per grouping, all drawing on one
 * {@linkcode SeriesCacheBudget}. Cached text is copied out of the body it came from, so that
 * an entry does not keep a whole request body alive; a template keeps its body, and costs the
 * budget for its length as well as its values.
 */
export class SeriesCache {
  /** The most templates a cache keeps, most recently used first. */
  static readonly TEMPLATES = 4;
  readonly #entries = new Map<string, CachedSeries>();
  #templates: PushTemplate[] = [];
  readonly #budget: SeriesCacheBudget;
  /** Templates made since one was last used; past 4, only every 16th chance makes one. */
  #unused = 0;
  #chances = 0;

  /** The name of the entry set last, which the next entry shares if it can. */
  #lastName = "";

  constructor(budget: SeriesCacheBudget = new SeriesCacheBudget()) {
    this.#budget = budget;
  }

  /** Series texts and templates held. */
  get size(): number {
    return this.#entries.size + this.#templates.length;
  }

  /** Whether the cache holds a template for OpenMetrics bodies (`openMetrics`) or text ones. */
  hasTemplate(openMetrics: boolean): boolean {
    return this.#templates.some((template) => template.openMetrics === openMetrics);
  }

  get(raw: string): CachedSeries | undefined {
    return this.#entries.get(raw);
  }

  /**
   * Keeps `series` for the text `raw`; it costs the budget two bytes a char of the text, the
   * key and a name it does not share with the entry before, and the entry's records. An entry
   * that would cost more than a quarter of the budget is not kept.
   */
  set(raw: string, series: CachedSeries): void {
    // The lines of a family follow one another: they share one copy of its name.
    const sameName = series.name === this.#lastName;
    const bytes = CACHE_ENTRY_BYTES +
      2 * (raw.length + series.key.length + (sameName ? 0 : series.name.length));
    if (bytes > this.#budget.limit / 4) return;
    this.#budget.spend(this, bytes);
    if (!sameName) this.#lastName = detach(series.name);
    this.#entries.set(detach(raw), { ...series, name: this.#lastName });
  }

  /**
   * The push a body makes, read from its bytes by a template of this cache; undefined if none
   * fits.
   */
  readByTemplate(body: Uint8Array, openMetrics: boolean): Push | undefined {
    const templates = this.#templates;
    for (let i = 0; i < templates.length; i++) {
      const template = templates[i];
      if (template.openMetrics !== openMetrics) continue;
      const push = template.read(body);
      if (push === undefined) continue;
      if (i > 0) templates.unshift(...templates.splice(i, 1));
      this.#unused = 0;
      return push;
    }
    return undefined;
  }

  /**
   * Whether a template of the body about to be parsed in full is worth making (if its series
   * turn out all known). A sender whose bodies differ beyond their values each time (a
   * timestamp on each line, say) would have one made for every push and used for none: after
   * 4 unused, one full parse in 16 may make one.
   */
  wantsTemplate(): boolean {
    return this.#unused < 4 || ++this.#chances % 16 === 0;
  }

  /**
   * Keeps `template`, dropping the least recently used beyond {@linkcode SeriesCache.TEMPLATES}.
   * A template that would cost more than a quarter of the budget is not kept.
   */
  addTemplate(template: PushTemplate): void {
    if (template.cost > this.#budget.limit / 4) return;
    this.#budget.spend(this, template.cost);
    this.#unused++;
    this.#templates.unshift(template);
    if (this.#templates.length > SeriesCache.TEMPLATES) this.#templates.pop();
  }

  /** Forgets everything; the budget calls this when it starts over. */
  clear(): void {
    this.#entries.clear();
    this.#templates = [];
    this.#lastName = "";
  }
}
