// Parses pushprom JSON deltas: one change to one metric per object, as PHP and other senders
// that keep no state send them. https://github.com/messagebird/pushprom#delta-format

import { ParseError, PushError } from "../core/errors.ts";
import { type Delta, isMetricName } from "../core/model.ts";
import { checkSampleNames } from "../core/checks.ts";
import { PushBuilder, type PushLimits, reservedLabel } from "./push_builder.ts";

type DeltaType = Delta["type"];

/** The methods each type has, as pushprom defines them. */
const METHODS: Record<DeltaType, readonly string[]> = {
  counter: ["inc", "add"],
  gauge: ["set", "inc", "dec", "add", "sub"],
  histogram: ["observe"],
  summary: ["observe"],
};

/** client_golang's DefBuckets, which pushprom's histograms get when a delta names none. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/**
 * Parses a JSON delta or an array of them. The array is validated whole: any bad delta
 * throws and none is returned. Errors name the delta by its index in an array and the metric
 * by type and name. Throws {@linkcode ParseError} for invalid JSON, {@linkcode PushError}
 * for a delta that is not valid.
 */
export function parseDeltas(text: string, limits?: PushLimits): Delta[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ParseError(`invalid JSON: ${(error as SyntaxError).message}`);
  }
  const isArray = Array.isArray(json);
  const items: unknown[] = isArray ? json as unknown[] : [json];
  const maxSamples = limits?.maxSamples ?? Infinity;
  if (items.length > maxSamples) {
    throw new PushError(
      `the push holds ${items.length} deltas, more than the limit of ${maxSamples} (--maxSamplesPerPush)`,
      "push_limit",
    );
  }
  const keys = new PushBuilder([], limits && { ...limits, room: undefined });
  const maxBuckets = limits?.maxBuckets ?? Infinity;
  const deltas: Delta[] = [];
  const types = new Map<string, DeltaType>();
  items.forEach((item, index) => {
    try {
      const delta = parseDelta(item, keys, maxBuckets);
      const seen = types.get(delta.name);
      if (seen !== undefined && seen !== delta.type) {
        throw new PushError(
          `metric "${delta.name}" is a ${seen} in an earlier delta`,
          "type_conflict",
        );
      }
      types.set(delta.name, delta.type);
      deltas.push(delta);
    } catch (error) {
      if (isArray && error instanceof PushError) {
        throw new PushError(`delta ${index}: ${error.message}`, error.reason);
      }
      throw error;
    }
  });
  checkSampleNames([...types].map(([name, type]) => ({ name, type })));
  return deltas;
}

