// A push under the rules of `--rulesFile`, turned into what the store merges: dropped series
// left out, refused families thrown, each series' gauge rule, and cumulative series turned into
// deltas of their aggregate series, with the source state to keep. Reads the source table and
// changes nothing, so that the store can check the result whole before it applies any of it.

import { seriesName } from "../core/checks.ts";
import { pushBytesAtMost } from "../core/store_bytes.ts";
import { PushError } from "../core/errors.ts";
import { copyValue, type GaugeBehavior, mergeGauge, mergeValue } from "../core/merge.ts";
import {
  type Delta,
  detach,
  type HistogramValue,
  type MetricType,
  type Push,
  type PushFamily,
  type SeriesValue,
} from "../core/model.ts";
import {
  cumulativeStep,
  decideAmong,
  dropLabels,
  gaugeOver,
  type Rule,
  type Rules,
} from "../core/rules.ts";
import { type Source, sourceBytes, type SourceTable } from "./sources.ts";

/** A family to merge, with the gauge rule of the family or of each series. */
export interface RuledFamily extends PushFamily {
  /** The gauge rule of every series; the store's when absent. */
  gauge?: GaugeBehavior;
  /** The gauge rule of each series (parallel to `keys`), over `gauge`; set for mixed families. */
  gauges?: readonly (GaugeBehavior | undefined)[];
}

/**
 * The sources a push adds or replaces (not those it updates in place), in parallel arrays:
 * `sources[i]` replaces `olds[i]` (undefined: a new source).
 */
export interface SourceUpdates {
  sources: Source[];
  olds: (Source | undefined)[];
}

export interface RuledPush {
  families: RuledFamily[];
  updates: SourceUpdates;
  /**
   * The families whose sources held are updated in place (a sender pushing the same series
   * again under the same rule): {@linkcode commitInPlace} sets their values once the push is
   * merged.
   */
  inPlace: { binding: Binding; family: PushFamily }[];
  /** Source series whose value fell below their last: resets. */
  resets: number;
}

/** The refusal of a family that no rule matches under `default: reject`. */
export function ruleRejection(name: string): PushError {
  return new PushError(
    `metric "${name}" matches no rule of the rules file, whose default is reject`,
    "rule_rejected",
  );
}

/** Series the rules leave out of the aggregate. */
const DROPPED = -1;

/**
 * What the rules make of the series of one family, worked out once for a list of keys: a
 * sender's repeat pushes, read by their template, bring the same frozen keys array each time.
 */
interface Binding {
  readonly rules: Rules;
  readonly name: string;
  readonly type: MetricType;
  /** Thrown at every push: a series refused by `default: reject`, or without source labels. */
  readonly error: PushError | undefined;
  /** The family passes as it is, with this gauge rule (undefined: the store's). */
  readonly whole: boolean;
  readonly gauge: GaugeBehavior | undefined;
  /** Every series is dropped. */
  readonly none: boolean;
  /** The keys of the family to merge, each once. */
  readonly outKeys: readonly string[];
  /** The gauge rule of each of them, when they differ. */
  readonly outGauges: readonly (GaugeBehavior | undefined)[] | undefined;
  /** For each pushed series: where it goes in `outKeys`, or DROPPED. */
  readonly target: Int32Array;
  /** For each pushed series: its cumulative rule, if it has one. */
  readonly cumulative: readonly (Rule | undefined)[];
  /** The series of `outKeys` that more than one cumulative series feeds, if any. */
  readonly shared: ReadonlySet<number> | undefined;
  /**
   * `pushBytesAtMost` of the family to merge when it holds no histogram (whose bounds may differ
   * from push to push); worked out at the first push.
   */
  bytes: number | undefined;
  /**
   * The source held for each cumulative series, and whether it is updated in place (1), as
   * looked up when the source table was at `heldEpoch`; -1: never looked up.
   */
  held: (Source | undefined)[];
  same: Uint8Array;
  heldEpoch: number;
}

/** Plans pushes under rules, keeping what it works out per family for repeat pushes. */
export class RulePlanner {
  readonly #bindings = new WeakMap<readonly string[], Binding>();
  /**
   * The updates of the last plan, reused: the store reads a plan before it asks for the next,
   * and keeps none of its arrays, so they need not be made anew (and grown) for every push.
   */
  readonly #updates: SourceUpdates = { sources: [], olds: [] };

