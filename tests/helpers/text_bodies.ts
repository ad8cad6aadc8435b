// Test helper: bodies in the text format 0.0.4 for the differential test, made from a seed:
// the grammar's corners, valid bodies of every metric type, and mutations of valid bodies.

import { random } from "./seeded.ts";

const encoder = new TextEncoder();

/**
 * The corners of the grammar, each a body that a parser could read one way or another: where
 * Prometheus' parser and the gateway could disagree.
 */
export const CORNER_BODIES: readonly (string | Uint8Array)[] = [
  "",
  "\n",
  "x 1\n",
  "x 1",
  "x 1\r\n",
  "\ufeffx 1\n",
  "x 1 \n",
  "x 1\t\n",
  "  x 1\n",
  "x\t1\n",
  "x  1  5\n",
  "x 1 5\n",
  "x 1 +5\n",
  "x 1 -5\n",
  "x 1 1.5\n",
  "x 1 9223372036854775808\n",
  "x 1 5 6\n",
  "x\n",
  "x \n",
  "x{} 1\n",
  "x {} 1\n",
  'x{a="1",} 1\n',
  'x{,a="1"} 1\n',
  'x{ a = "1" } 1\n',
  'x{a="1" b="2"} 1\n',
  'x{a="1",a="2"} 1\n',
  'x{__name__="y"} 1\n',
  'x{__a="1"} 1\n',
  'x{a=""} 1\n',
  'x{a="\\t"} 1\n',
  'x{a="\\"\\\\\\n"} 1\n',
  'x{a="grüße ✓"} 1\n',
  'x{a="1"} 1\nx{a="1"} 2\n',
  'x{a="1",b="2"} 1\nx{b="2",a="1"} 2\n',
  "x 1\nx 2\n",
  "x:y 1\n",
  ":x 1\n",
  "_x 1\n",
  "1x 1\n",
  "x-y 1\n",
  "x 1e309\n",
  "x -1e400\n",
  `x ${"9".repeat(400)}\n`,
  "x 1e-400\n",
  "x -nan\n",
  "x +nan\n",
  "x NaN\n",
  "x nan\n",
  "x Inf\n",
  "x +inf\n",
  "x -Infinity\n",
  "x infi\n",
  "x 0x1p3\n",
  "x 0x10\n",
  "x 1_000\n",
  "x .5\n",
  "x 5.\n",
  "x .\n",
  "x +.5e+1\n",
  "x 1e\n",
  "x 00012\n",
  "# HELP x-y foo\n",
  "# HELP x}y foo\n",
  '# HELP x{a="1"} foo\n',
  "# HELP x\nx 1\n",
  "# HELP x \nx 1\n",
  "# HELP x a\\\\b\\nc\nx 1\n",
  "# HELP x a\\tb\nx 1\n",
  '# HELP x a\\"b\nx 1\n',
  "# HELP x one\n# HELP x two\nx 1\n",
  "# HELP x one\n# HELP x\nx 1\n",
  "# HELP x one\n# HELP x \nx 1\n",
  "# HELP x \n# HELP x one\nx 1\n",
  "# TYPE s summary\n# HELP s_count c\n# HELP s_sum d\ns_sum 1\ns_count 1\n",
  "x 1\n# HELP x late\n",
  "# TYPE x\nx 1\n",
  "# TYPE x \nx 1\n",
  "# TYPE x counter\n# TYPE x counter\nx 1\n",
  "x 1\n# TYPE x counter\n",
  "# TYPE x COUNTER\nx 1\n",
  "# TYPE x gauge_histogram\nx 1\n",
  "# TYPE x gaugehistogram\nx 1\n",
  "# TYPE x info\nx 1\n",
  "# TYPE x counter extra\nx 1\n",
  "# TYPE x counter\nx -1\n",
  "# TYPE x counter\nx NaN\n",
  "# TYPE x counter\nx_total 1\n",
  "#HELP x foo\nx 1\n",
  "# HELPING x\nx 1\n",
  "#\nx 1\n",
  "# EOF\nx 1\n",
  "# just a comment\nx 1\n",
  Uint8Array.from([...encoder.encode("# caf"), 0xe9, ...encoder.encode("\nx 1\n")]),
  Uint8Array.from([...encoder.encode("# HELP x caf"), 0xe9, ...encoder.encode("\nx 1\n")]),
  Uint8Array.from([...encoder.encode('x{a="'), 0xff, ...encoder.encode('"} 1\n')]),
  '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n',
  '# TYPE h histogram\nh_bucket{le="1e6"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
  '# TYPE h histogram\nh_bucket{le="1e-05"} 1\nh_bucket{le="123456789"} 1\nh_bucket{le="1e-7"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
  '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="1.0"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
  '# TYPE h histogram\nh_bucket{le="x"} 1\n',
  '# TYPE h histogram\nh_bucket{le="1e400"} 1\n',
  '# TYPE h histogram\nh_bucket{le="NaN"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
  "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n",
  '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
  '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 1\n',
  '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\n',
  '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n',
  '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
  '# TYPE h histogram\nh_bucket{le="+Inf"} 1.5\nh_sum 1\nh_count 1.5\n',
  "# TYPE h histogram\nh 1\n",
  '# TYPE h histogram\nh_sum{le="1"} 1\n',
  '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\nh_created 5\n',
  '# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 2\ns_count 3\n',
  '# TYPE s summary\ns{quantile="high"} 1\ns_sum 2\ns_count 3\n',
  "# TYPE s summary\ns 1\ns_sum 2\ns_count 3\n",
  "# TYPE s summary\ns_sum 2\ns_count 3\n",
  "# TYPE s summary\ns_sum 2\n",
  '# TYPE s summary\ns{quantile="0.5"} 1\n',
  "# TYPE s summary\ns_sum 2\ns_count 3\n# TYPE s_count gauge\ns_count 1\n",
  "# TYPE s summary\ns_sum 2\ns_count -3\n",
  '# TYPE s summary\ns_count{quantile="0.5"} 1\n',
  "# TYPE c counter\nc 1\nc_created 5\n",
  '# TYPE c counter\nc 1\nc_created{a="1",a="2"} 5\n',
  '# TYPE c counter\nc 1\nc_created{__name__="y"} 5\n',
  "# TYPE c counter\nc 1\nc_created 5\nc_created 5\n",
  "# TYPE g gauge\ng 1\ng_created 5\n",
  "# TYPE h histogram\n# TYPE h_sum gauge\nh_sum 1\n",
];

