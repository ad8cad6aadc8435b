// Parses the Prometheus text exposition format 0.0.4, and OpenMetrics 1.0 text, into a Push,
// one line at a time by char codes, without regular expressions. Specs:
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
// https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md

import { seriesName } from "../core/checks.ts";
import { ParseError, PushError } from "../core/errors.ts";
import {
  formatValue,
  isInt64,
  isLabelNamePart,
  isLabelNameStart,
  isMetricNamePart,
  isMetricNameStart,
  type Label,
  METRIC_TYPES,
  type MetricType,
  parseFloatStrict,
  type Push,
} from "../core/model.ts";
import { type FamilyDraft, PushBuilder, type PushLimits } from "./push_builder.ts";
import type { KeyMode, SeriesCache } from "./series_cache.ts";
import { type ParseRecord, PushTemplate, type ValueRole } from "./push_template.ts";

const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const HASH = 35;
const COMMA = 44;
const EQUALS = 61;
const BACKSLASH = 92;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

/** How a sample name was resolved: its family's declaration and how its labels are keyed. */
interface Resolution {
  declaration: Declaration | undefined;
  /** Undefined for an `X_created` sample, which is dropped. */
  mode: KeyMode | undefined;
  /** For a histogram or summary mode: `_sum` rather than `_count`. */
  sum: boolean;
  /** The family, for messages about its `le` or `quantile` label. */
  what: string;
}

/** What a metric name means in this push, learnt from its TYPE/HELP lines or first sample. */
interface Declaration {
  /** The type the family is stored with. */
  type: MetricType;
  /**
   * The name the family is stored under: the declared name, except for an OpenMetrics counter
   * `x` (stored as `x_total`, the name its samples have) and info `x` (stored as `x_info`).
   */
  storageName: string;
  help: string | undefined;
  typed: boolean;
  /** Set once a sample of the family is read: a TYPE line after that is an error. */
  draft: FamilyDraft | undefined;
  /** OpenMetrics: the type as the TYPE line gave it (`info`, `stateset`…), and the UNIT. */
  omType?: string;
  unit?: string;
}

/**
 * Parses a body in the text format 0.0.4. `grouping` labels (from the URL) are added to every
 * series and override body labels of the same name. Throws {@linkcode ParseError} with the
 * line number on a syntax error, {@linkcode PushError} when the push as a whole is invalid.
 */
export function parseText(
  text: string,
  grouping: readonly Label[] = [],
  limits?: PushLimits,
  cache?: SeriesCache,
): Push {
  return parseCached(text, grouping, limits, false, cache);
}

/**
 * Parses a snapshot body (text format 0.0.4 with a timestamp on each sample, see
 * `persistence.ts`) with every check of a push: each family's `touched` holds its series'
 * timestamps, and `X_created` families are kept, since the store held them.
 */
export function parseSnapshotText(text: string): Push {
  return new TextParser(text, new PushBuilder([], undefined, true), false).parse();
}

/**
 * Parses a body in the OpenMetrics 1.0 text format, as {@linkcode parseText} does 0.0.4 text.
 * The body may end with `# EOF` (nothing may follow it). `# UNIT` lines, exemplars and
 * timestamps are accepted and ignored. A counter `x` is stored as `x_total`, as the 0.0.4
 * format names it; `info` families become gauges `x_info`, `stateset` families gauges,
 * `unknown` families untyped; `_created` samples are dropped.
 */
export function parseOpenMetrics(
  text: string,
  grouping: readonly Label[] = [],
  limits?: PushLimits,
  cache?: SeriesCache,
): Push {
  return parseCached(text, grouping, limits, true, cache);
}

/**
 * Parses a request body in the text format 0.0.4 (or OpenMetrics, with `openMetrics`), as
 * {@linkcode parseText} parses its text: read from its bytes by a template of `cache` when one
 * fits, with no decoding, otherwise decoded by `decode` (which refuses invalid UTF-8) and
 * parsed in full.
 */
export function parseTextBody(
  body: Uint8Array,
  decode: (body: Uint8Array) => string,
  openMetrics: boolean,
  grouping: readonly Label[],
  limits: PushLimits | undefined,
  cache: SeriesCache,
): Push {
  // Both decoders drop a leading byte order mark, so the template is tried without it.
  const bom = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
  return cache.readByTemplate(bom ? body.subarray(3) : body, openMetrics) ??
    parseFully(decode(body), grouping, limits, openMetrics, cache);
}

const encoder = new TextEncoder();

/**
 * With a cache: reads a body by one of its templates when one fits, otherwise parses it in
 * full (see {@linkcode parseFully}).
 */
