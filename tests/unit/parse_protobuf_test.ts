import assert from "node:assert/strict";
import { ParseError, PushError } from "../../lib/core/errors.ts";
import { parseProtobuf } from "../../lib/ingest/parse_protobuf.ts";
import { renderPush } from "../../lib/expose/render.ts";

// A minimal protobuf writer, enough to build MetricFamily messages field by field, so that
// each test states its message in the schema's own terms.
type Field =
  | [number, "varint", number]
  | [number, "double", number]
  | [number, "bytes", Uint8Array | string];

function message(...fields: Field[]): Uint8Array {
  const out: number[] = [];
  const varint = (n: number) => {
    while (n >= 128) {
      out.push((n % 128) | 128);
      n = Math.floor(n / 128);
    }
    out.push(n);
  };
  for (const [number, kind, value] of fields) {
    if (kind === "varint") {
      varint(number * 8);
      varint(value);
    } else if (kind === "double") {
      varint(number * 8 + 1);
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setFloat64(0, value, true);
      out.push(...bytes);
    } else {
      const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
      varint(number * 8 + 2);
      varint(bytes.length);
      out.push(...bytes);
    }
  }
  return new Uint8Array(out);
}

function delimited(...messages: Uint8Array[]): Uint8Array {
  const parts = messages.map((m) => [...message([1, "varint", m.length]).slice(1), ...m]);
  return new Uint8Array(parts.flat());
}

const label = (
  name: string,
  value: string,
): Field => [1, "bytes", message([1, "bytes", name], [2, "bytes", value])];
const family = (name: string, type: number, ...metrics: Uint8Array[]) =>
  message(
    [1, "bytes", name],
    [2, "bytes", `${name} help`],
    [3, "varint", type],
    ...metrics.map((m): Field => [4, "bytes", m]),
  );

function render(bytes: Uint8Array): string {
  return renderPush(parseProtobuf(bytes, [["job", "go"]]));
}

Deno.test("parseProtobuf() decodes every classic metric type", () => {
  const body = delimited(
    family(
      "c_total",
      0,
      message(label("a", "1"), [3, "bytes", message([1, "double", 5])], [
        6,
        "varint",
        1700000000000,
      ]),
    ),
    family("g", 1, message([2, "bytes", message([1, "double", -2.5])])),
    family(
      "s",
      2,
      message([
        4,
        "bytes",
        message([1, "varint", 3], [2, "double", 1.5], [
          3,
          "bytes",
          message([1, "double", 0.5], [2, "double", 0.4]),
        ]),
      ]),
    ),
    family("u", 3, message([5, "bytes", message([1, "double", 7])])),
    family(
      "h",
      4,
      message(
        label("path", "/x"),
        [
          7,
          "bytes",
          message(
            [1, "varint", 4],
            [2, "double", 2.25],
            [3, "bytes", message([1, "varint", 1], [2, "double", 0.1])],
            [3, "bytes", message([1, "varint", 3], [2, "double", 1])],
          ),
        ],
      ),
    ),
  );
  assert.equal(
    render(body),
    `# HELP c_total c_total help
# TYPE c_total counter
c_total{a="1",job="go"} 5
# HELP g g help
# TYPE g gauge
g{job="go"} -2.5
# HELP s s help
# TYPE s summary
s_sum{job="go"} 1.5
s_count{job="go"} 3
# HELP u u help
# TYPE u untyped
u{job="go"} 7
# HELP h h help
# TYPE h histogram
h_bucket{job="go",path="/x",le="0.1"} 1
h_bucket{job="go",path="/x",le="1"} 3
h_bucket{job="go",path="/x",le="+Inf"} 4
h_sum{job="go",path="/x"} 2.25
h_count{job="go",path="/x"} 4
`,
  );
});

Deno.test("parseProtobuf() skips unknown fields and reads float counts", () => {
  const bucket = message([4, "double", 2], [2, "double", Infinity]);
  const histogram = message([4, "double", 2], [2, "double", 1], [3, "bytes", bucket]);
  const metric = message([7, "bytes", histogram]);
  const body = delimited(
    message([1, "bytes", "h"], [3, "varint", 4], [9, "bytes", "a future field"], [
      4,
      "bytes",
      metric,
    ]),
  );
  assert.equal(
    render(body),
    '# TYPE h histogram\nh_bucket{job="go",le="+Inf"} 2\nh_sum{job="go"} 1\nh_count{job="go"} 2\n',
  );
});

