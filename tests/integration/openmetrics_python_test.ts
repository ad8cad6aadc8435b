// The gateway's OpenMetrics parser against a real one: Python's
// prometheus_client.openmetrics.parser (Debian's python3-prometheus-client). For each corner of
// the format (`# EOF`, the `_total` suffix, `# UNIT`, exemplars, `_created`, counts, metadata), the
// gateway's verdict is asserted exactly, and must be Python's, unless the row names an entry of
// testdata/openmetrics_differences.json, which docs/input.md mirrors: then they must differ.

import assert from "node:assert/strict";
import { parseOpenMetrics } from "../../lib/ingest/parse_text.ts";

/** Debian's python3, which has python3-prometheus-client (a pyenv python on PATH may not). */
const PYTHON = "/usr/bin/python3";

/** Parses each body with Python's parser; its verdicts, "accepted" or the error. */
async function pythonVerdicts(bodies: string[]): Promise<string[]> {
  const script = `
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
verdicts = []
for body in json.load(sys.stdin):
    try:
        list(text_string_to_metric_families(body))
        verdicts.append("accepted")
    except Exception as error:
        verdicts.append(f"{type(error).__name__}: {error}")
print(json.dumps(verdicts))
`;
  const child = new Deno.Command(PYTHON, {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(bodies)));
  await writer.close();
  const output = await child.output();
  const decoder = new TextDecoder();
  assert.equal(output.code, 0, decoder.decode(output.stderr));
  return JSON.parse(decoder.decode(output.stdout));
}

export const OPENMETRICS_DIFFERENCES_FILE = new URL(
  "testdata/openmetrics_differences.json",
  import.meta.url,
);

