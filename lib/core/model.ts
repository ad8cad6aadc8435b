// The data model shared by every parser, the merge rules, the store and the renderer: metric
// types, series values, the canonical series key, and the character rules of the exposition format.

/** The metric types of the Prometheus text format 0.0.4. */
export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export const METRIC_TYPES: readonly MetricType[] = [
  "counter",
  "gauge",
  "histogram",
  "summary",
  "untyped",
];

/**
 * A classic histogram. `bounds` are strictly increasing upper bounds and always end with
 * `+Inf`; `counts[i]` is the cumulative count of observations `<= bounds[i]`.
 */
export interface HistogramValue {
  bounds: number[];
  counts: number[];
  count: number;
  sum: number;
}

/** A summary keeps only `_count` and `_sum`: quantiles of separate pushes cannot be combined. */
export interface SummaryValue {
  count: number;
  sum: number;
}

/** A counter, gauge or untyped series holds a bare number. */
export type SeriesValue = number | HistogramValue | SummaryValue;

/**
 * One metric family of a push, already validated on its own: every series is complete
 * (histograms have `+Inf`, `_count` and `_sum`), no counter is negative, no series repeats.
 *
 * Series are two parallel arrays, which cost less to build and to walk than a map: `keys`
 * holds each series' canonical label key (see {@linkcode labelKey}) once, `values[i]` the
 * value of `keys[i]`. Neither is ever modified once the push is made.
 */
export interface PushFamily {
  name: string;
  type: MetricType;
  /** Unescaped HELP text; undefined when the push has no HELP line for the family. */
  help: string | undefined;
  keys: readonly string[];
  values: readonly SeriesValue[];
  /** Only when read from a snapshot: when each series was last pushed to, in milliseconds. */
  touched?: Map<string, number>;
  /**
   * No less than what the family's series would cost the store if all were new (see
   * `seriesBytesAtMost` in `store_bytes.ts`), worked out once by whoever builds the push, so
   * that the store can tell that a push fits `--maxStoreBytes` without a look at its keys. The
   * store works it out when absent.
   */
  bytes?: number;
}

/** A whole push: its families in input order, each name at most once. */
export type Push = PushFamily[];

/** A label as a name and value pair. */
export type Label = [name: string, value: string];

// Character classes of the exposition format, as lookup tables over char codes so that the
// parsers test a character with one array read instead of a regular expression.
// https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels
const NAME_START = new Uint8Array(128);
const NAME_PART = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const alpha = (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || ch === "_";
  NAME_START[c] = alpha ? 1 : 0;
  NAME_PART[c] = alpha || (ch >= "0" && ch <= "9") ? 1 : 0;
}
const COLON = 58;

/** Whether `code` may start a label name (`[a-zA-Z_]`). */
export function isLabelNameStart(code: number): boolean {
  return code < 128 && NAME_START[code] === 1;
}

/** Whether `code` may continue a label name (`[a-zA-Z0-9_]`). */
export function isLabelNamePart(code: number): boolean {
  return code < 128 && NAME_PART[code] === 1;
}

/** Whether `code` may start a metric name (`[a-zA-Z_:]`). */
export function isMetricNameStart(code: number): boolean {
  return code === COLON || isLabelNameStart(code);
}

/** Whether `code` may continue a metric name (`[a-zA-Z0-9_:]`). */
export function isMetricNamePart(code: number): boolean {
  return code === COLON || isLabelNamePart(code);
}

/** Whether `name` is a valid metric name. */
export function isMetricName(name: string): boolean {
  if (name.length === 0 || !isMetricNameStart(name.charCodeAt(0))) return false;
  for (let i = 1; i < name.length; i++) {
    if (!isMetricNamePart(name.charCodeAt(i))) return false;
  }
  return true;
}

/** Whether `name` is a valid label name. */
export function isLabelName(name: string): boolean {
  if (name.length === 0 || !isLabelNameStart(name.charCodeAt(0))) return false;
  for (let i = 1; i < name.length; i++) {
    if (!isLabelNamePart(name.charCodeAt(i))) return false;
  }
  return true;
}