Deno.test("parseProtobuf() says where a malformed body broke", async (t) => {
  const good = delimited(family("g", 1, message([2, "bytes", message([1, "double", 1])])));
  // [name, body, exact message]
  const cases: [string, Uint8Array, string][] = [
    [
      "a truncated message",
      good.slice(0, good.length - 3),
      "protobuf: the MetricFamily at byte 0 claims 26 bytes, but only 23 remain at byte 1",
    ],
    [
      "a truncated length",
      new Uint8Array([0x80]),
      "protobuf: truncated varint for the length of a MetricFamily at byte 0",
    ],
    [
      "an overlong varint",
      new Uint8Array(11).fill(0xff),
      "protobuf: varint longer than 10 bytes for the length of a MetricFamily at byte 0",
    ],
    [
      "a bad wire type",
      delimited(new Uint8Array([0x0b])),
      "protobuf: unsupported wire type 3 at byte 1",
    ],
    [
      "field number 0",
      delimited(new Uint8Array([0x02, 0x00])),
      "protobuf: field number 0 at byte 1",
    ],
    [
      "a truncated double",
      delimited(family("g", 1, message([2, "bytes", new Uint8Array([0x09, 1, 2])]))),
      "protobuf: truncated double for a value at byte 19",
    ],
    [
      "a name that is not UTF-8",
      delimited(message([1, "bytes", new Uint8Array([0xff])])),
      "protobuf: the family name is not valid UTF-8 at byte 2",
    ],
    [
      "text sent as protobuf",
      new TextEncoder().encode("# TYPE a counter\na 1\n"),
      "protobuf: the MetricFamily at byte 0 claims 35 bytes, but only 20 remain at byte 1",
    ],
  ];
  for (const [name, body, expected] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseProtobuf(body), (error) => {
        assert.ok(error instanceof ParseError);
        assert.equal(error.message, expected);
        return true;
      });
    });
  }
});

Deno.test("parseProtobuf() refuses families that are not valid pushes", async (t) => {
  const cases: [string, Uint8Array, string][] = [
    [
      "an invalid name",
      delimited(family("a-b", 1)),
      'invalid metric name "a-b" in the MetricFamily at byte 1',
    ],
    [
      "a gauge histogram",
      delimited(family("gh", 5)),
      'metric "gh": gauge histograms are not supported',
    ],
    [
      "a negative counter",
      delimited(family("c", 0, message([3, "bytes", message([1, "double", -1])]))),
      'counter c{job="go"} has negative value -1',
    ],
    [
      "a bad label name",
      delimited(family("g", 1, message(label("1x", "v")))),
      'invalid label name "1x"',
    ],
    [
      "a NaN bound",
      delimited(
        family(
          "h",
          4,
          message([
            7,
            "bytes",
            message([1, "varint", 1], [3, "bytes", message([2, "double", NaN])]),
          ]),
        ),
      ),
      'histogram h{job="go"} has a bucket with le="NaN"',
    ],
  ];
  for (const [name, body, expected] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseProtobuf(body, [["job", "go"]]), (error) => {
        assert.ok(error instanceof PushError);
        assert.equal(error.message, expected);
        return true;
      });
    });
  }
});

Deno.test("parseProtobuf() keeps a leading byte-order mark in a label value", () => {
  const body = delimited(
    family(
      "g",
      1,
      message(label("a", "x"), [2, "bytes", message([1, "double", 1])]),
      message(label("a", "\uFEFFx"), [2, "bytes", message([1, "double", 2])]),
    ),
  );
  const [pushed] = parseProtobuf(body, []);
  assert.deepEqual(pushed.keys, ['a="x"', 'a="\uFEFFx"']);
});

Deno.test("parseProtobuf() refuses a histogram with more buckets than --maxBucketsPerSeries", () => {
  const buckets = (n: number): Field[] =>
    Array.from({ length: n }, (_, i): Field => [3, "bytes", message([2, "double", i])]);
  const body = (n: number) =>
    delimited(family("h", 4, message([7, "bytes", message([1, "varint", 0], ...buckets(n))])));
  const limits = { maxLabels: 64, maxValueLength: 4096, maxBuckets: 4 };
  // Three bounds and the +Inf that `sample_count` implies: four buckets.
  assert.match(renderPush(parseProtobuf(body(3), [], limits)), /h_bucket\{le="\+Inf"\} 0/);
  assert.throws(() => parseProtobuf(body(4), [], limits), {
    name: "PushError",
    message: "histogram h has more than 4 buckets, the limit (--maxBucketsPerSeries)",
  });
  assert.throws(() => parseProtobuf(body(5_000), [], limits), { name: "PushError" });
});

Deno.test("parseProtobuf() bounds are written as the text format's, as expfmt writes them", () => {
  const bucket = (count: number, bound: number): Field => [
    3,
    "bytes",
    message([1, "varint", count], [2, "double", bound]),
  ];
  const body = delimited(
    family(
      "h",
      4,
      message([
        7,
        "bytes",
        message(
          [1, "varint", 3],
          [2, "double", 1],
          bucket(1, 1e-5),
          bucket(2, 1e6),
          bucket(3, 123456789),
        ),
      ]),
    ),
  );
  assert.equal(
    render(body),
    `# HELP h h help
# TYPE h histogram
h_bucket{job="go",le="1e-05"} 1
h_bucket{job="go",le="1e+06"} 2
h_bucket{job="go",le="1.23456789e+08"} 3
h_bucket{job="go",le="+Inf"} 3
h_sum{job="go"} 1
h_count{job="go"} 3
`,
  );
});
