// deno bench for `--rulesFile`: deciding a series' rule among 50, the delta step of cumulative
// input, and a typical push applied with no rules, with 50 rules that leave it as a delta, and
// with 50 rules that make it cumulative input. Run with `deno task bench`; results, not asserts.

import { cumulativeStep, DEFAULT_STALE_AFTER, Rules, type RuleSpec } from "../lib/core/rules.ts";
import { parseText } from "../lib/ingest/parse_text.ts";
import { Store } from "../lib/store/store.ts";
import { typicalPush } from "./bodies.ts";

/** The rules of bench/rules50.yaml, made here: `deno bench` runs without read permission. */
function rules50(): RuleSpec[] {
  const rule = (line: number, spec: Partial<RuleSpec>): RuleSpec => ({
    line,
    labels: [],
    action: "keep",
    input: "delta",
    sources: [],
    staleAfter: DEFAULT_STALE_AFTER,
    ...spec,
  });
  const rules = Array.from({ length: 49 }, (_, i) =>
    i % 3 === 0
      ? rule(i + 1, {
        metric: `app${i}_.*_total`,
        labels: [["job", `svc${i}`]],
        input: "cumulative",
        sources: ["pod"],
      })
      : i % 3 === 1
      ? rule(i + 1, { metric: `debug${i}_.*`, action: "drop" })
      : rule(i + 1, {
        metric: `gauge${i}_(a|b|c)_.*`,
        labels: [["region", `r${i}`]],
        gauge: "max",
      }));
  rules.push(
    rule(50, {
      labels: [["job", "bench"]],
      input: "cumulative",
      sources: ["instance"],
      gauge: "sum",
    }),
  );
  return rules;
}
const cumulativeRules = new Rules({ rules: rules50(), default: "accept" });
// The same 50 rules, the last one leaving job "bench" as deltas.
const deltaRules = new Rules({
  ...cumulativeRules.spec,
  rules: cumulativeRules.spec.rules.map((rule, i) =>
    i === 49 ? { ...rule, input: "delta" as const, sources: [] } : rule
  ),
});

const key = 'code="200",instance="bench-1",job="bench",method="get",shard="0"';
Deno.bench("Rules.decide() among 50 rules, family seen before", { group: "decide" }, () => {
  cumulativeRules.decide("http_requests_total", key);
});

const last = { bounds: [0.1, 1, Infinity], counts: [1, 2, 3], count: 3, sum: 1.5 };
const next = { bounds: [0.1, 1, Infinity], counts: [2, 4, 6], count: 6, sum: 3 };
Deno.bench("cumulativeStep() a counter", { group: "step" }, () => {
  cumulativeStep("counter", 10, 12);
});
Deno.bench("cumulativeStep() a 3-bucket histogram", { group: "step" }, () => {
  cumulativeStep("histogram", last, next);
});

const grouping: [string, string][] = [["instance", "bench-1"], ["job", "bench"]];
// A sender's repeat pushes, as the API reads them by their template: new values, and the
// template's same frozen keys array each time.
const parsed = Array.from({ length: 16 }, (_, round) => parseText(typicalPush(0, round), grouping));
const frozenKeys = parsed[0].map((family) => Object.freeze(family.keys.slice()));
const rounds = parsed.map((push) => push.map((family, j) => ({ ...family, keys: frozenKeys[j] })));
function storeWith(rules: Rules | undefined): Store {
  const store = new Store({ gaugeBehavior: "replace" });
  store.rules = rules;
  return store;
}
const plain = storeWith(undefined);
const delta = storeWith(deltaRules);
const cumulative = storeWith(cumulativeRules);
let round = 0;
Deno.bench("Store.apply() a 110-sample push, no rules", { group: "apply", baseline: true }, () => {
  plain.apply(rounds[round++ % 16]);
});
Deno.bench("Store.apply() a 110-sample push, 50 rules, delta", { group: "apply" }, () => {
  delta.apply(rounds[round++ % 16]);
});
Deno.bench("Store.apply() a 110-sample push, 50 rules, cumulative", { group: "apply" }, () => {
  cumulative.apply(rounds[round++ % 16]);
});