// [corner, body, the gateway's verdict ("accepted" or the exact message), difference from Python]
const CORNERS: [string, string, string, string?][] = [
  [
    "a complete body",
    "# TYPE a counter\n# HELP a Help.\na_total 1\na_created 5\n# EOF\n",
    "accepted",
  ],
  ["# EOF missing", "# TYPE a counter\na_total 1\n", "accepted", "eof-optional"],
  ["# EOF not last", "a 1\n# EOF\na 2\n", 'line 3: text after "# EOF" (line 2)'],
  ["an empty line after # EOF", "a 1\n# EOF\n\n", 'line 3: text after "# EOF" (line 2)'],
  [
    "# EOF with text after it",
    "a 1\n# EOF x\n",
    "line 2: a comment that is not a whole HELP, TYPE, UNIT or EOF line",
  ],
  [
    "an empty line",
    "a 1\n\nb 1\n# EOF\n",
    "line 2: an empty line, which OpenMetrics does not allow",
  ],
  [
    "an ordinary comment",
    "# hello there\na 1\n# EOF\n",
    "line 1: a comment that is not a whole HELP, TYPE, UNIT or EOF line",
  ],
  [
    "a HELP without text",
    "# HELP a\na 1\n# EOF\n",
    'line 1: HELP line for metric "a" ends at its name',
  ],
  ["a HELP with empty text", "# HELP a \na 1\n# EOF\n", "accepted"],
  [
    "a counter sample without _total",
    "# TYPE c counter\nc 1\n# EOF\n",
    'line 2: sample "c" of metric "c" needs the _total suffix',
  ],
  [
    "a counter named with _total",
    "# TYPE c_total counter\nc_total 1\n# EOF\n",
    'line 2: sample "c_total" of metric "c_total" needs the _total suffix',
  ],
  ["a gauge sample with _total", "# TYPE g_total gauge\ng_total 1\n# EOF\n", "accepted"],
  ["an unknown family with _total", "x_total 1\n# EOF\n", "accepted"],
  [
    "a counter's _created",
    "# TYPE c counter\nc_total 1\nc_created 1700000000.5\n# EOF\n",
    "accepted",
  ],
  ["a gauge's _created is its own family", "# TYPE g gauge\ng 1\ng_created 5\n# EOF\n", "accepted"],
  [
    "a histogram's _created",
    '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\nh_created 5\n# EOF\n',
    "accepted",
  ],
  [
    "a summary's _created",
    "# TYPE s summary\ns_sum 1\ns_count 1\ns_created 5\n# EOF\n",
    "accepted",
  ],
  [
    "a _created twice",
    "# TYPE c counter\nc_total 1\nc_created 5\nc_created 5\n# EOF\n",
    "line 4: series c_created appears twice in the push",
    "same-series-twice",
  ],
  [
    "a UNIT matching the name",
    "# TYPE t_seconds gauge\n# UNIT t_seconds seconds\nt_seconds 1\n# EOF\n",
    "accepted",
  ],
  [
    "a UNIT not matching the name",
    "# TYPE t_seconds gauge\n# UNIT t_seconds milliseconds\nt_seconds 1\n# EOF\n",
    'line 2: metric "t_seconds" does not end with its unit "_milliseconds"',
  ],
  [
    "a UNIT that is the whole name",
    "# TYPE seconds gauge\n# UNIT seconds seconds\nseconds 1\n# EOF\n",
    'line 2: metric "seconds" does not end with its unit "_seconds"',
  ],
  ["an empty UNIT", "# TYPE t gauge\n# UNIT t \nt 1\n# EOF\n", "accepted"],
  [
    "a second UNIT",
    "# UNIT t_s s\n# UNIT t_s s\nt_s 1\n# EOF\n",
    'line 2: second UNIT line for metric "t_s"',
  ],
  [
    "a UNIT on an info",
    "# TYPE b_s info\n# UNIT b_s s\nb_s_info 1\n# EOF\n",
    'line 2: info metric "b_s" has a unit, which OpenMetrics does not allow',
  ],
  [
    "a UNIT after the samples",
    "t_s 1\n# UNIT t_s s\n# EOF\n",
    'line 2: UNIT line for metric "t_s" comes after its samples',
  ],
  [
    "an exemplar on a counter",
    '# TYPE c counter\nc_total 1 # {trace_id="a"} 1 1700000000.5\n# EOF\n',
    "accepted",
  ],
  [
    "an exemplar on a bucket",
    '# TYPE h histogram\nh_bucket{le="1"} 1 # {trace_id="a"} 0.5\nh_bucket{le="+Inf"} 1\nh_sum 0.5\nh_count 1\n# EOF\n',
    "accepted",
  ],
  [
    "an exemplar on a gauge",
    '# TYPE g gauge\ng 1 # {trace_id="a"} 1\n# EOF\n',
    "line 2: an exemplar on sample \"g\": only counters' _total and histograms' buckets have them",
  ],
  [
    "an exemplar on a histogram's _count",
    '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 0.5\nh_count 1 # {trace_id="a"} 1\n# EOF\n',
    "line 4: an exemplar on sample \"h_count\": only counters' _total and histograms' buckets have them",
  ],
  [
    "an exemplar with labels of 129 characters",
    `# TYPE c counter\nc_total 1 # {t="${"x".repeat(128)}"} 1\n# EOF\n`,
    'line 2: the exemplar of sample "c_total" has 129 characters of labels, more than 128',
  ],
  [
    "an exemplar with labels of 128 characters",
    `# TYPE c counter\nc_total 1 # {t="${"x".repeat(127)}"} 1\n# EOF\n`,
    "accepted",
  ],
  [
    "an exemplar with a bad timestamp",
    '# TYPE c counter\nc_total 1 # {t="1"} 1 later\n# EOF\n',
    'line 2: invalid exemplar timestamp "later" for metric "c_total"',
  ],
  [
    "an exemplar with text after its timestamp",
    '# TYPE c counter\nc_total 1 # {t="1"} 1 5 6\n# EOF\n',
    'line 2: unexpected "6" after the exemplar of metric "c_total"',
  ],
  [
    "an exemplar without a value",
    '# TYPE c counter\nc_total 1 # {t="1"}\n# EOF\n',
    'line 2: invalid exemplar value "" for metric "c_total"',
  ],
  ["a float timestamp", "a 1 1700000000.5\n# EOF\n", "accepted"],
  ["a bad timestamp", "a 1 1.5.5\n# EOF\n", 'line 1: invalid timestamp "1.5.5" for metric "a"'],
  [
    "a negative counter",
    "# TYPE c counter\nc_total -1\n# EOF\n",
    "line 2: counter c_total has negative value -1",
  ],
  [
    "a NaN counter",
    "# TYPE c counter\nc_total NaN\n# EOF\n",
    "line 2: counter c_total has value NaN",
  ],
  [
    "a fractional bucket count",
    '# TYPE h histogram\nh_bucket{le="+Inf"} 1.5\nh_sum 1\nh_count 1.5\n# EOF\n',
    'line 2: sample "h_bucket" has value 1.5, not a whole number',
  ],
  [
    "a fractional _count",
    "# TYPE s summary\ns_sum 1\ns_count 1.5\n# EOF\n",
    'line 3: sample "s_count" has value 1.5, not a whole number',
  ],
  [
    "a negative _sum",
    "# TYPE s summary\ns_sum -1\ns_count 1\n# EOF\n",
    'line 2: sample "s_sum" has value -1, which a count or sum cannot have',
  ],
  [
    "le written Inf",
    '# TYPE h histogram\nh_bucket{le="Inf"} 1\nh_sum 1\nh_count 1\n# EOF\n',
    'line 2: invalid le="Inf" in histogram "h": OpenMetrics writes it "+Inf"',
  ],
  [
    "a quantile above 1",
    '# TYPE s summary\ns{quantile="1.5"} 1\ns_sum 1\ns_count 1\n# EOF\n',
    'line 2: invalid quantile="1.5" in summary "s": not between 0 and 1',
  ],
  [
    "a negative quantile value",
    '# TYPE s summary\ns{quantile="0.5"} -1\ns_sum 1\ns_count 1\n# EOF\n',
    'line 2: sample "s" has value -1, which a quantile cannot have',
  ],
  [
    "an info of value 2",
    "# TYPE b info\nb_info 2\n# EOF\n",
    'line 2: sample "b_info" has value 2: an info is 1',
  ],
  [
    "a state of value 2",
    '# TYPE f stateset\nf{f="a"} 2\n# EOF\n',
    'line 2: sample "f" has value 2: a state is 0 or 1',
  ],
  [
    "an untyped TYPE",
    "# TYPE a untyped\na 1\n# EOF\n",
    'line 1: metric type "untyped" for metric "a": unknown',
  ],
  [
    "a gauge histogram",
    "# TYPE g gaugehistogram\n# EOF\n",
    'line 1: metric type "gaugehistogram" for metric "g": gauge histograms are not supported',
    "gauge-histogram",
  ],
  [
    "a family's lines apart",
    'a{x="1"} 1\nb 1\na{x="2"} 1\n# EOF\n',
    'line 3: sample "a" comes after the lines of another metric, away from its own',
  ],
  [
    "a family's lines apart by metadata",
    'a{x="1"} 1\n# TYPE b gauge\na{x="2"} 1\n# EOF\n',
    'line 3: sample "a" comes after the lines of another metric, away from its own',
  ],
  [
    "a HELP after the samples",
    "a 1\n# HELP a late\n# EOF\n",
    'line 2: HELP line for metric "a" comes after its samples',
  ],
  [
    "a second HELP",
    "# HELP a x\n# HELP a y\na 1\n# EOF\n",
    'line 2: second HELP line for metric "a"',
  ],
  [
    "a second TYPE",
    "# TYPE a gauge\n# TYPE a gauge\na 1\n# EOF\n",
    'line 2: second TYPE line for metric "a"',
  ],
  [
    "a histogram without _sum and _count",
    '# TYPE h histogram\nh_bucket{le="+Inf"} 1\n# EOF\n',
    "histogram h has no _count",
    "histogram-without-sum-and-count",
  ],
  [
    "buckets out of order",
    '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n# EOF\n',
    "accepted",
    "bucket-order",
  ],
  [
    "a timestamp on some samples of a series only",
    '# TYPE h histogram\nh_bucket{le="+Inf"} 1 5\nh_sum 1\nh_count 1 5\n# EOF\n',
    "accepted",
    "timestamps-ignored",
  ],
  ["an escaped quote in HELP", '# HELP a x\\"y\na 1\n# EOF\n', "accepted"],
];