const NAMES = ["a", "b_c", "x:y", "req_total", "_z", "Up"];
const LABEL_NAMES = ["a", "b", "path", "_x", "code"];
const LABEL_VALUES = ["1", "x y", "/a/b", 'q\\"b', "s\\\\l", "n\\nl", "grüße ✓", "", "}", ",", "="];
const VALUES = [
  "0",
  "1",
  "2.5",
  "-1",
  "1e3",
  "+Inf",
  "-Inf",
  "NaN",
  "-0",
  "1.5e-7",
  "123456789",
  ".5",
  "7E+2",
];
const COUNTS = ["0", "1", "2", "3", "10"];
const BOUNDS = [
  "0.005",
  "0.1",
  "1",
  "2.5",
  "10",
  "1e6",
  "1e-05",
  "123456789",
  "1e-7",
  "1.0",
  "100000",
];
const HELPS = ["Requests.", "with \\\\ and \\n", "", "tab\there", "ünïcode"];
const BLANKS = [" ", " ", " ", "\t", "  "];
/** What a mutation inserts or puts in place of a char. */
const INSERTS = [
  "{",
  "}",
  '"',
  "\\",
  " ",
  "\t",
  "\n",
  "#",
  ",",
  "=",
  "_",
  "e",
  "+",
  "-",
  ".",
  "1",
  "a",
  "é",
  "\r",
  ":",
];

