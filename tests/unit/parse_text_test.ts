import assert from "node:assert/strict";
import { ParseError } from "../../lib/core/errors.ts";
import type { Label } from "../../lib/core/model.ts";
import { parseOpenMetrics, parseText } from "../../lib/ingest/parse_text.ts";
import { SeriesCache } from "../../lib/ingest/series_cache.ts";
// A parsed push is rendered in input order, so that a test states the expected result as text.
import { renderPush as render } from "../../lib/expose/render.ts";

function parse(body: string, grouping: Label[] = []): string {
  return render(parseText(body, grouping));
}

Deno.test("parseText() reads every metric type with HELP and TYPE", () => {
  const body = `# HELP requests_total Requests served.
# TYPE requests_total counter
requests_total{method="post",code="200"} 1027
requests_total{method="post",code="400"} 3
# TYPE temperature gauge
temperature -3.5
# HELP latency_seconds Request latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 2
latency_seconds_bucket{le="1"} 5
latency_seconds_bucket{le="+Inf"} 6
latency_seconds_sum 7.5
latency_seconds_count 6
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.2
rpc_seconds{quantile="0.99"} 0.9
rpc_seconds_sum 17
rpc_seconds_count 30
plain 1
`;
  assert.equal(
    parse(body),
    `# HELP requests_total Requests served.
# TYPE requests_total counter
requests_total{code="200",method="post"} 1027
requests_total{code="400",method="post"} 3
# TYPE temperature gauge
temperature -3.5
# HELP latency_seconds Request latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 2
latency_seconds_bucket{le="1"} 5
latency_seconds_bucket{le="+Inf"} 6
latency_seconds_sum 7.5
latency_seconds_count 6
# TYPE rpc_seconds summary
rpc_seconds_sum 17
rpc_seconds_count 30
# TYPE plain untyped
plain 1
`,
  );
});

