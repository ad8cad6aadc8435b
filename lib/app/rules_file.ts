// The rules file (`--rulesFile`): YAML read with the `yaml` package into checked rules, every
// error with the line it is on (`FILE:LINE: reason`), and the warnings of `check-rules`.

import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type Scalar } from "yaml";
import { GAUGE_BEHAVIORS, type GaugeBehavior } from "../core/merge.ts";
import { isLabelName } from "../core/model.ts";
import {
  anchoredPattern,
  DEFAULT_STALE_AFTER,
  MAX_STALE_AFTER,
  parseRuleDuration,
  type RuleSpec,
  type RulesSpec,
} from "../core/rules.ts";

/** The largest rules file read, in bytes. */
export const MAX_RULES_FILE_BYTES = 1024 * 1024;
/** The most rules a file may hold. */
export const MAX_RULES = 1000;

/** A rules file that cannot be used; the message is `FILE:LINE: reason` (or `FILE: reason`). */
export class RulesFileError extends Error {
  constructor(file: string, line: number, reason: string) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
    this.name = "RulesFileError";
  }
}

/** A checked rules file, and what `check-rules` warns about (`FILE:LINE: warning: …`). */
export interface RulesFile {
  spec: RulesSpec;
  warnings: string[];
}

const TOP_KEYS = ["rules", "default"];
const RULE_KEYS = ["match", "action", "input", "sources", "gauge", "staleAfter"];