Deno.test("parseOpenMetrics() refuses what Python's OpenMetrics parser refuses, but where listed", async () => {
  const differences: { id: string }[] = JSON.parse(
    Deno.readTextFileSync(OPENMETRICS_DIFFERENCES_FILE),
  );
  const ids = new Set(differences.map((entry) => entry.id));
  const python = await pythonVerdicts(CORNERS.map(([, body]) => body));
  const failures: string[] = [];
  const used = new Set<string>();
  for (const [i, [corner, body, expected, difference]] of CORNERS.entries()) {
    let ours = "accepted";
    try {
      parseOpenMetrics(body);
    } catch (error) {
      ours = (error as Error).message;
    }
    const agree = (ours === "accepted") === (python[i] === "accepted");
    if (ours !== expected) failures.push(`${corner}: the gateway says ${ours}`);
    if (difference !== undefined) {
      used.add(difference);
      if (!ids.has(difference)) failures.push(`${corner}: no entry "${difference}"`);
      if (agree) failures.push(`${corner}: listed as "${difference}", but Python agrees now`);
    } else if (!agree) {
      failures.push(`${corner}: the gateway says ${ours}, Python says ${python[i]}`);
    }
  }
  assert.deepEqual(failures, []);
  assert.deepEqual([...ids].filter((id) => !used.has(id)), [], "entries no corner shows");
});