/** `count` generated bodies for `seed`: valid ones, and mutations of valid ones. */
export function generatedBodies(seed: number, count: number): string[] {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const chance = (p: number) => next() < p;
  const blank = () => pick(BLANKS);

  const labelSet = (extra: [string, string][] = []): string => {
    const pairs: [string, string][] = [];
    const n = Math.floor(next() * 3);
    const names = new Set<string>();
    for (let i = 0; i < n; i++) {
      const name = pick(LABEL_NAMES);
      if (names.has(name)) continue;
      names.add(name);
      pairs.push([name, pick(LABEL_VALUES)]);
    }
    const all = [...pairs, ...extra];
    if (all.length === 0) return chance(0.1) ? "{}" : "";
    const inside = all.map(([name, value]) => `${name}="${value}"`).join(",");
    return `{${inside}${chance(0.1) ? "," : ""}}`;
  };
  const sample = (name: string, labels: string, value: string): string => {
    const timestamp = chance(0.03) ? `${blank()}${pick(["1700000000000", "+5", "-5"])}` : "";
    return `${name}${labels}${blank()}${value}${timestamp}\n`;
  };

  const family = (name: string): string => {
    const type = pick(["counter", "gauge", "untyped", "histogram", "summary", "none"]);
    let text = chance(0.5) ? `# HELP ${name} ${pick(HELPS)}\n` : "";
    if (type !== "none") text += `# TYPE ${name} ${type}\n`;
    const series = 1 + Math.floor(next() * 3);
    const seen = new Set<string>();
    for (let s = 0; s < series; s++) {
      const labels = labelSet();
      if (seen.has(labels)) continue;
      seen.add(labels);
      if (type === "histogram") {
        const bounds = [
          ...new Set(Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(BOUNDS))),
        ]
          .filter((b, i, all) => all.findIndex((o) => Number(o) === Number(b)) === i)
          .sort((x, y) => Number(x) - Number(y));
        let count = 0;
        const inner = labels === "" || labels === "{}"
          ? ""
          : labels.slice(1, -1).replace(/,$/, "") + ",";
        for (const bound of bounds) {
          count += Number(pick(COUNTS));
          text += sample(`${name}_bucket`, `{${inner}le="${bound}"}`, String(count));
        }
        text += sample(`${name}_bucket`, `{${inner}le="+Inf"}`, String(count));
        text += sample(`${name}_sum`, labels, pick(VALUES.filter((v) => v !== "NaN")));
        text += sample(`${name}_count`, labels, String(count));
      } else if (type === "summary") {
        const inner = labels === "" || labels === "{}"
          ? ""
          : labels.slice(1, -1).replace(/,$/, "") + ",";
        if (chance(0.7)) text += sample(name, `{${inner}quantile="0.5"}`, pick(VALUES));
        if (chance(0.5)) text += sample(name, `{${inner}quantile="0.99"}`, pick(VALUES));
        text += sample(`${name}_sum`, labels, pick(VALUES));
        text += sample(`${name}_count`, labels, pick(COUNTS));
      } else {
        const value = type === "counter" ? pick(COUNTS) : pick(VALUES);
        text += sample(name, labels, value);
      }
    }
    if (chance(0.1)) text = `# a comment\n${text}`;
    return text;
  };

  const validBody = (): string => {
    const names = [
      ...new Set(Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(NAMES))),
    ];
    return names.map(family).join("");
  };

  const mutate = (body: string): string => {
    const mutations = 1 + Math.floor(next() * 2);
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(next() * (body.length + 1));
      const lines = body.split("\n");
      const line = Math.floor(next() * Math.max(1, lines.length - 1));
      switch (pick(["delete", "insert", "replace", "dupLine", "dropLine", "swapLines", "value"])) {
        case "delete":
          body = body.slice(0, at) + body.slice(at + 1);
          break;
        case "insert":
          body = body.slice(0, at) + pick(INSERTS) + body.slice(at);
          break;
        case "replace":
          body = body.slice(0, at) + pick(INSERTS) + body.slice(at + 1);
          break;
        case "dupLine":
          lines.splice(line, 0, lines[line]);
          body = lines.join("\n");
          break;
        case "dropLine":
          lines.splice(line, 1);
          body = lines.join("\n");
          break;
        case "swapLines": {
          const other = Math.floor(next() * Math.max(1, lines.length - 1));
          [lines[line], lines[other]] = [lines[other], lines[line]];
          body = lines.join("\n");
          break;
        }
        default: {
          // A value token put in place of the last token of a sample line.
          const text = lines[line];
          if (text === undefined || text.startsWith("#")) break;
          const cut = Math.max(text.lastIndexOf(" "), text.lastIndexOf("\t"));
          if (cut === -1) break;
          lines[line] = text.slice(0, cut + 1) +
            pick([
              "1e309",
              "-nan",
              "+Inf",
              "0x1p3",
              "1_0",
              "NaN",
              "1.5",
              "-3",
              "+7",
              "",
              "1e-400",
              "Infinity",
            ]);
          body = lines.join("\n");
        }
      }
    }
    return body;
  };

  const bodies: string[] = [];
  for (let i = 0; i < count; i++) {
    const body = validBody();
    bodies.push(chance(0.45) ? body : mutate(body));
  }
  return bodies;
}
