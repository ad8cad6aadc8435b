// Per-metric rules (`--rulesFile`) as pure data and functions: the compiled rules, which rule
// decides a series, the labels a cumulative rule drops from the aggregate, and the delta step
// of cumulative input (new - last, or new after a reset).

import { type GaugeBehavior, mergeGauge } from "./merge.ts";
import {
  detach,
  escapeLabelValue,
  type HistogramValue,
  type MetricType,
  type SeriesValue,
  type SummaryValue,
} from "./model.ts";

/** `staleAfter` when a cumulative rule does not say: 15 minutes. */
export const DEFAULT_STALE_AFTER = 15 * 60_000;

/**
 * The longest `staleAfter`: 365 days. A snapshot writes it in whole milliseconds, and a source
 * kept longer than a year without a push is a leak, not a sender.
 */
export const MAX_STALE_AFTER = 365 * 86_400_000;

/** One rule as the rules file gives it, checked; `line` is where it starts in the file. */
export interface RuleSpec {
  line: number;
  /** The regular expression on the family name, as written (anchored when compiled). */
  metric?: string;
  /** Labels that must have these values; an empty value means the label is absent. */
  labels: readonly (readonly [name: string, value: string])[];
  action: "keep" | "drop";
  input: "delta" | "cumulative";
  /** Cumulative: the labels that tell sources apart; kept per source, dropped from the aggregate. */
  sources: readonly string[];
  /** The gauge rule; `--gaugeBehavior` when absent. */
  gauge?: GaugeBehavior;
  /** Cumulative: forget a source after this many milliseconds without a push. */
  staleAfter: number;
}

/** A whole rules file, checked. */
export interface RulesSpec {
  rules: readonly RuleSpec[];
  /** What happens to a series that no rule matches. */
  default: "accept" | "reject";
}

/** A rule ready to match. */
export interface Rule extends RuleSpec {
  /** The anchored regular expression of `metric`; undefined matches every family. */
  readonly pattern: RegExp | undefined;
  /** Each label of `labels` as a key writes it, `name="escaped value"`; "" for an absent one. */
  readonly pairs: readonly string[];
}

/** The most family names whose candidate rules are kept; names come from untrusted senders. */
const FAMILY_CACHE_ENTRIES = 4096;
/** The most chars of family names kept by the cache, all names together: 1 MiB. */
export const FAMILY_CACHE_CHARS = 1024 * 1024;
/** A longer family name is never kept (its rules are tried again at each push of it). */
export const FAMILY_CACHE_NAME_CHARS = 1024;

/** Compiles `pattern` as a regular expression anchored at both ends (like PromQL's `=~`). */
export function anchoredPattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

/**
 * Compiled rules: which rule decides a series. The first rule whose `metric` matches the family
 * name and whose labels all hold decides; none: `default`.
 */
export class Rules {
  readonly spec: RulesSpec;
  readonly rules: readonly Rule[];
  readonly reject: boolean;
  /** Per family name: the rules whose `metric` matches it, up to the first without labels. */
  readonly #byFamily = new Map<string, readonly Rule[]>();
  /** The chars of the names `#byFamily` holds. */
  #cachedChars = 0;

  constructor(spec: RulesSpec) {
    this.spec = spec;
    this.reject = spec.default === "reject";
    this.rules = spec.rules.map((rule) => ({
      ...rule,
      pattern: rule.metric === undefined ? undefined : anchoredPattern(rule.metric),
      pairs: rule.labels.map(([name, value]) =>
        value === "" ? "" : name + '="' + escapeLabelValue(value) + '"'
      ),
    }));
  }

  /**
   * The rules that may decide series of the family `name`, in order. When the first has no
   * labels it decides every series of the family, and it is the only one.
   */
  candidates(name: string): readonly Rule[] {
    let found = this.#byFamily.get(name);
    if (found !== undefined) return found;
    const list: Rule[] = [];
    for (const rule of this.rules) {
      if (rule.pattern !== undefined && !rule.pattern.test(name)) continue;
      list.push(rule);
      if (rule.labels.length === 0) break; // it decides whatever follows
    }
    found = list;
    // A name is kept before the push is checked (one refused keeps it too): the cache is bounded
    // in names and in chars, and a long name, worth no cache, is not kept at all.
    if (name.length > FAMILY_CACHE_NAME_CHARS) return found;
    if (
      this.#byFamily.size >= FAMILY_CACHE_ENTRIES ||
      this.#cachedChars + name.length > FAMILY_CACHE_CHARS
    ) {
      this.#byFamily.clear();
      this.#cachedChars = 0;
    }
    // A copy: a name sliced from a push's body would keep the whole body alive.
    this.#byFamily.set(detach(name), found);
    this.#cachedChars += name.length;
    return found;
  }

  /** The chars of the family names whose candidates are kept (at most `FAMILY_CACHE_CHARS`). */
  get cachedChars(): number {
    return this.#cachedChars;
  }

  /** How many family names' candidates are kept. */
  get cachedNames(): number {
    return this.#byFamily.size;
  }