function parseDelta(item: unknown, keys: PushBuilder, maxBuckets: number): Delta {
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    throw new PushError("a delta must be a JSON object");
  }
  const fields = item as Record<string, unknown>;
  const type = fields.type;
  // Own keys only: `"toString"` or `"constructor"` is not a type, though `in` would say so.
  if (typeof type !== "string" || !Object.hasOwn(METHODS, type)) {
    const given = type === undefined ? "missing" : JSON.stringify(type);
    throw new PushError(`type is ${given}; it must be one of counter, gauge, histogram, summary`);
  }
  const deltaType = type as DeltaType;
  const name = fields.name;
  if (typeof name !== "string" || !isMetricName(name)) {
    throw new PushError(
      `invalid metric name ${name === undefined ? "(missing)" : JSON.stringify(name)}`,
    );
  }
  keys.checkNameLength(name);
  const what = `${type} "${name}"`;
  const method = fields.method;
  if (typeof method !== "string" || !METHODS[deltaType].includes(method)) {
    const given = method === undefined ? "missing" : JSON.stringify(method);
    throw new PushError(
      `${what}: method is ${given}; a ${type} has ${METHODS[deltaType].join(", ")}`,
    );
  }
  const help = fields.help;
  if (help !== undefined && help !== null && (typeof help !== "string" || !help.isWellFormed())) {
    throw new PushError(`${what}: help must be a string of Unicode text`);
  }
  const given = fields.value;
  if (given !== undefined && given !== null && typeof given !== "number") {
    throw new PushError(`${what}: value must be a number, not ${JSON.stringify(given)}`);
  }
  // JSON cannot write NaN or Infinity; a number too large for a float parses as Infinity.
  const value = typeof given === "number" ? given : 0;
  if (!Number.isFinite(value)) throw new PushError(`${what}: value is not a finite number`);

  let op: Delta["op"];
  let amount = value;
  switch (method) {
    case "inc":
    case "dec": {
      // value defaults to 1 here. An explicit 0 counts as absent too: clients that marshal
      // pushprom's Go struct send "value": 0 with every inc, and pushprom adds 1 for them.
      const step = value === 0 ? 1 : value;
      if (deltaType === "counter" && step < 0) {
        throw new PushError(`${what}: inc of negative value ${step}; a counter never decreases`);
      }
      op = "add";
      amount = method === "inc" ? step : -step;
      break;
    }
    case "add":
      if (deltaType === "counter" && value < 0) {
        throw new PushError(`${what}: add of negative value ${value}; a counter never decreases`);
      }
      op = "add";
      break;
    case "sub":
      op = "add";
      amount = -value;
      break;
    case "set":
      op = "set";
      break;
    default:
      op = "observe";
  }
  const labels = readLabels(fields.labels, what);
  let key: string;
  try {
    key = keys.seriesKey(labels, reservedLabel(deltaType));
  } catch (error) {
    if (error instanceof PushError) throw new PushError(`${what}: ${error.message}`, error.reason);
    throw error;
  }
  return {
    name,
    type: deltaType,
    help: typeof help === "string" && help !== "" ? help : undefined,
    key,
    op,
    value: amount,
    bounds: deltaType === "histogram" ? readBuckets(fields.buckets, what, maxBuckets) : undefined,
  };
}

/** The labels object as a flat `[name, value, …]` array; names are checked by the keying. */
function readLabels(labels: unknown, what: string): string[] {
  if (labels === undefined || labels === null) return [];
  if (typeof labels !== "object" || Array.isArray(labels)) {
    throw new PushError(`${what}: labels must be an object of label names to string values`);
  }
  const flat: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (typeof value !== "string") {
      throw new PushError(
        `${what}: label "${name}" must have a string value, not ${JSON.stringify(value)}`,
      );
    }
    // JSON can carry lone UTF-16 surrogates, which UTF-8 output would turn into U+FFFD and so
    // make two different values render alike.
    if (!value.isWellFormed()) {
      throw new PushError(`${what}: label "${name}" has a value that is not Unicode text`);
    }
    flat.push(name, value);
  }
  return flat;
}

/**
 * Histogram bounds: the given ones or the defaults, strictly increasing, ending with +Inf, no
 * more than `max` with it.
 */
function readBuckets(buckets: unknown, what: string, max: number): number[] {
  if (
    buckets === undefined || buckets === null || (Array.isArray(buckets) && buckets.length === 0)
  ) {
    return [...DEFAULT_BUCKETS, Infinity];
  }
  if (
    !Array.isArray(buckets) || !buckets.every((b) => typeof b === "number" && Number.isFinite(b))
  ) {
    throw new PushError(`${what}: buckets must be an array of finite numbers`);
  }
  if (buckets.length + 1 > max) {
    throw new PushError(
      `${what}: ${buckets.length} buckets and +Inf are more than the limit of ${max} (--maxBucketsPerSeries)`,
      "bucket_limit",
    );
  }
  for (let i = 1; i < buckets.length; i++) {
    if (buckets[i] <= buckets[i - 1]) {
      throw new PushError(
        `${what}: buckets must increase, but ${buckets[i]} follows ${buckets[i - 1]}`,
      );
    }
  }
  return [...buckets, Infinity];
}