function parseCached(
  text: string,
  grouping: readonly Label[],
  limits: PushLimits | undefined,
  openMetrics: boolean,
  cache: SeriesCache | undefined,
): Push {
  if (cache === undefined) {
    return new TextParser(text, new PushBuilder(grouping, limits), openMetrics).parse();
  }
  // A template compares UTF-8, which cannot tell a lone surrogate from U+FFFD: text that has one
  // (never a decoded body) is parsed in full.
  const read = cache.hasTemplate(openMetrics) && text.isWellFormed()
    ? cache.readByTemplate(encoder.encode(text), openMetrics)
    : undefined;
  return read ?? parseFully(text, grouping, limits, openMetrics, cache);
}

/**
 * Parses a body in full with the series cache, and keeps a template of a body whose series were
 * all in the cache already (a sender pushing the same body again), so that its next push is read
 * by the template.
 */
function parseFully(
  text: string,
  grouping: readonly Label[],
  limits: PushLimits | undefined,
  openMetrics: boolean,
  cache: SeriesCache,
): Push {
  // Values are recorded only when a template may be made of them.
  const record: ParseRecord | undefined = cache.wantsTemplate()
    ? { values: [], cacheHits: 0 }
    : undefined;
  const push = new TextParser(text, new PushBuilder(grouping, limits), openMetrics, cache, record)
    .parse();
  if (
    record !== undefined && record.cacheHits > 0 && record.cacheHits === record.values.length
  ) {
    const template = PushTemplate.from(text, openMetrics, push, record.values);
    if (template !== undefined) cache.addTemplate(template);
  }
  return push;
}

/** OpenMetrics types, as the type and storage suffix they are kept with. */
const OPENMETRICS_TYPES: Record<string, [MetricType, string] | undefined> = {
  counter: ["counter", "_total"],
  gauge: ["gauge", ""],
  histogram: ["histogram", ""],
  summary: ["summary", ""],
  unknown: ["untyped", ""],
  info: ["gauge", "_info"],
  stateset: ["gauge", ""],
};

/**
 * OpenMetrics' checks of a sample's value beyond its syntax, as its specification and Python's
 * parser hold them: counts are whole numbers, counter-like values are neither negative nor NaN,
 * a quantile's value is not negative, an info is 1 and a state 0 or 1. What is wrong, or
 * undefined. (A counter's own value is checked by the builder, as in every format.)
 */
function openMetricsValueProblem(resolved: Resolution, value: number): string | undefined {
  const role = roleOf(resolved);
  if ((role === "bucket" || role === "count") && !Number.isInteger(value)) {
    return `has value ${formatValue(value)}, not a whole number`;
  }
  if ((role === "bucket" || role === "count" || role === "sum") && !(value >= 0)) {
    return `has value ${formatValue(value)}, which a count or sum cannot have`;
  }
  if (resolved.mode === "quantile" && !(value >= 0)) {
    return `has value ${formatValue(value)}, which a quantile cannot have`;
  }
  const type = resolved.declaration?.omType;
  if (type === "info" && value !== 1) return `has value ${formatValue(value)}: an info is 1`;
  if (type === "stateset" && value !== 0 && value !== 1) {
    return `has value ${formatValue(value)}: a state is 0 or 1`;
  }
  return undefined;
}

/** Whether {@linkcode openMetricsValueProblem} checks anything for a sample resolved so. */
function hasOpenMetricsCheck(resolved: Resolution): boolean {
  const type = resolved.declaration?.omType;
  return resolved.mode === "bucket" || resolved.mode === "histogram" ||
    resolved.mode === "summary" || resolved.mode === "quantile" || type === "info" ||
    type === "stateset";
}

/** What the value of a sample whose name resolved so is for. */
function roleOf(resolved: Resolution): ValueRole {
  switch (resolved.mode) {
    case "value":
      return "value";
    case "bucket":
      return "bucket";
    case "histogram":
    case "summary":
      return resolved.sum ? "sum" : "count";
    default:
      return "dropped"; // a quantile, or a creation timestamp
  }
}

class TextParser {
  readonly #text: string;
  readonly #builder: PushBuilder;
  readonly #declarations = new Map<string, Declaration>();
  /** Flat `[name, value, …]` labels of the current sample, reused across lines. */
  readonly #labels: string[] = [];
  readonly #openMetrics: boolean;
  readonly #cache: SeriesCache | undefined;
  readonly #record: ParseRecord | undefined;
  /** Sample names resolved since the last HELP or TYPE line. */
  readonly #resolved = new Map<string, Resolution>();
  /** OpenMetrics: the family whose lines are being read, to keep each family's together. */
  #current: Declaration | undefined;
  /** OpenMetrics: whether the sample being read may carry an exemplar. */
  #exemplarAllowed = false;
  /** The series of each dropped `X_created` sample name, to refuse one given twice. */
  readonly #created = new Map<string, Set<string>>();
  /** The line of `# EOF`, in OpenMetrics; 0 before it. */
  #eof = 0;
  #pos = 0;
  #end = 0;
  #line = 0;