  /** The rule that decides the series `key` of the family `name`; undefined: the default. */
  decide(name: string, key: string): Rule | undefined {
    return decideAmong(this.candidates(name), key);
  }
}

/** The first of `candidates` whose labels all hold for the series `key`. */
export function decideAmong(candidates: readonly Rule[], key: string): Rule | undefined {
  for (const rule of candidates) {
    if (labelsHold(rule, key)) return rule;
  }
  return undefined;
}

function labelsHold(rule: Rule, key: string): boolean {
  const { labels, pairs } = rule;
  for (let i = 0; i < labels.length; i++) {
    const pair = pairs[i];
    if (pair === "" ? hasLabel(key, labels[i][0]) : !hasPair(key, pair)) return false;
  }
  return true;
}

/**
 * Whether the canonical key `key` holds the label text `pair` (`name="escaped"`) whole. Inside
 * a value every `"` is escaped, so `name="` can only start a label, and a `"` followed by `,` or
 * the end can only end one.
 */
function hasPair(key: string, pair: string): boolean {
  if (key.length === pair.length) return key === pair;
  if (key.startsWith(pair) && key.charCodeAt(pair.length) === 44) return true;
  if (key.endsWith(pair) && key.charCodeAt(key.length - pair.length - 1) === 44) return true;
  return key.includes("," + pair + ",");
}

function hasLabel(key: string, name: string): boolean {
  return key.startsWith(name + '="') || key.includes("," + name + '="');
}

/**
 * The key `key` without the labels named in `names`, and whether it had any of them. Walks the
 * canonical key (`a="x",b="y\"z"`, sorted, escaped) label by label.
 */
export function dropLabels(
  key: string,
  names: readonly string[],
): { key: string; found: boolean } {
  let out = "";
  let found = false;
  let at = 0;
  while (at < key.length) {
    const eq = key.indexOf('="', at);
    let end = eq + 2;
    // The value ends at the first `"` that no backslash escapes.
    for (;;) {
      const c = key.charCodeAt(end);
      if (c === 92) end += 2;
      else if (c === 34) break;
      else end++;
    }
    const name = key.slice(at, eq);
    if (names.includes(name)) {
      found = true;
    } else {
      if (out !== "") out += ",";
      out += key.slice(at, end + 1);
    }
    at = end + 2; // past the `"` and the `,`
  }
  return { key: found ? out : key, found };
}

/** What a source's push adds to the aggregate: the delta, and whether it was a reset. */
export interface CumulativeStep {
  delta: SeriesValue;
  reset: boolean;
}

/**
 * The delta step of cumulative input for a counter, untyped, histogram or summary series:
 * `pushed - last`, or `pushed` whole when the source is new (`last` undefined: it started at 0)
 * or was reset. A reset is a counter or untyped value below the last, or a histogram's `_count`
 * or any bucket below the last (a histogram whose bounds changed is a reset too), or a summary's
 * `_count` below the last. `_sum` may fall (negative observations) and is not looked at.
 * Returns a new value; neither input is modified.
 */
export function cumulativeStep(
  type: MetricType,
  last: SeriesValue | undefined,
  pushed: SeriesValue,
): CumulativeStep {
  if (last === undefined) return { delta: pushed, reset: false };
  switch (type) {
    case "histogram": {
      const a = last as HistogramValue;
      const b = pushed as HistogramValue;
      if (b.count < a.count || a.bounds.length !== b.bounds.length) {
        return { delta: pushed, reset: true };
      }
      const counts = new Array<number>(b.counts.length);
      for (let i = 0; i < counts.length; i++) {
        if (a.bounds[i] !== b.bounds[i] || b.counts[i] < a.counts[i]) {
          return { delta: pushed, reset: true };
        }
        counts[i] = b.counts[i] - a.counts[i];
      }
      return {
        delta: { bounds: b.bounds, counts, count: b.count - a.count, sum: b.sum - a.sum },
        reset: false,
      };
    }
    case "summary": {
      const a = last as SummaryValue;
      const b = pushed as SummaryValue;
      if (b.count < a.count) return { delta: pushed, reset: true };
      return { delta: { count: b.count - a.count, sum: b.sum - a.sum }, reset: false };
    }
    default: {
      const a = last as number;
      const b = pushed as number;
      if (b < a) return { delta: b, reset: true };
      return { delta: b - a, reset: false };
    }
  }
}

/**
 * A cumulative gauge's aggregate: `behavior` over the live sources' last values, given in the
 * order they were pushed (so that `replace` is the latest). Undefined when there are none.
 */
export function gaugeOver(values: readonly number[], behavior: GaugeBehavior): number | undefined {
  if (values.length === 0) return undefined;
  let result = values[0];
  for (let i = 1; i < values.length; i++) result = mergeGauge(result, values[i], behavior);
  return result;
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration such as `90s`, `15m`, `1h30m`, `2d` or `500ms` into whole milliseconds
 * (rounded: `1.001m` is 60060), or returns undefined. `0` alone is 0.
 */
export function parseRuleDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|d|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) return undefined;
  return Math.round(parts.reduce((ms, [, n, unit]) => ms + Number(n) * DURATION_UNITS[unit], 0));
}
