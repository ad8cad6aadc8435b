// docs/input.md against the allow-lists the differential tests read: each table lists the same
// entries, in the same order, as its file.

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

/** The entries (first column, in backquotes) of the table under the heading `heading`. */
function tableEntries(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  assert.notEqual(start, -1, `docs/input.md has no "## ${heading}" section`);
  const end = markdown.indexOf("\n## ", start + 1);
  const section = markdown.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/^\| `([^`]+)` +\|/gm)].map(([, id]) => id);
}

function fileEntries(path: string): string[] {
  const entries: { id: string }[] = JSON.parse(Deno.readTextFileSync(new URL(path, ROOT)));
  return entries.map((entry) => entry.id);
}

Deno.test("docs/input.md lists the differences from expfmt that the differential test allows", () => {
  const docs = Deno.readTextFileSync(new URL("docs/input.md", ROOT));
  assert.deepEqual(
    tableEntries(docs, "Where the gateway differs"),
    fileEntries("tests/integration/testdata/text_differences.json"),
  );
});

Deno.test("docs/input.md lists the differences from Python's OpenMetrics parser the test allows", () => {
  const docs = Deno.readTextFileSync(new URL("docs/input.md", ROOT));
  assert.deepEqual(
    tableEntries(docs, "OpenMetrics"),
    fileEntries("tests/integration/testdata/openmetrics_differences.json"),
  );
});
