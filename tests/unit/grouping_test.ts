import assert from "node:assert/strict";
import { RequestError } from "../../lib/core/errors.ts";
import { parseGroupingPath } from "../../lib/ingest/grouping.ts";
import type { Label } from "../../lib/core/model.ts";

Deno.test("parseGroupingPath() reads label pairs from the path", async (t) => {
  // [name, path after /metrics, labels]
  const cases: [string, string, Label[]][] = [
    ["no path", "", []],
    ["a bare slash", "/", []],
    ["the common job form", "/job/batch", [["job", "batch"]]],
    ["several pairs in path order", "/job/a/instance/b", [["job", "a"], ["instance", "b"]]],
    ["a trailing slash", "/job/a/", [["job", "a"]]],
    ["an empty last value, as prom-client writes it", "/job/a/instance/", [
      ["job", "a"],
      ["instance", ""],
    ]],
    ["a percent-encoded slash", "/job/a%2Fb", [["job", "a/b"]]],
    ["+ is a space, %2B a plus", "/job/a+b%2Bc", [["job", "a b+c"]]],
    ["percent-encoded UTF-8", "/job/gr%C3%BC%C3%9Fe", [["job", "grüße"]]],
    ["base64url", "/job@base64/L3Zhci90bXA", [["job", "/var/tmp"]]],
    ["base64url with padding", "/job@base64/L3Zhci90bXA=", [["job", "/var/tmp"]]],
    ["base64url with - and _", "/job@base64/fn5-Pz8_", [["job", "~~~???"]]],
    ["= alone is the empty value", "/job/a/instance@base64/=", [["job", "a"], ["instance", ""]]],
    ["a leading byte-order mark is kept", "/job@base64/77u_eA", [["job", "\uFEFFx"]]],
  ];
  for (const [name, path, labels] of cases) {
    await t.step(name, () => assert.deepEqual(parseGroupingPath(path), labels));
  }
});

Deno.test("parseGroupingPath() rejects bad paths with a message naming the problem", async (t) => {
  // [name, path, exact message]
  const cases: [string, string, string][] = [
    [
      "an odd number of segments",
      "/job",
      'the path must hold label name and value pairs, "job" has no value',
    ],
    [
      "a lone name with a trailing slash, as …/job/$JOB with $JOB unset",
      "/job/",
      'the path must hold label name and value pairs, "job" has no value',
    ],
    [
      "a name after a trailing slash, then more",
      "/job/a/instance//x",
      'the path must hold label name and value pairs, "x" has no value',
    ],
    ["an invalid label name", "/job/a/in-stance/b", 'invalid label name "in-stance" in the path'],
    ["an empty label name", "/job/a//b", 'invalid label name "" in the path'],
    [
      "a reserved label name",
      "/__name__/x",
      'label name "__name__" in the path is reserved: names starting with "__" are for Prometheus',
    ],
    ["a repeated label", "/job/a/job/b", 'label "job" appears twice in the path'],
    ["bad percent-encoding", "/job/a%zz", 'invalid percent-encoding in path segment "a%zz"'],
    ["bad base64 characters", "/job@base64/a.b", 'invalid base64url value "a.b" for label "job"'],
    [
      "an impossible base64 length",
      "/job@base64/abcde",
      'invalid base64url value "abcde" for label "job"',
    ],
    [
      "base64 that is not UTF-8",
      "/job@base64/_w",
      'base64url value "_w" for label "job" is not valid UTF-8',
    ],
  ];
  for (const [name, path, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseGroupingPath(path), (error) => {
        assert.ok(error instanceof RequestError);
        assert.equal(error.reason, "bad_path");
        assert.equal(error.message, message);
        return true;
      });
    });
  }
});
