// A push under the rules of `--rulesFile`, turned into what the store merges: dropped series
// left out, refused families thrown, each series' gauge rule, and cumulative series turned into
// deltas of their aggregate series, with the source state to keep. Reads the source table and
// changes nothing, so that the store can check the result whole before it applies any of it.

import { checkCounterValue, seriesName } from "../core/checks.ts";
import { PushError } from "../core/errors.ts";
import { copyValue, type GaugeBehavior, mergeValue } from "../core/merge.ts";
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
 * A source's new state, kept once the push is applied: `source` with `value` pushed at the
 * push's time. When `source` is `old`, the source held is updated in place (the common case: a
 * sender pushing the same series again under the same rule); otherwise `source` replaces `old`.
 */
export interface SourceUpdate {
  source: Source;
  value: SeriesValue;
  /** The source held before; undefined for a new one. */
  old: Source | undefined;
}

export interface RuledPush {
  families: RuledFamily[];
  updates: SourceUpdate[];
  /** Source series whose value fell below their last: resets. */
  resets: number;
  /** Series left out by `action: drop`. */
  dropped: number;
}

/** The refusal of a family that no rule matches under `default: reject`. */
export function ruleRejection(name: string): PushError {
  return new PushError(
    `metric "${name}" matches no rule of the rules file, whose default is reject`,
    "rule_rejected",
  );
}

/**
 * Plans `push` under `rules`: the first rule that matches a series decides it (see
 * `core/rules.ts`). Throws {@linkcode PushError} for a family that no rule matches under
 * `default: reject`, and for a cumulative series that has none of its rule's source labels.
 */
export function planRuledPush(
  push: Push,
  rules: Rules,
  sources: SourceTable,
  storeGauge: GaugeBehavior,
  now: number,
): RuledPush {
  const plan: RuledPush = { families: [], updates: [], resets: 0, dropped: 0 };
  for (const family of push) {
    const candidates = rules.candidates(family.name);
    if (candidates.length === 0) {
      if (rules.reject) throw ruleRejection(family.name);
      plan.families.push(family);
      continue;
    }
    const first = candidates[0];
    if (first.labels.length === 0) {
      // One rule decides every series of the family: no look at the keys.
      if (first.action === "drop") {
        plan.dropped += family.keys.length;
      } else if (first.input === "delta") {
        plan.families.push(first.gauge === undefined ? family : { ...family, gauge: first.gauge });
      } else {
        const out = new FamilyOut(family);
        for (let i = 0; i < family.keys.length; i++) {
          addCumulative(
            out,
            plan,
            first,
            family.keys[i],
            family.values[i],
            sources,
            storeGauge,
            now,
          );
        }
        finishGauges(out, sources, storeGauge);
        plan.families.push(out.build());
      }
      continue;
    }
    const out = new FamilyOut(family);
    for (let i = 0; i < family.keys.length; i++) {
      const key = family.keys[i];
      const rule = decideAmong(candidates, key);
      if (rule === undefined) {
        if (rules.reject) throw ruleRejection(family.name);
        out.add(key, family.values[i], undefined);
      } else if (rule.action === "drop") {
        plan.dropped++;
      } else if (rule.input === "delta") {
        out.add(key, family.values[i], rule.gauge);
      } else {
        addCumulative(out, plan, rule, key, family.values[i], sources, storeGauge, now);
      }
    }
    finishGauges(out, sources, storeGauge);
    if (out.size > 0) plan.families.push(out.build());
  }
  return plan;
}

/** A gauge aggregate series being worked out: its sources' new values, in push order. */
interface GaugeGroup {
  rule: Rule;
  keys: Set<string>;
  values: number[];
}

/** The series of one family being planned, each key once. */
class FamilyOut {
  readonly family: PushFamily;
  readonly #values = new Map<string, SeriesValue>();
  readonly #gauges = new Map<string, GaugeBehavior | undefined>();
  readonly groups = new Map<string, GaugeGroup>();

  constructor(family: PushFamily) {
    this.family = family;
  }

  get size(): number {
    return this.#values.size + this.groups.size;
  }