  constructor(
    text: string,
    builder: PushBuilder,
    openMetrics: boolean,
    cache?: SeriesCache,
    record?: ParseRecord,
  ) {
    this.#text = text;
    this.#builder = builder;
    this.#openMetrics = openMetrics;
    this.#cache = cache;
    this.#record = record;
  }

  parse(): Push {
    const text = this.#text;
    let start = 0;
    while (start < text.length) {
      this.#line++;
      let next = text.indexOf("\n", start);
      if (next === -1) next = text.length;
      let end = next;
      if (end > start && text.charCodeAt(end - 1) === CR) end--;
      this.#pos = start;
      this.#end = end;
      try {
        this.#parseLine();
      } catch (error) {
        if (error instanceof PushError) {
          throw new ParseError(error.message, this.#line, error.reason);
        }
        throw error;
      }
      start = next + 1;
    }
    // No `# EOF` is accepted: the Go client's OpenMetrics pushes end without one, and an HTTP
    // body is framed by its length, so a cut-short push is caught before it is parsed.
    return this.#builder.finish();
  }

  #parseLine(): void {
    if (this.#eof > 0) {
      // The format allows one line feed after # EOF, which makes an empty last line here.
      if (this.#pos === this.#text.length) return;
      this.#fail(`text after "# EOF" (line ${this.#eof})`);
    }
    this.#skipBlanks();
    if (this.#pos === this.#end) {
      // OpenMetrics has no empty lines (its ABNF), as Prometheus' and Python's parsers hold.
      if (this.#openMetrics) this.#fail("an empty line, which OpenMetrics does not allow");
      return;
    }
    if (this.#text.charCodeAt(this.#pos) === HASH) {
      this.#pos++;
      this.#parseComment();
    } else {
      this.#parseSample();
    }
  }

  #parseComment(): void {
    this.#skipBlanks();
    const keyword = this.#readWord();
    if (this.#openMetrics && keyword === "EOF") {
      this.#skipBlanks();
      if (this.#pos === this.#end) {
        this.#eof = this.#line;
        return;
      }
    }
    const isUnit = this.#openMetrics && keyword === "UNIT";
    const metadata = keyword === "HELP" || keyword === "TYPE" || isUnit;
    if (!metadata || !this.#skipBlanks() || this.#pos === this.#end) {
      // OpenMetrics has no comments but its HELP, TYPE, UNIT and EOF lines, each whole.
      if (this.#openMetrics) {
        this.#fail("a comment that is not a whole HELP, TYPE, UNIT or EOF line");
      }
      return; // an ordinary comment; "# HELPING" or a bare "# HELP" is one too
    }
    const nameStart = this.#pos;
    const name = this.#readMetricName(`a metric name after ${keyword}`);
    const nameEnd = this.#pos;
    if (!this.#skipBlanks()) {
      // `# HELP x-y text`: the name ends at a character no name has, as expfmt refuses.
      this.#pos = nameStart;
      this.#fail(`expected a metric name after ${keyword}, found ${this.#found()}`);
    }
    if (this.#openMetrics) {
      // A HELP, TYPE or UNIT line has a blank and its text after the name, even if empty.
      if (nameEnd === this.#end) {
        this.#fail(`${keyword} line for metric "${name}" ends at its name`);
      }
      const declaration = this.#declarationOf(name);
      if (declaration.draft !== undefined) {
        this.#fail(`${keyword} line for metric "${name}" comes after its samples`);
      }
      this.#current = declaration; // metadata starts a family's lines
      if (isUnit) return this.#readUnit(declaration, name);
    } else if (keyword === "HELP" && this.#pos === this.#end) {
      // `# HELP x` with no text is no HELP line at all, as expfmt reads it: it sets no HELP,
      // and a HELP line may follow it.
      return;
    }
    this.#resolved.clear(); // a new declaration can change what names mean
    const declaration = this.#declarationOf(name);
    const what = declaration.storageName === name || this.#openMetrics
      ? `metric "${name}"`
      : `metric "${declaration.storageName}" (as "${name}")`;
    if (keyword === "HELP") {
      if (declaration.help !== undefined) this.#fail(`second HELP line for ${what}`);
      declaration.help = this.#readHelp();
      if (declaration.draft !== undefined) declaration.draft.help = declaration.help;
      return;
    }
    if (declaration.typed) this.#fail(`second TYPE line for ${what}`);
    if (declaration.draft !== undefined) {
      this.#fail(`TYPE line for ${what} comes after its samples`);
    }
    const type = this.#readWord();
    this.#skipBlanks();
    if (this.#pos !== this.#end) this.#fail(`unexpected text after the TYPE of metric "${name}"`);
    if (this.#openMetrics) {
      // Own keys only: `toString` or `constructor` is not a type, though the object has them.
      const known = Object.hasOwn(OPENMETRICS_TYPES, type) ? OPENMETRICS_TYPES[type] : undefined;
      if (known === undefined) {
        const why = type === "gaugehistogram" ? "gauge histograms are not supported" : "unknown";
        this.#fail(`metric type "${type}" for metric "${name}": ${why}`);
      }
      [declaration.type] = known;
      declaration.storageName = name + known[1];
      declaration.omType = type;
      this.#checkUnit(declaration, name);
    } else if ((METRIC_TYPES as readonly string[]).includes(type.toLowerCase())) {
      // In any case, as Go's parser reads the text format (`COUNTER`, `Gauge`).
      declaration.type = type.toLowerCase() as MetricType;
    } else {
      this.#fail(`unknown metric type "${type}" for metric "${name}"`);
    }
    declaration.typed = true;
  }

  /** Reads the unit of an OpenMetrics UNIT line: once per family, a suffix of its name. */
  #readUnit(declaration: Declaration, name: string): void {
    if (declaration.unit !== undefined) this.#fail(`second UNIT line for metric "${name}"`);
    declaration.unit = this.#text.slice(this.#pos, this.#end);
    this.#pos = this.#end;
    if (declaration.unit !== "" && !name.endsWith("_" + declaration.unit)) {
      this.#fail(`metric "${name}" does not end with its unit "_${declaration.unit}"`);
    }
    this.#checkUnit(declaration, name);
  }

  #checkUnit(declaration: Declaration, name: string): void {
    const type = declaration.omType;
    if (declaration.unit && (type === "info" || type === "stateset")) {
      this.#fail(`${type} metric "${name}" has a unit, which OpenMetrics does not allow`);
    }
  }