/** Reads and checks the rules file at `path`. Throws {@linkcode RulesFileError}. */
export async function readRulesFile(path: string): Promise<RulesFile> {
  let bytes: Uint8Array;
  try {
    using file = await Deno.open(path, { read: true });
    const info = await file.stat();
    if (!info.isFile) throw new RulesFileError(path, 0, "not a regular file");
    if (info.size > MAX_RULES_FILE_BYTES) throw tooLarge(path);
    // Read one byte past the limit: a file that grew since the stat is still refused.
    const buffer = new Uint8Array(MAX_RULES_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = await file.read(buffer.subarray(length));
      if (n === null) break;
      length += n;
      if (length > MAX_RULES_FILE_BYTES) throw tooLarge(path);
    }
    bytes = buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof RulesFileError) throw error;
    throw new RulesFileError(path, 0, `cannot read it: ${(error as Error).message}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new RulesFileError(path, 0, "it is not valid UTF-8");
  }
  return parseRulesText(text, path);
}

function tooLarge(path: string): RulesFileError {
  return new RulesFileError(path, 0, `larger than the limit of ${MAX_RULES_FILE_BYTES} bytes`);
}

/** Checks the text of a rules file named `file` (for messages). Throws {@linkcode RulesFileError}. */
export function parseRulesText(text: string, file: string): RulesFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (node: Node | null | undefined) =>
    node?.range ? lines.linePos(node.range[0]).line : 0;
  const fail = (node: Node | null | undefined, reason: string): never => {
    throw new RulesFileError(file, lineOf(node), reason);
  };
  const problem = doc.errors[0];
  if (problem !== undefined) {
    const line = lines.linePos(problem.pos[0]).line;
    throw new RulesFileError(file, line, `not valid YAML: ${problem.message.split("\n")[0]}`);
  }
  const top = doc.contents;
  if (!isMap(top)) fail(top, "the file must be a mapping with the keys rules and default");
  const topMap = top as Extract<typeof top, { items: unknown }> & { items: PairNode[] };
  let reject = false;
  let ruleSeq: Node | undefined;
  for (const pair of topMap.items) {
    const key = keyOf(pair, fail);
    if (!TOP_KEYS.includes(key)) {
      fail(pair.key, `unknown key "${key}" (the file has rules and default)`);
    }
    if (key === "default") {
      const value = stringOf(pair.value, "default", fail);
      if (value !== "accept" && value !== "reject") {
        fail(pair.value, `default must be accept or reject, not "${value}"`);
      }
      reject = value === "reject";
    } else {
      ruleSeq = pair.value as Node;
    }
  }
  const rules: RuleSpec[] = [];
  if (ruleSeq !== undefined && !(isScalar(ruleSeq) && ruleSeq.value === null)) {
    if (!isSeq(ruleSeq)) fail(ruleSeq, "rules must be a list of rules");
    const items = (ruleSeq as unknown as { items: Node[] }).items;
    if (items.length > MAX_RULES) {
      fail(items[MAX_RULES], `more than ${MAX_RULES} rules`);
    }
    for (const item of items) rules.push(ruleOf(item, fail, lineOf));
  }
  const spec: RulesSpec = { rules, default: reject ? "reject" : "accept" };
  return { spec, warnings: shadowWarnings(spec, file) };
}

interface PairNode {
  key: Node | null;
  value: Node | null;
}

type Fail = (node: Node | null | undefined, reason: string) => never;

function keyOf(pair: PairNode, fail: Fail): string {
  const key = pair.key;
  if (!isScalar(key) || typeof key.value !== "string") return fail(key, "keys must be names");
  return key.value;
}

function stringOf(node: Node | null, what: string, fail: Fail): string {
  if (isScalar(node) && typeof (node as Scalar).value === "string") {
    return (node as Scalar<string>).value;
  }
  if (isScalar(node) && (node as Scalar).value !== null) {
    return fail(node, `${what} must be a string: quote it, as "${String((node as Scalar).value)}"`);
  }
  return fail(node, `${what} must be a string`);
}

function ruleOf(item: Node, fail: Fail, lineOf: (node: Node) => number): RuleSpec {
  if (!isMap(item)) return fail(item, "a rule must be a mapping of match, action, input, …");
  const rule: RuleSpec = {
    line: lineOf(item),
    labels: [],
    action: "keep",
    input: "delta",
    sources: [],
    staleAfter: DEFAULT_STALE_AFTER,
  };
  const labels: [string, string][] = [];
  const given = new Map<string, Node>();
  for (const pair of (item as unknown as { items: PairNode[] }).items) {
    const key = keyOf(pair, fail);
    if (!RULE_KEYS.includes(key)) {
      fail(pair.key, `unknown key "${key}" in a rule (a rule has ${RULE_KEYS.join(", ")})`);
    }
    const value = pair.value;
    given.set(key, value ?? pair.key!);
    switch (key) {
      case "match": {
        if (isScalar(value) && value.value === null) break; // `match:` alone matches all
        if (!isMap(value)) fail(value, "match must be a mapping of metric and label names");
        for (const entry of (value as unknown as { items: PairNode[] }).items) {
          const name = keyOf(entry, fail);
          if (name === "metric") {
            const pattern = stringOf(entry.value, "metric", fail);
            try {
              anchoredPattern(pattern);
            } catch (error) {
              fail(
                entry.value,
                `metric "${pattern}" is not a valid regular expression: ${
                  (error as Error).message
                }`,
              );
            }
            rule.metric = pattern;
          } else {
            if (!isLabelName(name) || name.startsWith("__")) {
              fail(entry.key, `"${name}" is not a label name`);
            }
            labels.push([name, stringOf(entry.value, `label "${name}"`, fail)]);
          }
        }
        break;
      }
      case "action": {
        const action = stringOf(value, "action", fail);
        if (action !== "keep" && action !== "drop") {
          fail(value, `action must be keep or drop, not "${action}"`);
        }
        rule.action = action as "keep" | "drop";
        break;
      }
      case "input": {
        const input = stringOf(value, "input", fail);
        if (input !== "delta" && input !== "cumulative") {
          fail(value, `input must be delta or cumulative, not "${input}"`);
        }
        rule.input = input as "delta" | "cumulative";
        break;
      }
      case "sources": {
        if (!isSeq(value)) {
          fail(value, "sources must be a list of label names, as [instance]");
        }
        const names: string[] = [];
        for (const node of (value as unknown as { items: Node[] }).items) {
          const name = stringOf(node, "a source label", fail);
          if (!isLabelName(name) || name.startsWith("__")) {
            fail(node, `"${name}" is not a label name`);
          }
          if (names.includes(name)) fail(node, `source label "${name}" is given twice`);
          names.push(name);
        }
        if (names.length === 0) fail(value, "sources must name at least one label");
        rule.sources = names.sort();
        break;
      }
      case "gauge": {
        const gauge = stringOf(value, "gauge", fail);
        if (!(GAUGE_BEHAVIORS as readonly string[]).includes(gauge)) {
          fail(value, `gauge must be one of ${GAUGE_BEHAVIORS.join(", ")}, not "${gauge}"`);
        }
        rule.gauge = gauge as GaugeBehavior;
        break;
      }
      case "staleAfter": {
        const text = stringOf(value, "staleAfter", fail);
        const ms = parseRuleDuration(text);
        if (ms === undefined) {
          fail(value, `staleAfter "${text}" is not a duration such as 90s, 15m or 1h30m`);
        }
        if (ms! < 1000) fail(value, `staleAfter "${text}" is shorter than 1s`);
        if (ms! > MAX_STALE_AFTER) fail(value, `staleAfter "${text}" is longer than 365d`);
        rule.staleAfter = ms!;
        break;
      }
    }
  }
  rule.labels = labels;
  const cumulative = rule.input === "cumulative";
  if (rule.action === "drop") {
    for (const key of ["input", "sources", "gauge", "staleAfter"]) {
      if (given.has(key)) fail(given.get(key), `a rule with action: drop takes no ${key}`);
    }
  } else if (cumulative && rule.sources.length === 0) {
    fail(given.get("input"), "input: cumulative needs sources, the labels that tell senders apart");
  } else if (!cumulative) {
    for (const key of ["sources", "staleAfter"]) {
      if (given.has(key)) fail(given.get(key), `${key} applies only to input: cumulative`);
    }
  }
  if (cumulative) {
    for (const [name] of labels) {
      if (rule.sources.includes(name)) {
        fail(given.get("match"), `label "${name}" is both matched and a source label`);
      }
    }
  }
  return rule;
}

/** `check-rules` warnings: rules that an earlier rule with no `match` leaves nothing to decide. */
function shadowWarnings(spec: RulesSpec, file: string): string[] {
  const warnings: string[] = [];
  const catchAll = spec.rules.find((rule) => rule.metric === undefined && rule.labels.length === 0);
  if (catchAll === undefined) return warnings;
  for (const rule of spec.rules) {
    if (rule.line > catchAll.line) {
      warnings.push(
        `${file}:${rule.line}: warning: this rule never applies: the rule at line ${catchAll.line} has no match and decides every series first`,
      );
    }
  }
  return warnings;
}