  /** Adds a series; one of the same key already planned is merged with it. */
  add(key: string, value: SeriesValue, gauge: GaugeBehavior | undefined): void {
    const old = this.#values.get(key);
    if (old === undefined) {
      this.#values.set(key, value);
      this.#gauges.set(key, gauge);
      return;
    }
    const type = this.family.type;
    // Two series of one push that feed one aggregate series: merged as two pushes would be.
    const merged = mergeValue(type, copyValue(old), value, gauge ?? "sum");
    this.#values.set(key, merged);
  }

  build(): RuledFamily {
    const keys = [...this.#values.keys()];
    const gauges = [...this.#gauges.values()];
    const uniform = gauges.every((gauge) => gauge === gauges[0]);
    const { name, type, help } = this.family;
    return {
      name,
      type,
      help,
      keys,
      values: [...this.#values.values()],
      gauge: uniform ? gauges[0] : undefined,
      gauges: uniform ? undefined : gauges,
    };
  }
}

function addCumulative(
  out: FamilyOut,
  plan: RuledPush,
  rule: Rule,
  key: string,
  value: SeriesValue,
  sources: SourceTable,
  storeGauge: GaugeBehavior,
  now: number,
): void {
  const { name, type } = out.family;
  const old = sources.get(name, key);
  const gauge = rule.gauge ?? storeGauge;
  // The source held is updated in place when nothing but its value and time change.
  const same = old !== undefined && old.type === type && old.labels === rule.sources &&
    old.staleAfter === rule.staleAfter && old.gauge === gauge && sameShape(old.value, value);
  const { key: aggregate, found } = same
    ? { key: old.aggregate, found: true }
    : dropLabels(key, rule.sources);
  if (!found) {
    throw new PushError(
      `series ${seriesName(name, key)} has none of the source labels (${
        rule.sources.join(", ")
      }) that its rule (line ${rule.line} of the rules file) needs to tell senders apart`,
    );
  }
  // A source kept for another type (the family was deleted and pushed again as another type)
  // starts over.
  const last = old !== undefined && old.type === type ? old.value : undefined;
  const kept = copyValue(value);
  const source: Source = same ? old : {
    // Kept beyond the request: a name sliced from a body would keep the body alive.
    family: old?.family ?? detach(name),
    type,
    key: old?.key ?? key,
    aggregate,
    labels: rule.sources,
    value: kept,
    touched: now,
    staleAfter: rule.staleAfter,
    gauge,
    bytes: sourceBytes(name, key, aggregate, kept),
  };
  plan.updates.push({ source, value: kept, old });
  if (type === "gauge") {
    let group = out.groups.get(aggregate);
    if (group === undefined) {
      out.groups.set(aggregate, group = { rule, keys: new Set(), values: [] });
    }
    group.keys.add(key);
    group.values.push(kept as number);
    return;
  }
  if (type === "counter") checkCounterValue(name, key, value as number);
  const step = cumulativeStep(effectiveType(type), last, value);
  if (step.reset) plan.resets++;
  out.add(aggregate, step.delta, undefined);
}

/** Whether two values of a series cost the same bytes: histograms with as many buckets. */
function sameShape(a: SeriesValue, b: SeriesValue): boolean {
  if (typeof a === "number" || !("bounds" in a)) return true;
  return a.bounds.length === (b as HistogramValue).bounds.length;
}

/** Untyped values take the counter's step: they are summed, and a fall is a reset. */
function effectiveType(type: MetricType): MetricType {
  return type === "untyped" ? "counter" : type;
}

/**
 * Adds each gauge aggregate series: the gauge rule over its live sources' last values, those of
 * this push replacing their own. Set with `replace`, since it is the whole value.
 */
function finishGauges(out: FamilyOut, sources: SourceTable, storeGauge: GaugeBehavior): void {
  for (const [aggregate, { rule, keys, values: pushed }] of out.groups) {
    const values = gaugeValues(sources.group(out.family.name, aggregate), keys);
    for (const value of pushed) values.push(value);
    out.add(aggregate, gaugeOver(values, rule.gauge ?? storeGauge)!, "replace");
  }
  out.groups.clear();
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