  /**
   * Plans `push` under `rules`: the first rule that matches a series decides it (see
   * `core/rules.ts`). Throws {@linkcode PushError} for a family that no rule matches under
   * `default: reject`, and for a cumulative series that has none of its rule's source labels.
   */
  plan(
    push: Push,
    rules: Rules,
    sources: SourceTable,
    storeGauge: GaugeBehavior,
    now: number,
  ): RuledPush {
    this.#updates.sources.length = 0;
    this.#updates.olds.length = 0;
    const plan: RuledPush = {
      families: [],
      updates: this.#updates,
      inPlace: [],
      resets: 0,
    };
    for (const family of push) {
      const binding = this.#bindingOf(family, rules);
      if (binding.error !== undefined) throw binding.error;
      if (binding.none) continue;
      if (binding.whole) {
        plan.families.push(
          binding.gauge === undefined ? family : { ...family, gauge: binding.gauge },
        );
        continue;
      }
      plan.families.push(planFamily(family, binding, plan, sources, storeGauge, now));
    }
    return plan;
  }

  #bindingOf(family: PushFamily, rules: Rules): Binding {
    const { keys } = family;
    let binding = this.#bindings.get(keys);
    // The type too: an untyped family is planned as the gauge the store holds (see Store).
    if (
      binding?.rules === rules && binding.name === family.name && binding.type === family.type
    ) return binding;
    binding = bind(family, rules);
    // Only a template's keys come again; a fresh array would only fill the map.
    if (Object.isFrozen(keys)) this.#bindings.set(keys, binding);
    return binding;
  }
}

/** Works out what `rules` make of each series of `family`. */
function bind(family: PushFamily, rules: Rules): Binding {
  const { name, keys } = family;
  const candidates = rules.candidates(name);
  const base = {
    rules,
    name,
    type: family.type,
    error: undefined,
    whole: false,
    gauge: undefined,
    none: false,
    outKeys: [],
    outGauges: undefined,
    target: new Int32Array(0),
    cumulative: [],
    shared: undefined,
    bytes: undefined,
    held: [],
    same: new Uint8Array(0),
    heldEpoch: -1,
  };
  if (candidates.length === 0) {
    if (rules.reject && keys.length > 0) return { ...base, error: ruleRejection(name) };
    return { ...base, whole: true };
  }
  const first = candidates[0];
  if (first.labels.length === 0 && first.input === "delta") {
    // One rule decides every series of the family: no look at the keys.
    if (first.action === "drop") return { ...base, none: true };
    return { ...base, whole: true, gauge: first.gauge };
  }
  const outKeys: string[] = [];
  const outGauges: (GaugeBehavior | undefined)[] = [];
  const at = new Map<string, number>();
  const target = new Int32Array(keys.length);
  const cumulative: (Rule | undefined)[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const rule = decideAmong(candidates, keys[i]);
    if (rule === undefined && rules.reject) return { ...base, error: ruleRejection(name) };
    if (rule?.action === "drop") {
      target[i] = DROPPED;
      continue;
    }
    let key = keys[i];
    let gauge = rule?.gauge;
    if (rule?.input === "cumulative") {
      const aggregate = dropLabels(key, rule.sources);
      if (!aggregate.found) {
        return {
          ...base,
          error: new PushError(
            `series ${seriesName(name, key)} has none of the source labels (${
              rule.sources.join(", ")
            }) that its rule (line ${rule.line} of the rules file) needs to tell senders apart`,
          ),
        };
      }
      key = aggregate.key;
      cumulative[i] = rule;
      if (family.type === "gauge") gauge = "replace"; // set to the rule over its sources
    }
    let o = at.get(key);
    if (o === undefined) {
      at.set(key, o = outKeys.length);
      outKeys.push(key);
      outGauges.push(gauge);
    }
    target[i] = o;
  }
  const uniform = outGauges.every((gauge) => gauge === outGauges[0]);
  const fed = new Set<number>();
  let shared: Set<number> | undefined;
  for (let i = 0; i < keys.length; i++) {
    if (cumulative[i] === undefined || target[i] === DROPPED) continue;
    if (fed.has(target[i])) (shared ??= new Set()).add(target[i]);
    fed.add(target[i]);
  }
  return {
    ...base,
    none: outKeys.length === 0,
    outKeys,
    outGauges: uniform ? undefined : outGauges,
    gauge: uniform ? outGauges[0] : undefined,
    target,
    cumulative,
    shared,
  };
}