  /**
   * OpenMetrics: the lines of a family come together. A sample of a family whose lines another
   * family's came after is refused, as Prometheus' and Python's parsers refuse it.
   */
  #checkTogether(declaration: Declaration, name: string): void {
    if (declaration === this.#current) return;
    if (declaration.draft !== undefined) {
      this.#fail(`sample "${name}" comes after the lines of another metric, away from its own`);
    }
    this.#current = declaration;
  }

  /**
   * The family a HELP or TYPE line names. In 0.0.4, as expfmt reads it, `x_sum` and `x_count`
   * of a summary or histogram `x` declared before, and `x_bucket` of a histogram, name `x`:
   * `# TYPE x_count gauge` after `# TYPE x summary` is a second TYPE line for `x`, not a gauge
   * whose samples would collide with the summary's.
   */
  #declarationOf(name: string): Declaration {
    const own = this.#declarations.get(name);
    if (own !== undefined || this.#openMetrics) return own ?? this.#declare(name);
    const underscore = name.lastIndexOf("_");
    if (underscore > 0) {
      const suffix = name.slice(underscore);
      const base = this.#declarations.get(name.slice(0, underscore));
      if (
        base !== undefined && (
          (base.type === "summary" && (suffix === "_sum" || suffix === "_count")) ||
          (base.type === "histogram" &&
            (suffix === "_sum" || suffix === "_count" || suffix === "_bucket"))
        )
      ) {
        return base;
      }
    }
    return this.#declare(name);
  }