Deno.test("parseText() accepts the syntax variations of the format", async (t) => {
  // [name, body, expected rendering]
  const cases: [string, string, string][] = [
    ["CRLF line endings", "# TYPE a counter\r\na 1\r\n", "# TYPE a counter\na 1\n"],
    ["no final newline", "a 1", "# TYPE a untyped\na 1\n"],
    ["blank lines and blank-only lines", "\n  \n\ta 1\n\n", "# TYPE a untyped\na 1\n"],
    ["ordinary comments", "# just a comment\n#HELPING\na 1\n", "# TYPE a untyped\na 1\n"],
    ["a timestamp is ignored", "a 1 1395066363000\n", "# TYPE a untyped\na 1\n"],
    ["a negative timestamp", "a 1 -5\n", "# TYPE a untyped\na 1\n"],
    [
      "tabs and spaces between tokens",
      'a\t{ x = "1" , }\t 2  \n',
      '# TYPE a untyped\na{x="1"} 2\n',
    ],
    ["a trailing comma in labels", 'a{x="1",} 2\n', '# TYPE a untyped\na{x="1"} 2\n'],
    ["empty braces", "a{} 2\n", "# TYPE a untyped\na 2\n"],
    ["a label with an empty value is absent", 'a{x=""} 2\n', "# TYPE a untyped\na 2\n"],
    ["colons in metric names", "a:b:c 1\n", "# TYPE a:b:c untyped\na:b:c 1\n"],
    [
      "special values",
      'a{v="1"} NaN\na{v="2"} +Inf\na{v="3"} -Inf\na{v="4"} inf\n',
      '# TYPE a untyped\na{v="1"} NaN\na{v="2"} +Inf\na{v="3"} -Inf\na{v="4"} +Inf\n',
    ],
    [
      "exponents",
      'a{v="1"} 1e3\na{v="2"} 2.5E-3\na{v="3"} -.5e+1\n',
      '# TYPE a untyped\na{v="1"} 1000\na{v="2"} 0.0025\na{v="3"} -5\n',
    ],
    [
      "escapes in label values",
      'a{x="q\\"b\\\\s\\nl"} 1\n',
      '# TYPE a untyped\na{x="q\\"b\\\\s\\nl"} 1\n',
    ],
    [
      "escapes in HELP",
      "# HELP a one\\\\two\\nthree\na 1\n",
      "# HELP a one\\\\two\\nthree\n# TYPE a untyped\na 1\n",
    ],
    [
      "HELP may follow the samples",
      "a 1\n# HELP a late help\n",
      "# HELP a late help\n# TYPE a untyped\na 1\n",
    ],
    // As expfmt reads it: a HELP line without text sets no HELP, and does not count as one.
    ["a HELP without text", "# HELP a\na 1\n", "# TYPE a untyped\na 1\n"],
    ["a HELP of blanks", "# HELP a \t\na 1\n", "# TYPE a untyped\na 1\n"],
    [
      "a HELP without text before a HELP",
      "# HELP a \n# HELP a text\n# HELP a\na 1\n",
      "# HELP a text\n# TYPE a untyped\na 1\n",
    ],
    ["UTF-8 label values", 'a{x="grüße ✓"} 1\n', '# TYPE a untyped\na{x="grüße ✓"} 1\n'],
    [
      "histogram lines in any order, le compared as numbers",
      '# TYPE h histogram\nh_count 3\nh_bucket{le="+Inf"} 3\nh_sum 1.5\nh_bucket{le="1.0"} 2\nh_bucket{le="0.5e0"} 1\n',
      '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 3\nh_sum 1.5\nh_count 3\n',
    ],
    [
      "histogram series split by labels, le anywhere in the set",
      '# TYPE h histogram\nh_bucket{le="+Inf",a="2"} 1\nh_bucket{a="1",le="+Inf"} 4\nh_sum{a="1"} 1\nh_count{a="1"} 4\nh_sum{a="2"} 2\nh_count{a="2"} 1\n',
      '# TYPE h histogram\nh_bucket{a="1",le="+Inf"} 4\nh_sum{a="1"} 1\nh_count{a="1"} 4\nh_bucket{a="2",le="+Inf"} 1\nh_sum{a="2"} 2\nh_count{a="2"} 1\n',
    ],
    [
      "_created beside a counter is dropped",
      "# TYPE c counter\nc 3\nc_created 1700000000\n",
      "# TYPE c counter\nc 3\n",
    ],
    [
      "_created beside a histogram is dropped",
      '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\nh_created 1700000000\n',
      '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    ],
    [
      "the Python client's X_total counter with its X_created gauge",
      "# HELP r_total Requests\n# TYPE r_total counter\nr_total 2.0\n# HELP r_created Requests\n# TYPE r_created gauge\nr_created 1.7e9\n",
      "# HELP r_total Requests\n# TYPE r_total counter\nr_total 2\n",
    ],
    [
      "_created without such a family is an ordinary metric",
      "# TYPE g gauge\ng 1\ng_created 5\n",
      "# TYPE g gauge\ng 1\n# TYPE g_created untyped\ng_created 5\n",
    ],
    ["a TYPE without samples adds nothing", "# TYPE a counter\n", ""],
  ];
  for (const [name, body, expected] of cases) {
    await t.step(name, () => assert.equal(parse(body), expected));
  }
});

Deno.test("parseText() applies grouping labels, which override body labels", () => {
  const grouping: Label[] = [["job", "batch"], ["instance", ""]];
  assert.equal(
    parse('a{job="other",instance="i1",z="1"} 1\nb 2\n', grouping),
    '# TYPE a untyped\na{job="batch",z="1"} 1\n# TYPE b untyped\nb{job="batch"} 2\n',
  );
});

Deno.test("parseText() keys series by sorted labels, grouping labels included", () => {
  const push = parseText('a{b="2",a="1"} 1\nc 1\n');
  assert.deepEqual(push[0].keys, ['a="1",b="2"']);
  const grouped = parseText('a{b="2",a="1"} 1\nc 1\n', [["job", "j"], ["instance", "i"]]);
  assert.deepEqual(grouped[0].keys, ['a="1",b="2",instance="i",job="j"']);
  assert.deepEqual(grouped[1].keys, ['instance="i",job="j"']);
});

Deno.test("parseText() rejects invalid bodies with the line and the problem", async (t) => {
  // [name, body, exact message]
  const cases: [string, string, string][] = [
    ["a line starting with a digit", "1a 1\n", 'line 1: expected a metric name, found "1a 1"'],
    ["a missing value", "a\n", 'line 1: missing value for metric "a"'],
    ["a value that is not a float", "a one\n", 'line 1: invalid value "one" for metric "a"'],
    ["a hex value", "a 0x10\n", 'line 1: invalid value "0x10" for metric "a"'],
    ["an empty exponent", "a 1e\n", 'line 1: invalid value "1e" for metric "a"'],
    ["a fractional timestamp", "a 1 1.5\n", 'line 1: invalid timestamp "1.5" for metric "a"'],
    [
      "text after the timestamp",
      "a 1 2 3\n",
      'line 1: unexpected "3" after the timestamp of metric "a"',
    ],
    [
      "an unterminated label set",
      'a{x="1" 1\n',
      'line 1: expected "," or "}" after label "x", found "1"',
    ],
    ["an unterminated label value", 'a{x="1} 1\n', 'line 1: unterminated value of label "x"'],
    [
      "a label without a value",
      "a{x} 1\n",
      'line 1: expected "=" after label name "x", found "} 1"',
    ],
    [
      "an unquoted label value",
      "a{x=1} 1\n",
      'line 1: expected a quoted value for label "x", found "1} 1"',
    ],
    [
      "an invalid label name",
      'a{1x="1"} 1\n',
      'line 1: expected a label name, found "1x=\\"1\\"} 1"',
    ],
    [
      "an invalid escape",
      'a{x="\\t"} 1\n',
      'line 1: invalid escape "\\t" in the value of label "x"',
    ],
    ["an invalid escape in HELP", "# HELP a x\\ty\n", 'line 1: invalid escape "\\t" in HELP text'],
    ["a repeated label", 'a{x="1",x="2"} 1\n', 'line 1: label "x" is given twice'],
    [
      "a reserved label name",
      'a{__name__="b"} 1\n',
      'line 1: label name "__name__" is reserved: names starting with "__" are for Prometheus',
    ],
    [
      "an unknown type",
      "# TYPE a gaugeish\n",
      'line 1: unknown metric type "gaugeish" for metric "a"',
    ],
    [
      "text after the type",
      "# TYPE a counter extra\n",
      'line 1: unexpected text after the TYPE of metric "a"',
    ],
    [
      "an invalid name in TYPE",
      "# TYPE 9a counter\n",
      'line 1: expected a metric name after TYPE, found "9a counter"',
    ],
    [
      "a second TYPE",
      "# TYPE a counter\n# TYPE a counter\n",
      'line 2: second TYPE line for metric "a"',
    ],
    ["a second HELP", "# HELP a x\n# HELP a y\n", 'line 2: second HELP line for metric "a"'],
    [
      "TYPE after samples",
      "a 1\n# TYPE a counter\n",
      'line 2: TYPE line for metric "a" comes after its samples',
    ],
    [
      "the same series twice",
      'a{x="1"} 1\na{x="1"} 2\n',
      'line 2: series a{x="1"} appears twice in the push',
    ],
    [
      "the same series in another label order",
      'a{x="1",y="2"} 1\na{y="2",x="1"} 2\n',
      'line 2: series a{x="1",y="2"} appears twice in the push',
    ],
    ["a negative counter", "# TYPE c counter\nc -1\n", "line 2: counter c has negative value -1"],
    ["a NaN counter", "# TYPE c counter\nc NaN\n", "line 2: counter c has value NaN"],
    [
      "le given twice",
      '# TYPE h histogram\nh_bucket{le="1",le="2"} 1\n',
      'line 2: label "le" is given twice',
    ],
    [
      "le on _sum",
      '# TYPE h histogram\nh_sum{le="1"} 1\n',
      'line 2: label "le" is reserved for histogram buckets',
    ],
    [
      "quantile given twice",
      '# TYPE s summary\ns{quantile="0.5",quantile="0.9"} 1\n',
      'line 2: label "quantile" is given twice',
    ],
    [
      "quantile on _count",
      '# TYPE s summary\ns_count{quantile="0.5"} 1\n',
      'line 2: label "quantile" is reserved for summary quantiles',
    ],
    [
      "a bucket without le",
      "# TYPE h histogram\nh_bucket 1\n",
      'line 2: histogram "h" has a sample without the "le" label',
    ],
    [
      "an invalid le",
      '# TYPE h histogram\nh_bucket{le="x"} 1\n',
      'line 2: invalid le="x" in histogram "h"',
    ],
    [
      "le 1 and 1.0 twice",
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="1.0"} 1\n',
      'line 3: series h with le="1" appears twice in the push',
    ],
    [
      "a histogram sample without suffix",
      "# TYPE h histogram\nh 1\n",
      'line 2: sample "h" of histogram "h" needs a _bucket, _sum or _count suffix',
    ],
    [
      "a quantile sample without quantile",
      "# TYPE s summary\ns 1\n",
      'line 2: summary "s" has a sample without the "quantile" label',
    ],
    [
      "a second _sum",
      "# TYPE s summary\ns_sum 1\ns_sum 1\n",
      "line 3: series s_sum appears twice in the push",
    ],
  ];
  for (const [name, body, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseText(body), (error) => {
        assert.ok(error instanceof ParseError);
        assert.equal(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("parseText() rejects incomplete histograms and summaries by metric name", async (t) => {
  const cases: [string, string, string][] = [
    [
      "no +Inf bucket",
      '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
      'histogram h has no le="+Inf" bucket',
    ],
    [
      "no _count",
      '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\n',
      "histogram h has no _count",
    ],
    [
      "no _sum",
      '# TYPE h histogram\nh_bucket{a="b",le="+Inf"} 1\nh_count{a="b"} 1\n',
      'histogram h{a="b"} has no _sum',
    ],
    [
      "decreasing buckets",
      '# TYPE h histogram\nh_bucket{le="1"} 5\nh_bucket{le="+Inf"} 3\nh_sum 1\nh_count 3\n',
      'histogram h is not cumulative: the count falls at le="+Inf"',
    ],
    [
      "a negative bucket",
      '# TYPE h histogram\nh_bucket{le="1"} -1\nh_bucket{le="+Inf"} 3\nh_sum 1\nh_count 3\n',
      'histogram h has invalid count -1 at le="1"',
    ],
    [
      "a NaN _count",
      '# TYPE h histogram\nh_bucket{le="+Inf"} 3\nh_sum 1\nh_count NaN\n',
      "histogram h has invalid _count NaN",
    ],
    [
      "a summary of quantiles only",
      '# TYPE s summary\ns{quantile="0.5"} 1\n',
      "summary s has no _count",
    ],
    ["a summary without _sum", "# TYPE s summary\ns_count 1\n", "summary s has no _sum"],
    [
      "a negative summary _count",
      "# TYPE s summary\ns_count -1\ns_sum 1\n",
      "summary s has invalid _count -1",
    ],
    [
      "a _count unlike +Inf",
      '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 7\n',
      'histogram h has _count 7 but 1 in its le="+Inf" bucket',
    ],
  ];
  for (const [name, body, message] of cases) {
    await t.step(name, () => assert.throws(() => parseText(body), { name: "PushError", message }));
  }
});

Deno.test("parseText() refuses a histogram bucket with le=NaN", () => {
  assert.throws(() => parseText('# TYPE h histogram\nh_bucket{le="NaN"} 1\n'), {
    name: "ParseError",
    message: 'line 2: histogram h has a bucket with le="NaN"',
  });
});

Deno.test("parseOpenMetrics() reads OpenMetrics 1.0 text", () => {
  const body = `# TYPE requests counter
# HELP requests Requests \\"served\\".
requests_total{path="/"} 3 1520879607.789 # {trace_id="abc"} 1 1520879607.7
requests_created{path="/"} 1520879600
# TYPE temperature_celsius gauge
# UNIT temperature_celsius celsius
temperature_celsius 21.5
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.5"} 1 # {trace_id="x"} 0.3
latency_seconds_bucket{le="+Inf"} 2
latency_seconds_sum 1.2
latency_seconds_count 2
latency_seconds_created 1520879600
# TYPE build info
build_info{version="1.2"} 1
# TYPE feature stateset
feature{feature="a"} 1
feature{feature="b"} 0
# TYPE mystery unknown
mystery 7
# TYPE rpc summary
rpc{quantile="0.9"} 1
rpc_sum 4
rpc_count 2
rpc_created 1520879600
# EOF
`;
  assert.equal(
    render(parseOpenMetrics(body)),
    `# HELP requests_total Requests "served".
# TYPE requests_total counter
requests_total{path="/"} 3
# TYPE temperature_celsius gauge
temperature_celsius 21.5
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.5"} 1
latency_seconds_bucket{le="+Inf"} 2
latency_seconds_sum 1.2
latency_seconds_count 2
# TYPE build_info gauge
build_info{version="1.2"} 1
# TYPE feature gauge
feature{feature="a"} 1
feature{feature="b"} 0
# TYPE mystery untyped
mystery 7
# TYPE rpc summary
rpc_sum 4
rpc_count 2
`,
  );
});

Deno.test("parseOpenMetrics() refuses what OpenMetrics forbids", async (t) => {
  // [name, body, exact message]
  const cases: [string, string, string][] = [
    ["text after # EOF", "a 1\n# EOF\na 2\n", 'line 3: text after "# EOF" (line 2)'],
    [
      "a type named like an Object property",
      "# TYPE a toString\na 1\n",
      'line 1: metric type "toString" for metric "a": unknown',
    ],
    [
      "a counter sample without _total",
      "# TYPE c counter\nc 1\n# EOF\n",
      'line 2: sample "c" of metric "c" needs the _total suffix',
    ],
    [
      "an info sample without _info",
      "# TYPE b info\nb 1\n# EOF\n",
      'line 2: sample "b" of metric "b" needs the _info suffix',
    ],
    [
      "a gauge histogram",
      "# TYPE g gaugehistogram\n# EOF\n",
      'line 1: metric type "gaugehistogram" for metric "g": gauge histograms are not supported',
    ],
    [
      "an unknown type",
      "# TYPE g whatever\n# EOF\n",
      'line 1: metric type "whatever" for metric "g": unknown',
    ],
    [
      "a bad exemplar",
      "a 1 # trace\n# EOF\n",
      'line 1: expected an exemplar "# {labels} value" after the value of metric "a"',
    ],
    [
      "a bad exemplar value",
      '# TYPE a counter\na_total 1 # {t="1"} x\n# EOF\n',
      'line 2: invalid exemplar value "x" for metric "a_total"',
    ],
    [
      "a bad float timestamp",
      "a 1 1.5.5\n# EOF\n",
      'line 1: invalid timestamp "1.5.5" for metric "a"',
    ],
  ];
  for (const [name, body, message] of cases) {
    await t.step(
      name,
      () => assert.throws(() => parseOpenMetrics(body), { name: "ParseError", message }),
    );
  }
});

Deno.test("parseText() keeps 0.0.4 rules: no exemplars, integer timestamps, no OpenMetrics types", () => {
  assert.throws(() => parseText('a 1 # {t="1"} 1\n'), {
    message: 'line 1: invalid timestamp "#" for metric "a"',
  });
  assert.throws(() => parseText("a 1 1.5\n"), {
    message: 'line 1: invalid timestamp "1.5" for metric "a"',
  });
  assert.throws(() => parseText("# TYPE a info\n"), {
    message: 'line 1: unknown metric type "info" for metric "a"',
  });
  assert.equal(parse("# EOF\na 1\n"), "# TYPE a untyped\na 1\n", "# EOF is a comment in 0.0.4");
});

Deno.test("parseText() refuses le from the path for a histogram, allows it elsewhere", () => {
  const body = '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n';
  assert.throws(() => parseText(body, [["le", "5"]]), {
    message: 'line 2: label "le" in the path is reserved for histogram buckets',
  });
  assert.equal(parse("g 1\n", [["le", "5"]]), '# TYPE g untyped\ng{le="5"} 1\n');
});

Deno.test("parseText() finds a repeated label among many in n log n", () => {
  // 40,000 labels on one line took seconds with a pairwise check; sorting makes it instant.
  const names = Array.from({ length: 40_000 }, (_, i) => `l${i}`).reverse();
  const line = `m{${names.map((n) => `${n}="x"`).join(",")},l7="y"} 1\n`;
  assert.throws(() => parseText(line), { message: 'line 1: label "l7" is given twice' });
});

Deno.test("parseText() enforces label limits before sorting, path labels included", async (t) => {
  const limits = { maxLabels: 3, maxValueLength: 5 };
  const cases: [string, string, Label[], string][] = [
    [
      "too many labels",
      'a{a="1",b="2",c="3",d="4"} 1\n',
      [],
      "line 1: a series has 4 labels, more than the limit of 3 (--maxLabelsPerSeries)",
    ],
    [
      "too many with the path",
      'a{a="1",b="2"} 1\n',
      [["job", "j"], ["x", "y"]],
      "line 1: a series has 4 labels, more than the limit of 3 (--maxLabelsPerSeries)",
    ],
    [
      "a long value",
      'a{a="123456"} 1\n',
      [],
      'line 1: the value of label "a" is 6 bytes long, more than the limit of 5 (--maxLabelValueLength)',
    ],
    [
      "a value of 2 emoji, 8 bytes of UTF-8 (4 UTF-16 units)",
      'a{a="😀😀"} 1\n',
      [],
      'line 1: the value of label "a" is 8 bytes long, more than the limit of 5 (--maxLabelValueLength)',
    ],
    [
      "a long metric name",
      "abcdef 1\n",
      [],
      'line 1: metric name "abcdef" is 6 bytes long, more than the limit of 5 (--maxLabelValueLength)',
    ],
    [
      "a long metric name in a TYPE line",
      "# TYPE abcdef counter\nabcdef 1\n",
      [],
      'line 2: metric name "abcdef" is 6 bytes long, more than the limit of 5 (--maxLabelValueLength)',
    ],
    [
      "a value of 3 two-byte characters",
      'a{a="äöü"} 1\n',
      [],
      'line 1: the value of label "a" is 6 bytes long, more than the limit of 5 (--maxLabelValueLength)',
    ],
  ];
  for (const [name, body, grouping, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseText(body, grouping, limits), (error) => {
        assert.ok(error instanceof ParseError);
        assert.equal(error.reason, "label_limit");
        assert.equal(error.message, message);
        return true;
      });
    });
  }
  assert.throws(() => parseText("a 1\n", [["job", "1234567"]], limits), {
    name: "PushError",
    message:
      'the value of label "job" is 7 bytes long, more than the limit of 5 (--maxLabelValueLength)',
  });
  assert.equal(parse('a{a="12345",b="2"} 1\n'), '# TYPE a untyped\na{a="12345",b="2"} 1\n');
  // At the limit in bytes: 5 bytes of UTF-8 in 3 UTF-16 units, and 4 bytes in one pair.
  assert.equal(
    render(parseText('a{a="äöx",b="😀"} 1\n', [], limits)),
    '# TYPE a untyped\na{a="äöx",b="😀"} 1\n',
  );
});

Deno.test("parseText() with a SeriesCache keys repeat series exactly as without one", () => {
  const cache = new SeriesCache();
  const body = `# TYPE h histogram
h_bucket{b="2",a="1",le="0.5"} 1
h_bucket{b="2",a="1",le="+Inf"} 2
h_sum{b="2",a="1"} 3
h_count{b="2",a="1"} 2
# TYPE s summary
s{x="q\\"\\\\",quantile="0.9"} 1
s_sum{x="q\\"\\\\"} 1
s_count{x="q\\"\\\\"} 1
g{b="2",a="1",le="7"} 5
spaced {x="1"} 1
spaced 2
`;
  const grouping: Label[] = [["job", "j"]];
  const expected = parse(body, grouping);
  assert.equal(
    render(parseText(body, grouping, undefined, cache)),
    expected,
    "first push fills the cache",
  );
  assert.equal(
    render(parseText(body, grouping, undefined, cache)),
    expected,
    "second push reads it",
  );
  // A cached label set still gets every per-push check.
  assert.throws(
    () =>
      parseText(
        'h_x 1\n# TYPE h histogram\nh_bucket{b="2",a="1",le="0.5"} 1\n' +
          'h_bucket{b="2",a="1",le="0.5"} 1\n',
        grouping,
        undefined,
        cache,
      ),
    {
      message: 'line 4: series h{a="1",b="2",job="j"} with le="0.5" appears twice in the push',
    },
  );
  // The same raw labels mean something else in another mode: le is kept on a gauge, and
  // refused on a histogram's _sum.
  assert.throws(
    () =>
      parseText('# TYPE h histogram\nh_sum{b="2",a="1",le="7"} 1\n', grouping, undefined, cache),
    {
      message: 'line 2: label "le" is reserved for histogram buckets',
    },
  );
});

Deno.test("parseText() reads a TYPE in any case, as Go's parser does", () => {
  const [family] = parseText("# TYPE a COUNTER\na 1\n");
  assert.equal(family.type, "counter");
  assert.equal(parseText("# TYPE b Gauge\nb 1\n")[0].type, "gauge");
});

// What Prometheus' own text parser (expfmt, as the Pushgateway runs it) refuses is refused here
// too, and what it reads is read: each case is a disagreement a differential run found.
Deno.test("parseText() refuses what Prometheus' text parser refuses", async (t) => {
  // [name, body, exact message]
  const cases: [string, string, string][] = [
    // A HELP or TYPE name ends at a blank or the end of the line, as expfmt reads it.
    [
      "a HELP name with a dash",
      "# HELP x-y foo\nx 1\n",
      'line 1: expected a metric name after HELP, found "x-y foo"',
    ],
    [
      "a HELP name with a brace",
      "# HELP x}y foo\n",
      'line 1: expected a metric name after HELP, found "x}y foo"',
    ],
    [
      "a HELP name with labels",
      '# HELP x{a="1"} foo\n',
      'line 1: expected a metric name after HELP, found "x{a=\\"1\\"} foo"',
    ],
    [
      "a TYPE name with a dot",
      "# TYPE x.y counter\n",
      'line 1: expected a metric name after TYPE, found "x.y counter"',
    ],
    // X_created beside a counter, histogram or summary is checked as any line, then dropped.
    [
      "a _created line with a repeated label",
      '# TYPE c counter\nc 1\nc_created{a="1",a="2"} 1\n',
      'line 3: label "a" is given twice',
    ],
    [
      "a _created line with __name__",
      '# TYPE c counter\nc 1\nc_created{__name__="y"} 1\n',
      'line 3: label name "__name__" is reserved: names starting with "__" are for Prometheus',
    ],
    [
      "the same _created line twice",
      "# TYPE c counter\nc 1\nc_created 1\nc_created 1\n",
      "line 4: series c_created appears twice in the push",
    ],
    [
      "the same _created series twice in another label order",
      '# TYPE h histogram\nh_created{a="1",b="2"} 1\nh_created{b="2",a="1"} 1\n',
      'line 3: series h_created{a="1",b="2"} appears twice in the push',
    ],
    [
      "a _created line without a value",
      "# TYPE c counter\nc_created\n",
      'line 2: missing value for metric "c_created"',
    ],
    // Values: Go's strconv.ParseFloat, less hex floats and underscores (expfmt's parseFloat).
    ["a value beyond float64", "x 1e309\n", 'line 1: invalid value "1e309" for metric "x"'],
    [
      "a negative value beyond float64",
      "x -1e400\n",
      'line 1: invalid value "-1e400" for metric "x"',
    ],
    [
      "a value of 100,000 digits, named in short",
      `x ${"9".repeat(100_000)}\n`,
      `line 1: invalid value "${"9".repeat(64)}…" for metric "x"`,
    ],
    ["a NaN with a minus", "x -nan\n", 'line 1: invalid value "-nan" for metric "x"'],
    ["a NaN with a plus", "x +NaN\n", 'line 1: invalid value "+NaN" for metric "x"'],
    ["a hex float", "x 0x1p3\n", 'line 1: invalid value "0x1p3" for metric "x"'],
    ["digits with an underscore", "x 1_000\n", 'line 1: invalid value "1_000" for metric "x"'],
    ["a lone dot", "x .\n", 'line 1: invalid value "." for metric "x"'],
    ["an Inf spelt short", "x infi\n", 'line 1: invalid value "infi" for metric "x"'],
    [
      "a bound beyond float64",
      '# TYPE h histogram\nh_bucket{le="1e400"} 1\n',
      'line 2: invalid le="1e400" in histogram "h"',
    ],
    [
      "a quantile that is not a float",
      '# TYPE s summary\ns{quantile="high"} 1\n',
      'line 2: invalid quantile="high" in summary "s"',
    ],
    // A HELP or TYPE line for x_sum, x_count (or x_bucket) of a summary or histogram x names x.
    [
      "a TYPE for the _count of a summary",
      "# TYPE s summary\n# TYPE s_count gauge\ns_count 1\n",
      'line 2: second TYPE line for metric "s" (as "s_count")',
    ],
    [
      "a TYPE for the _sum of a histogram, after its samples",
      '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n# TYPE h_sum gauge\nh_sum{x="1"} 1\n',
      'line 5: second TYPE line for metric "h" (as "h_sum")',
    ],
    [
      "a TYPE for the _sum of a histogram",
      "# TYPE h histogram\n# TYPE h_sum gauge\nh_sum 1\n",
      'line 2: second TYPE line for metric "h" (as "h_sum")',
    ],
    [
      "a second HELP through _bucket",
      "# HELP h x\n# TYPE h histogram\n# HELP h_bucket y\n",
      'line 3: second HELP line for metric "h" (as "h_bucket")',
    ],
    // Timestamps: Go's strconv.ParseInt, base 10, 64 bits.
    [
      "a timestamp past int64",
      "x 1 9223372036854775808\n",
      'line 1: invalid timestamp "9223372036854775808" for metric "x"',
    ],
    [
      "a timestamp before int64",
      "x 1 -9223372036854775809\n",
      'line 1: invalid timestamp "-9223372036854775809" for metric "x"',
    ],
    ["a timestamp with two signs", "x 1 +-5\n", 'line 1: invalid timestamp "+-5" for metric "x"'],
    ["a timestamp of a sign alone", "x 1 +\n", 'line 1: invalid timestamp "+" for metric "x"'],
  ];
  for (const [name, body, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseText(body), (error) => {
        assert.ok(error instanceof ParseError);
        assert.equal(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("parseText() reads what Prometheus' text parser reads", async (t) => {
  // [name, body, expected rendering]
  const cases: [string, string, string][] = [
    ["a timestamp with a plus", "x 1 +5\n", "# TYPE x untyped\nx 1\n"],
    [
      "the int64 extremes as timestamps",
      'x{a="1"} 1 9223372036854775807\nx{a="2"} 1 -9223372036854775808\nx{a="3"} 1 0009223372036854775807\n',
      '# TYPE x untyped\nx{a="1"} 1\nx{a="2"} 1\nx{a="3"} 1\n',
    ],
    [
      "infinities in any case and sign, NaN in any case",
      'x{a="1"} Inf\nx{a="2"} +Inf\nx{a="3"} -inf\nx{a="4"} infinity\nx{a="5"} +INFINITY\nx{a="6"} nan\n',
      '# TYPE x untyped\nx{a="1"} +Inf\nx{a="2"} +Inf\nx{a="3"} -Inf\nx{a="4"} +Inf\nx{a="5"} +Inf\nx{a="6"} NaN\n',
    ],
    [
      "a value below float64 is 0, the largest float64 is kept",
      'x{a="1"} 1e-400\nx{a="2"} 1.7976931348623157e308\nx{a="3"} 5.\n',
      '# TYPE x untyped\nx{a="1"} 0\nx{a="2"} 1.7976931348623157e+308\nx{a="3"} 5\n',
    ],
    [
      "a HELP name alone on its line, a TYPE after a tab",
      "# HELP x\n# TYPE y\tgauge\nx 1\ny 2\n",
      "# TYPE x untyped\nx 1\n# TYPE y gauge\ny 2\n",
    ],
    [
      "a HELP for the _count of a summary is the summary's",
      "# TYPE s summary\n# HELP s_count Latency.\ns_sum 1\ns_count 1\n",
      "# HELP s Latency.\n# TYPE s summary\ns_sum 1\ns_count 1\n",
    ],
    [
      "a TYPE for x_count before x is declared is a family of its own",
      "# TYPE s_count gauge\ns_count 1\n# TYPE s summary\n",
      "# TYPE s_count gauge\ns_count 1\n",
    ],
    [
      "a checked _created line beside each type is dropped",
      '# TYPE c counter\nc{a="1"} 1\nc_created{a="1"} 5\nc_created{a="2"} 5\n',
      '# TYPE c counter\nc{a="1"} 1\n',
    ],
  ];
  for (const [name, body, expected] of cases) {
    await t.step(name, () => assert.equal(parse(body), expected));
  }
});

Deno.test("parseText() and the scrape write le as Prometheus' exposition does", async (t) => {
  // [le as pushed, le as expfmt writes it (Go's FormatFloat 'g', shortest)]
  const cases: [string, string][] = [
    ["1e6", "1e+06"],
    ["1000000", "1e+06"],
    ["999999", "999999"],
    ["1e-05", "1e-05"],
    ["0.00001", "1e-05"],
    ["0.0001", "0.0001"],
    ["123456789", "1.23456789e+08"],
    ["1e-7", "1e-07"],
    ["0.1", "0.1"],
    ["2.50", "2.5"],
    ["1.0", "1"],
    ["-0", "0"],
    ["-1e6", "-1e+06"],
    ["1e21", "1e+21"],
    ["1e100", "1e+100"],
    ["5e-324", "5e-324"],
    ["1.7976931348623157e308", "1.7976931348623157e+308"],
    ["12345678901234567890", "1.2345678901234567e+19"],
  ];
  for (const [pushed, written] of cases) {
    await t.step(`le="${pushed}"`, () => {
      const body =
        `# TYPE h histogram\nh_bucket{le="${pushed}"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n`;
      assert.equal(
        parse(body),
        `# TYPE h histogram\nh_bucket{le="${written}"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n`,
      );
    });
  }
  await t.step("bounds are still compared as numbers", () => {
    assert.throws(
      () => parseText('# TYPE h histogram\nh_bucket{le="1e6"} 1\nh_bucket{le="1000000.0"} 1\n'),
      { message: 'line 3: series h with le="1e+06" appears twice in the push' },
    );
  });
});