/** The family to merge for a push of `family` under `binding`; adds its source updates. */
function planFamily(
  family: PushFamily,
  binding: Binding,
  plan: RuledPush,
  sources: SourceTable,
  storeGauge: GaugeBehavior,
  now: number,
): RuledFamily {
  const { name, type, help, keys, values } = family;
  const { outKeys, target, cumulative } = binding;
  const out = new Array<SeriesValue | undefined>(outKeys.length);
  if (binding.heldEpoch !== sources.epoch) lookUpSources(family, binding, sources, storeGauge);
  const { held, same: sameAt } = binding;
  const updates = plan.updates;
  let inPlace = false;
  /** The gauge series of cumulative sources in this push, by index. */
  let gauges: number[] | undefined;
  for (let i = 0; i < keys.length; i++) {
    const o = target[i];
    if (o === DROPPED) continue;
    const rule = cumulative[i];
    const value = values[i];
    if (rule === undefined) {
      addTo(out, o, type, value, binding.outGauges?.[o] ?? binding.gauge);
      continue;
    }
    const key = keys[i];
    const old = held[i];
    const gauge = rule.gauge ?? storeGauge;
    // The source held is updated in place when nothing but its value and time change.
    const same = sameAt[i] === 1 && (type !== "histogram" || sameShape(old!.value, value));
    if (same) inPlace = true;
    const kept = same ? value : copyValue(value);
    const source: Source = same ? old! : {
      // Kept beyond the request: a name sliced from a body would keep the body alive.
      family: old?.family ?? detach(name),
      type,
      key: old?.key ?? key,
      aggregate: outKeys[o],
      labels: rule.sources,
      value: kept,
      touched: now,
      staleAfter: rule.staleAfter,
      gauge,
      bytes: sourceBytes(name, key, outKeys[o], kept),
    };
    if (!same) {
      updates.sources.push(source);
      updates.olds.push(old);
    }
    // A source kept for another type (the family was deleted and pushed again as another
    // type) starts over.
    const last = old !== undefined && sameType(old.type, type) ? old.value : undefined;
    switch (type) {
      case "gauge":
        // With where its update is, whose `old` is the source held.
        (gauges ??= []).push(i);
        break;
      case "counter":
      case "untyped": {
        // Untyped values take the counter's step: summed, and a fall is a reset.
        // The push builder has refused a negative or NaN counter already.
        const v = value as number;
        let delta = v;
        if (last !== undefined) {
          if (v < (last as number)) plan.resets++;
          else delta = v - (last as number);
        }
        const before = out[o];
        out[o] = before === undefined ? delta : (before as number) + delta;
        break;
      }
      default: {
        const step = cumulativeStep(type, last, value);
        if (step.reset) plan.resets++;
        addTo(out, o, type, step.delta, undefined);
      }
    }
  }
  if (gauges !== undefined) {
    planGauges(family, binding, gauges, out, sources, storeGauge);
  }
  if (inPlace) plan.inPlace.push({ binding, family });
  const planned: RuledFamily = {
    name,
    type,
    help,
    keys: outKeys,
    values: out as SeriesValue[],
    gauge: binding.gauge,
    gauges: binding.outGauges,
    bytes: binding.bytes,
  };
  if (planned.bytes === undefined) {
    const bytes = pushBytesAtMost(planned);
    if (type !== "histogram") binding.bytes = bytes;
    planned.bytes = bytes;
  }
  return planned;
}

/**
 * Sets the values of the sources `plan` updates in place to what the push brought, pushed at
 * `now`. Called once the push is merged, before the sources it adds are kept (which changes the
 * epoch the bindings' sources were looked up at).
 */
export function commitInPlace(plan: RuledPush, now: number): void {
  for (const { binding, family } of plan.inPlace) {
    const { held, same, cumulative, target } = binding;
    const { type, values } = family;
    for (let i = 0; i < values.length; i++) {
      if (same[i] !== 1 || cumulative[i] === undefined || target[i] === DROPPED) continue;
      const source = held[i]!;
      if (type === "histogram" && !sameShape(source.value, values[i])) continue;
      // Only the value and time change: a later time never makes a source stale sooner.
      source.value = copyValue(values[i]);
      source.touched = now;
    }
  }
}

/** Looks up the source held for each cumulative series of `family`, for `binding` to keep. */
function lookUpSources(
  family: PushFamily,
  binding: Binding,
  sources: SourceTable,
  storeGauge: GaugeBehavior,
): void {
  const { keys, type } = family;
  const held = sources.family(family.name);
  const found: (Source | undefined)[] = new Array(keys.length);
  const same = new Uint8Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const rule = binding.cumulative[i];
    if (rule === undefined || binding.target[i] === DROPPED) continue;
    const old = held?.get(keys[i]);
    found[i] = old;
    if (
      old !== undefined && sameType(old.type, type) && sameLabels(old.labels, rule.sources) &&
      old.staleAfter === rule.staleAfter && old.gauge === (rule.gauge ?? storeGauge)
    ) same[i] = 1;
  }
  binding.held = found;
  binding.same = same;
  binding.heldEpoch = sources.epoch;
}

/**
 * Whether two sorted lists of source labels are the same: a source read back from a snapshot, or
 * kept across a reload, has its own list, equal to the rule's but not the same array.
 */