/** Escapes a label value for the text format: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  // Most values need no escaping; checking first avoids three string scans and copies.
  let plain = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 92 || c === 34 || c === 10) {
      plain = false;
      break;
    }
  }
  if (plain) return value;
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** Escapes HELP text for the text format: backslash and line feed. */
export function escapeHelp(help: string): string {
  return help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/**
 * The canonical key of a label set: the labels sorted by name and rendered as the text format
 * writes them between the braces, `a="1",b="x\"y"`; the empty set is `""`. Labels with an empty
 * value are left out, since Prometheus treats them as absent. Because the key is exactly what a
 * scrape prints, the renderer writes it as it is and never looks at the labels again.
 *
 * `labels` must already be sorted by name with no name twice.
 */
export function labelKey(labels: readonly Label[]): string {
  let key = "";
  for (const [name, value] of labels) {
    if (value === "") continue;
    if (key !== "") key += ",";
    key += name + '="' + escapeLabelValue(value) + '"';
  }
  return key;
}

/**
 * A copy of `text` that keeps no larger string alive. V8 makes a slice of a long string a view
 * into it, so a name sliced from a request body and kept in the store would keep the whole
 * body; anything kept beyond a request is copied with this.
 */
export function detach(text: string): string {
  return (" " + text).slice(1);
}

/**
 * Formats a sample value the way Prometheus parses it: `+Inf`, `-Inf`, `NaN`, otherwise the
 * shortest decimal that reads back as the same float.
 */
export function formatValue(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return "NaN";
}

/**
 * Formats a histogram bound (`le`) or summary quantile the way Prometheus' own exposition
 * (client_golang's `expfmt`) writes it: `+Inf`, `-Inf`, `NaN`, otherwise Go's
 * `strconv.FormatFloat(v, 'g', -1, 64)`, the shortest digits that read back as the same float,
 * with an exponent of at least two digits when the decimal exponent is below -4 or at least 6
 * (`1e+06`, `1e-05`, `1.23456789e+08`). Under Prometheus 2.x `le` is an ordinary label, so a
 * bound spelt otherwise than the Pushgateway spells it would be another series.
 */
export function formatBound(value: number): string {
  const size = value < 0 ? -value : value;
  // [1e-4, 1e6): both write the shortest digits without an exponent; 0 and -0 are "0".
  if ((size >= 1e-4 && size < 1e6) || value === 0) return String(value);
  if (!Number.isFinite(value)) return formatValue(value);
  const exponential = value.toExponential(); // the shortest digits, as "1.5e+7" or "1e-5"
  const e = exponential.indexOf("e");
  const sign = exponential.charCodeAt(e + 1) === 45 ? "-" : "+";
  const digits = exponential.slice(e + 2);
  return exponential.slice(0, e + 1) + sign + (digits.length === 1 ? "0" + digits : digits);
}

/**
 * Parses a float as Prometheus' text parser (`expfmt`) does: Go's `strconv.ParseFloat`, less
 * the hex floats and digit underscores that `expfmt` refuses. That is a decimal with optional
 * sign, fraction and exponent, `Inf`/`Infinity` in any case with an optional sign, or `NaN` in
 * any case without one. A decimal beyond the float64 range (`1e309`, a number of 400 digits) is
 * refused, as Go refuses it, instead of read as an infinity; one below it reads as 0, as in Go.
 * Returns undefined for anything refused (`Number()` alone would accept `""`, `" 1"` and
 * `0x1`).
 */
export function parseFloatStrict(text: string): number | undefined {
  const n = text.length;
  let i = 0;
  let c = text.charCodeAt(0);
  if (c === 43 || c === 45) c = text.charCodeAt(++i); // + or -
  if (i < n && !(c >= 48 && c <= 57) && c !== 46) {
    const word = text.slice(i).toLowerCase();
    if (word === "inf" || word === "infinity") {
      return text.charCodeAt(0) === 45 ? -Infinity : Infinity;
    }
    return word === "nan" && i === 0 ? NaN : undefined;
  }
  let digits = 0;
  while (i < n && (c = text.charCodeAt(i)) >= 48 && c <= 57) i++, digits++;
  if (c === 46 && i < n) {
    i++;
    while (i < n && (c = text.charCodeAt(i)) >= 48 && c <= 57) i++, digits++;
  }
  if (digits === 0) return undefined;
  if (i < n && (c === 101 || c === 69)) { // e or E
    i++;
    c = text.charCodeAt(i);
    if (c === 43 || c === 45) i++;
    let expDigits = 0;
    while (i < n && (c = text.charCodeAt(i)) >= 48 && c <= 57) i++, expDigits++;
    if (expDigits === 0) return undefined;
  }
  if (i !== n) return undefined;
  const value = Number(text);
  // Out of range: Go's ParseFloat answers an error (with ±Inf), which expfmt refuses.
  return value === Infinity || value === -Infinity ? undefined : value;
}

/**
 * Whether `text` is an integer that Go's `strconv.ParseInt(text, 10, 64)` reads: an optional
 * `+` or `-`, then decimal digits, within the int64 range. Prometheus' text parser reads
 * timestamps so.
 */
export function isInt64(text: string): boolean {
  const n = text.length;
  const c = text.charCodeAt(0);
  const start = c === 43 || c === 45 ? 1 : 0; // + or -
  if (start === n) return false;
  let first = start;
  for (let i = start; i < n; i++) {
    const d = text.charCodeAt(i);
    if (d < 48 || d > 57) return false;
    if (d === 48 && first === i && i < n - 1) first++; // leading zeros count for nothing
  }
  const length = n - first;
  if (length < 19) return true;
  if (length > 19) return false;
  // 19 digits: compared as text with the largest magnitude, 2^63 - 1 or 2^63 when negative.
  const limit = c === 45 ? "9223372036854775808" : "9223372036854775807";
  return text.slice(first) <= limit;
}

/**
 * One change to one series, as a pushprom JSON delta reduces to: a counter or gauge `add`, a
 * gauge `set`, or an `observe` into a histogram or summary. `inc`, `dec` and `sub` are
 * already turned into `add` with the right sign.
 */
export interface Delta {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary";
  help: string | undefined;
  /** The canonical label key, as for pushed series. */
  key: string;
  op: "add" | "set" | "observe";
  value: number;
  /** Histogram only: the bounds for a series the delta creates, ending with +Inf. */
  bounds: number[] | undefined;
}