  #declare(name: string): Declaration {
    let declaration = this.#declarations.get(name);
    if (declaration === undefined) {
      declaration = {
        type: "untyped",
        storageName: name,
        help: undefined,
        typed: false,
        draft: undefined,
      };
      this.#declarations.set(name, declaration);
    }
    return declaration;
  }

  #parseSample(): void {
    const text = this.#text;
    const start = this.#pos;
    const cache = this.#cache;
    // The fast path: the series text (name and labels) of a line seen in an earlier push.
    const seriesEnd = cache === undefined ? -1 : this.#seriesEnd(start);
    const raw = seriesEnd === -1 ? "" : text.slice(start, seriesEnd);
    const hit = seriesEnd === -1 ? undefined : cache!.get(raw);
    if (hit !== undefined) {
      const resolved = this.#resolve(hit.name);
      if (resolved.mode === hit.mode) {
        if (this.#record !== undefined) this.#record.cacheHits++;
        this.#pos = seriesEnd;
        this.#skipBlanks();
        return this.#addSample(hit.name, resolved, hit.key, hit.le);
      }
    }
    const name = this.#readMetricName("a metric name");
    const resolved = this.#resolve(name);
    let parsedEnd = this.#pos;
    this.#skipBlanks();
    let key = "";
    let le = NaN;
    if (text.charCodeAt(this.#pos) === OPEN_BRACE && this.#pos < this.#end) {
      this.#pos++;
      const labels = this.#labels;
      labels.length = 0;
      this.#parseLabels(labels);
      parsedEnd = this.#pos;
      // An `X_created` sample is keyed too, for the checks of every line, and then dropped.
      [key, le] = this.#keyOf(labels, resolved.mode ?? "value", resolved.what);
      this.#skipBlanks();
    } else {
      [key, le] = this.#keyOf([], resolved.mode ?? "value", resolved.what);
    }
    // Cached only when the raw text is exactly the series text parsed (not `a {x="1"}`).
    if (seriesEnd === parsedEnd) {
      cache!.set(raw, { name, mode: resolved.mode, key, le });
    }
    this.#addSample(name, resolved, key, le);
  }

  /** Reads the value and timestamp of a sample whose series is known, and files it. */
  #addSample(name: string, resolved: Resolution, key: string, le: number): void {
    const start = this.#pos;
    const value = this.#readValue(name);
    if (this.#openMetrics) {
      this.#checkTogether(resolved.declaration!, name);
      const problem = openMetricsValueProblem(resolved, value);
      if (problem !== undefined) this.#fail(`sample "${name}" ${problem}`);
      // Exemplars go on counters' `_total` and histograms' buckets only.
      this.#exemplarAllowed = resolved.mode === "bucket" ||
        (resolved.declaration!.omType === "counter" && resolved.mode === "value");
    }
    this.#record?.values.push({
      start,
      end: this.#pos,
      family: resolved.mode === undefined ? "" : resolved.declaration!.storageName,
      key,
      role: roleOf(resolved),
      le,
      // A template reads values without the parser: it runs the same check on each.
      check: this.#openMetrics && hasOpenMetricsCheck(resolved)
        ? (v: number) => openMetricsValueProblem(resolved, v) === undefined
        : undefined,
    });
    const builder = this.#builder;
    builder.sampleTime = this.#skipBlanks() && this.#pos < this.#end
      ? this.#readTimestamp(name)
      : undefined;
    const family = resolved.declaration === undefined
      ? undefined
      : this.#draftOf(resolved.declaration);
    switch (resolved.mode) {
      case "value":
        return builder.addValue(family!, key, value);
      case "bucket":
        return builder.addBucket(family!, key, le, value);
      case "quantile":
        return builder.addQuantile(family!, key);
      case "histogram":
      case "summary":
        return resolved.sum
          ? builder.addSum(family!, key, value)
          : builder.addCount(family!, key, value);
      default:
        // A creation timestamp, which cannot be summed across pushes (DESIGN.md), is dropped
        // once checked as any other line: the same series twice is refused.
        return this.#addCreated(name, key);
    }
  }

  #addCreated(name: string, key: string): void {
    let keys = this.#created.get(name);
    if (keys === undefined) {
      keys = new Set();
      this.#created.set(name, keys);
    }
    if (keys.has(key)) this.#fail(`series ${seriesName(name, key)} appears twice in the push`);
    keys.add(key);
  }

  /**
   * Where the series text of the sample line at `start` ends: after its name, or after the
   * `}` of its labels when a `{` follows the name at once. -1 when the line is not that
   * simple (the full parse then deals with it).
   */
  #seriesEnd(start: number): number {
    const text = this.#text;
    if (start >= this.#end || !isMetricNameStart(text.charCodeAt(start))) return -1;
    let i = start + 1;
    while (i < this.#end && isMetricNamePart(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== OPEN_BRACE || i >= this.#end) {
      // A name alone, unless blanks and then labels follow (`a {x="1"}`): not simple.
      let j = i;
      while (j < this.#end && (text.charCodeAt(j) === SPACE || text.charCodeAt(j) === TAB)) j++;
      return text.charCodeAt(j) === OPEN_BRACE && j < this.#end ? -1 : i;
    }
    const close = this.#labelsEnd(i + 1);
    return close === -1 ? -1 : close + 1;
  }

  /**
   * What a sample name means in this push: which family it belongs to and how its labels are
   * keyed (`_bucket`, `_sum`, `_count`, `_created`, OpenMetrics `_total` and `_info`).
   * Remembered until the next HELP or TYPE line, as every line of a family repeats its name.
   */
  #resolve(name: string): Resolution {
    let resolved = this.#resolved.get(name);
    if (resolved === undefined) {
      resolved = this.#resolveName(name);
      this.#resolved.set(name, resolved);
    }
    return resolved;
  }

  #resolveName(name: string): Resolution {
    const own = this.#declarations.get(name);
    if (own !== undefined) {
      if (own.storageName !== name) {
        // An OpenMetrics counter or info family whose sample lacks its suffix.
        const suffix = own.storageName.slice(name.length);
        this.#fail(`sample "${name}" of metric "${name}" needs the ${suffix} suffix`);
      }
      if (own.type === "histogram") {
        this.#fail(
          `sample "${name}" of histogram "${name}" needs a _bucket, _sum or _count suffix`,
        );
      }
      const mode = own.type === "summary" ? "quantile" : "value";
      return { declaration: own, mode, sum: false, what: `summary "${name}"` };
    }
    const underscore = name.lastIndexOf("_");
    if (underscore > 0) {
      const suffix = name.slice(underscore);
      const base = name.slice(0, underscore);
      const declaration = this.#declarations.get(base);
      const type = declaration?.type;
      if (declaration !== undefined && declaration.storageName === name) {
        // OpenMetrics: counter `x` with sample `x_total`, info `x` with sample `x_info`.
        return { declaration, mode: "value", sum: false, what: "" };
      }
      if (suffix === "_bucket" && type === "histogram") {
        return { declaration, mode: "bucket", sum: false, what: `histogram "${base}"` };
      }
      if (
        (type === "histogram" || type === "summary") && (suffix === "_sum" || suffix === "_count")
      ) {
        return { declaration, mode: type, sum: suffix === "_sum", what: "" };
      }
      if (
        suffix === "_created" && (type === "counter" || type === "histogram" || type === "summary")
      ) {
        return { declaration, mode: undefined, sum: false, what: "" };
      }
    }
    // A sample with no TYPE line: an untyped family of its own.
    return { declaration: this.#declare(name), mode: "value", sum: false, what: "" };
  }

  /** Keys parsed labels for `mode`, taking out `le` or `quantile` where the mode says so. */
  #keyOf(labels: string[], mode: KeyMode, what: string): [string, number] {
    const builder = this.#builder;
    switch (mode) {
      case "bucket": {
        const le = this.#takeLabel(labels, "le", what);
        const bound = parseFloatStrict(le);
        if (bound === undefined) this.#fail(`invalid le="${le}" in ${what}`);
        // OpenMetrics writes +Inf one way only.
        if (this.#openMetrics && bound === Infinity && le !== "+Inf") {
          this.#fail(`invalid le="${le}" in ${what}: OpenMetrics writes it "+Inf"`);
        }
        return [builder.seriesKey(labels, "le"), bound];
      }
      case "quantile": {
        // Quantiles are dropped, but one that is not a float is refused, as expfmt refuses it.
        const quantile = this.#takeLabel(labels, "quantile", what);
        const q = parseFloatStrict(quantile);
        if (q === undefined) this.#fail(`invalid quantile="${quantile}" in ${what}`);
        if (this.#openMetrics && !(q >= 0 && q <= 1)) {
          this.#fail(`invalid quantile="${quantile}" in ${what}: not between 0 and 1`);
        }
        return [builder.seriesKey(labels, "quantile"), NaN];
      }
      case "histogram":
        return [builder.seriesKey(labels, "le"), NaN];
      case "summary":
        return [builder.seriesKey(labels, "quantile"), NaN];
      default:
        return [builder.seriesKey(labels), NaN];
    }
  }

  /**
   * The index of the `}` that closes the label set starting at `start`, skipping quoted
   * values and their escapes; -1 if the line ends first (the full parse then says why).
   */
  #labelsEnd(start: number): number {
    const text = this.#text;
    let quoted = false;
    for (let i = start; i < this.#end; i++) {
      const c = text.charCodeAt(i);
      if (quoted) {
        if (c === BACKSLASH) i++;
        else if (c === QUOTE) quoted = false;
      } else if (c === QUOTE) {
        quoted = true;
      } else if (c === CLOSE_BRACE) {
        return i;
      }
    }
    return -1;
  }

  /**
   * The rest of an OpenMetrics sample line after its value: an optional timestamp and an
   * optional exemplar (` # {labels} value [timestamp]`), both ignored once checked.
   */
  #skipExemplar(name: string): boolean {
    if (!this.#openMetrics || this.#text.charCodeAt(this.#pos) !== HASH) return false;
    this.#pos++;
    if (!this.#skipBlanks() || this.#text.charCodeAt(this.#pos) !== OPEN_BRACE) {
      this.#fail(`expected an exemplar "# {labels} value" after the value of metric "${name}"`);
    }
    if (!this.#exemplarAllowed) {
      this.#fail(
        `an exemplar on sample "${name}": only counters' _total and histograms' buckets have them`,
      );
    }
    this.#pos++;
    const labels: string[] = [];
    this.#parseLabels(labels);
    // The specification's limit: 128 UTF-8 characters of label names and values together.
    let chars = 0;
    for (const text of labels) chars += [...text].length;
    if (chars > 128) {
      this.#fail(
        `the exemplar of sample "${name}" has ${chars} characters of labels, more than 128`,
      );
    }
    this.#skipBlanks();
    const value = this.#readToken();
    if (parseFloatStrict(value) === undefined) {
      this.#fail(`invalid exemplar value ${quote(value)} for metric "${name}"`);
    }
    if (this.#skipBlanks() && this.#pos < this.#end) {
      const timestamp = this.#readToken();
      if (parseFloatStrict(timestamp) === undefined || !Number.isFinite(Number(timestamp))) {
        this.#fail(`invalid exemplar timestamp ${quote(timestamp)} for metric "${name}"`);
      }
      this.#skipBlanks();
      if (this.#pos < this.#end) {
        this.#fail(`unexpected ${this.#found()} after the exemplar of metric "${name}"`);
      }
    }
    return true;
  }

  #draftOf(declaration: Declaration): FamilyDraft {
    declaration.draft ??= this.#builder.family(
      declaration.storageName,
      declaration.type,
      declaration.help,
    );
    return declaration.draft;
  }

  /** Removes label `name` from `labels` and returns its value; it must be there. */
  #takeLabel(labels: string[], name: string, what: string): string {
    let at = -1;
    for (let i = 0; i < labels.length; i += 2) {
      if (labels[i] !== name) continue;
      if (at !== -1) this.#fail(`label "${name}" is given twice`);
      at = i;
    }
    if (at === -1) this.#fail(`${what} has a sample without the "${name}" label`);
    const value = labels[at + 1];
    labels.splice(at, 2);
    return value;
  }

  #parseLabels(labels: string[]): void {
    const text = this.#text;
    for (;;) {
      this.#skipBlanks();
      if (this.#pos >= this.#end) this.#fail('unterminated label set: no closing "}"');
      let c = text.charCodeAt(this.#pos);
      if (c === CLOSE_BRACE) {
        this.#pos++;
        return;
      }
      const start = this.#pos;
      if (!isLabelNameStart(c)) this.#fail(`expected a label name, found ${this.#found()}`);
      this.#pos++;
      while (this.#pos < this.#end && isLabelNamePart(text.charCodeAt(this.#pos))) this.#pos++;
      const name = text.slice(start, this.#pos);
      this.#skipBlanks();
      if (text.charCodeAt(this.#pos) !== EQUALS || this.#pos >= this.#end) {
        this.#fail(`expected "=" after label name "${name}", found ${this.#found()}`);
      }
      this.#pos++;
      this.#skipBlanks();
      if (text.charCodeAt(this.#pos) !== QUOTE || this.#pos >= this.#end) {
        this.#fail(`expected a quoted value for label "${name}", found ${this.#found()}`);
      }
      this.#pos++;
      labels.push(name, this.#readLabelValue(name));
      this.#skipBlanks();
      c = text.charCodeAt(this.#pos);
      if (c === COMMA && this.#pos < this.#end) {
        this.#pos++;
      } else if (c !== CLOSE_BRACE || this.#pos >= this.#end) {
        this.#fail(`expected "," or "}" after label "${name}", found ${this.#found()}`);
      }
    }
  }

  /** Reads a label value after its opening quote, through its closing quote. */
  #readLabelValue(name: string): string {
    const text = this.#text;
    const start = this.#pos;
    // The common case, no escapes: scan to the closing quote. (An indexOf for the backslash
    // would search the rest of the body whenever the value has none.)
    for (let i = start; i < this.#end; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        this.#pos = i + 1;
        return text.slice(start, i);
      }
      if (c === BACKSLASH) break;
    }
    let value = "";
    let from = start;
    for (let i = start; i < this.#end; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        this.#pos = i + 1;
        return value + text.slice(from, i);
      }
      if (c !== BACKSLASH) continue;
      value += text.slice(from, i);
      const escaped = text.charCodeAt(i + 1);
      if (escaped === BACKSLASH) value += "\\";
      else if (escaped === QUOTE) value += '"';
      else if (escaped === 110) value += "\n"; // n
      else {
        this.#fail(
          `invalid escape "\\${text.slice(i + 1, i + 2)}" in the value of label "${name}"`,
        );
      }
      i++;
      from = i + 1;
    }
    return this.#fail(`unterminated value of label "${name}"`);
  }

  /** Reads HELP text to the end of the line; only `\\` and `\n` are escapes. */
  #readHelp(): string {
    const text = this.#text;
    const start = this.#pos;
    const end = this.#end;
    let help = "";
    let from = start;
    for (let i = start; i < end; i++) {
      if (text.charCodeAt(i) !== BACKSLASH) continue;
      help += text.slice(from, i);
      const escaped = text.charCodeAt(i + 1);
      if (escaped === BACKSLASH) help += "\\";
      else if (escaped === 110) help += "\n";
      else if (escaped === QUOTE && this.#openMetrics) help += '"';
      else this.#fail(`invalid escape "\\${text.slice(i + 1, i + 2)}" in HELP text`);
      i++;
      from = i + 1;
    }
    this.#pos = end;
    return help + text.slice(from, end);
  }

  #readValue(name: string): number {
    const token = this.#readToken();
    if (token === "") this.#fail(`missing value for metric "${name}"`);
    const value = parseFloatStrict(token);
    if (value === undefined) this.#fail(`invalid value ${quote(token)} for metric "${name}"`);
    return value;
  }

  /**
   * Timestamps are checked for syntax; a push's are then ignored, as an aggregate has no single
   * time, and a snapshot's are its series' touch times. In 0.0.4 they are integer
   * milliseconds, in OpenMetrics float seconds. Returns milliseconds.
   */
  #readTimestamp(name: string): number | undefined {
    if (this.#skipExemplar(name)) return undefined;
    const token = this.#readToken();
    const invalid = () => this.#fail(`invalid timestamp ${quote(token)} for metric "${name}"`);
    if (this.#openMetrics) {
      if (parseFloatStrict(token) === undefined) invalid();
    } else if (!isInt64(token)) {
      // Integer milliseconds, read as Go's ParseInt reads them: `+5` is one, 2^63 is not.
      invalid();
    }
    this.#skipBlanks();
    if (!this.#skipExemplar(name) && this.#pos < this.#end) {
      this.#fail(`unexpected ${this.#found()} after the timestamp of metric "${name}"`);
    }
    return this.#openMetrics ? Number(token) * 1000 : Number(token);
  }

  #readMetricName(expected: string): string {
    const text = this.#text;
    const start = this.#pos;
    if (start >= this.#end || !isMetricNameStart(text.charCodeAt(start))) {
      this.#fail(`expected ${expected}, found ${this.#found()}`);
    }
    let i = start + 1;
    while (i < this.#end && isMetricNamePart(text.charCodeAt(i))) i++;
    this.#pos = i;
    return text.slice(start, i);
  }

  /** Reads up to the next blank or the end of the line. */
  #readToken(): string {
    const text = this.#text;
    const start = this.#pos;
    let i = start;
    for (; i < this.#end; i++) {
      const c = text.charCodeAt(i);
      if (c === SPACE || c === TAB) break;
    }
    this.#pos = i;
    return text.slice(start, i);
  }

  /** Reads a run of letters (a HELP/TYPE keyword or a type name). */
  #readWord(): string {
    const text = this.#text;
    const start = this.#pos;
    let i = start;
    while (i < this.#end && isLabelNamePart(text.charCodeAt(i))) i++;
    this.#pos = i;
    return text.slice(start, i);
  }

  /** Skips spaces and tabs; returns whether any were skipped or the line ended. */
  #skipBlanks(): boolean {
    const start = this.#pos;
    const text = this.#text;
    while (this.#pos < this.#end) {
      const c = text.charCodeAt(this.#pos);
      if (c !== SPACE && c !== TAB) break;
      this.#pos++;
    }
    return this.#pos > start || this.#pos >= this.#end;
  }

  /** The text at the current position, quoted for a message. */
  #found(): string {
    if (this.#pos >= this.#end) return "the end of the line";
    const c = this.#text.charCodeAt(this.#pos);
    if (c === LF || c === CR) return "the end of the line";
    return JSON.stringify(this.#text.slice(this.#pos, Math.min(this.#pos + 16, this.#end)));
  }

  #fail(message: string): never {
    throw new ParseError(message, this.#line);
  }
}

/**
 * A token quoted for a message, cut short after 64 chars: a value of 100,000 digits is named,
 * not echoed.
 */
function quote(token: string): string {
  return JSON.stringify(token.length > 64 ? token.slice(0, 64) + "…" : token);
}