function sameLabels(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Adds `value` to the planned series `o`, merged with one already there. */
function addTo(
  out: (SeriesValue | undefined)[],
  o: number,
  type: PushFamily["type"],
  value: SeriesValue,
  gauge: GaugeBehavior | undefined,
): void {
  const before = out[o];
  // Two series of one push that feed one aggregate series: merged as two pushes would be.
  out[o] = before === undefined
    ? value
    : mergeValue(type, copyValue(before), value, gauge ?? "sum");
}

/**
 * Sets each gauge aggregate series of cumulative sources to the gauge rule over its live
 * sources' last values, those of this push (the `pushed` series of `family`) replacing theirs.
 */
function planGauges(
  family: PushFamily,
  binding: Binding,
  entries: readonly number[],
  out: (SeriesValue | undefined)[],
  sources: SourceTable,
  storeGauge: GaugeBehavior,
): void {
  const { name, keys, values } = family;
  const { outKeys, target, cumulative } = binding;
  const { shared } = binding;
  // The entries of each aggregate series that more than one of them feeds, gathered in one pass
  // (a scan of the push for each such series took quadratic time: 16 s for 100k series).
  const feeding = shared === undefined ? undefined : entriesByTarget(entries, target, shared);
  for (let e = 0; e < entries.length; e++) {
    const i = entries[e];
    const o = target[i];
    const behavior = cumulative[i]!.gauge ?? storeGauge;
    const value = values[i] as number;
    const group = binding.held[i]?.group ?? sources.group(name, outKeys[o]);
    // Most often each aggregate series has one source in a push: its value folds with the rest
    // of its group's, no sort needed (`replace` takes the latest, which is this push's).
    if (shared === undefined || !shared.has(o)) {
      out[o] = foldGauge(group, keys[i], value, behavior);
    } else {
      const mine = feeding!.get(o);
      if (mine === undefined) continue; // worked out at its first entry
      const all = gaugeValues(group, new Set(mine.map((j) => keys[j])));
      for (const j of mine) all.push(values[j] as number);
      out[o] = gaugeOver(all, behavior)!;
      feeding!.delete(o);
    }
  }
}

/**
 * The indexes of `entries` whose `target` is in `shared`, grouped by target, in push order: one
 * pass over `entries`, however many targets they share.
 */
export function entriesByTarget(
  entries: readonly number[],
  target: Int32Array,
  shared: ReadonlySet<number>,
): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let e = 0; e < entries.length; e++) {
    const i = entries[e];
    const o = target[i];
    if (!shared.has(o)) continue;
    const group = groups.get(o);
    if (group === undefined) groups.set(o, [i]);
    else group.push(i);
  }
  return groups;
}

/** `behavior` over the values of `group` but the source `key`, and then `value`. */
function foldGauge(
  group: ReadonlySet<Source> | undefined,
  key: string,
  value: number,
  behavior: GaugeBehavior,
): number {
  if (behavior === "replace" || group === undefined) return value;
  let result: number | undefined;
  for (const source of group) {
    if (source.key === key) continue;
    const v = source.value as number;
    result = result === undefined ? v : mergeGauge(result, v, behavior);
  }
  return result === undefined ? value : mergeGauge(result, value, behavior);
}

/**
 * Whether a source kept as `held` continues with a push of `pushed`: the same type, or a sample
 * without TYPE, which takes the type the gateway knows (as the store lets it join a counter).
 */
function sameType(held: MetricType, pushed: MetricType): boolean {
  return held === pushed || (pushed === "untyped" && held === "counter");
}

/** Whether two values of a series cost the same bytes: histograms with as many buckets. */
function sameShape(a: SeriesValue, b: SeriesValue): boolean {
  if (typeof a === "number" || !("bounds" in a)) return true;
  return a.bounds.length === (b as HistogramValue).bounds.length;
}

/**
 * The last values of the sources of a gauge group, oldest push first, leaving out the sources
 * whose keys are in `except` (this push replaces their values).
 */
export function gaugeValues(
  group: ReadonlySet<Source> | undefined,
  except: ReadonlySet<string> = new Set(),
): number[] {
  if (group === undefined) return [];
  return [...group]
    .filter((source) => !except.has(source.key))
    .sort((a, b) => a.touched - b.touched)
    .map((source) => source.value as number);
}

/**
 * JSON deltas under `rules`: those a `drop` rule decides left out; throws for one that no rule
 * matches under `default: reject`. Deltas name their own operation, so they are applied as
 * deltas whatever `input` and `gauge` the rule gives.
 */
export function filterDeltas(deltas: readonly Delta[], rules: Rules): readonly Delta[] {
  let kept: Delta[] | undefined;
  for (let i = 0; i < deltas.length; i++) {
    const delta = deltas[i];
    const rule = rules.decide(delta.name, delta.key);
    if (rule === undefined && rules.reject) throw ruleRejection(delta.name);
    if (rule?.action === "drop") {
      kept ??= deltas.slice(0, i);
    } else {
      kept?.push(delta);
    }
  }
  return kept ?? deltas;
}
