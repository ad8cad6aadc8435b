// The docs against the code and against themselves: the flag list of docs/operations.md is the
// FLAGS table, every relative link and anchor leads somewhere, and the README stays a front door.

import assert from "node:assert/strict";
import { FLAGS } from "../../lib/app/config.ts";
import { flagsBlock, flagsTable } from "../../scripts/docs_flags.ts";

const ROOT = new URL("../../", import.meta.url);
const README_MAX_LINES = 220;

/** README.md, CONTRIBUTING.md if there is one, and every docs/*.md, as paths from the root. */
async function markdownFiles(): Promise<string[]> {
  const files = ["README.md"];
  if (await exists(new URL("CONTRIBUTING.md", ROOT))) files.push("CONTRIBUTING.md");
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) files.push(`docs/${entry.name}`);
  }
  return files.toSorted();
}

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The lines of `markdown` outside fenced code blocks, where `#` is a comment, not a heading. */
function proseLines(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split("\n")) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker !== undefined) {
      fence = marker;
    } else if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) {
        fence = undefined;
      }
    } else {
      lines.push(line);
    }
  }
  return lines;
}

/**
 * The anchors GitHub makes from the headings of `markdown`: the heading's text lower-cased,
 * punctuation but `-` and `_` dropped, spaces turned to `-`, and `-1`, `-2`… added to repeats.
 */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link or image: its text
      .replace(/<[^>]+>/g, "") // HTML tags
      .replace(/[`*]/g, ""); // code and emphasis marks
    const slug = text.toLowerCase().trim().replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** The targets of the inline links, images and link definitions of `markdown`, outside code. */
function linkTargets(markdown: string): string[] {
  const targets: string[] = [];
  for (const line of proseLines(markdown)) {
    const prose = line.replace(/(`+)[\s\S]*?\1/g, "code"); // code spans hold no links
    for (const [, target] of prose.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)) {
      targets.push(target);
    }
    const definition = /^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/.exec(prose)?.[1];
    if (definition !== undefined) targets.push(definition);
  }
  return targets;
}

/** Each broken relative link of the file at `path`, as `path: target (why)`. */
async function brokenLinks(path: string): Promise<string[]> {
  const base = new URL(path, ROOT);
  const broken: string[] = [];
  for (const target of linkTargets(await Deno.readTextFile(base))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: not ours to check
    const hash = target.indexOf("#");
    const file = hash === -1 ? target : target.slice(0, hash);
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const url = file === "" ? base : new URL(file, base);
    if (!(await exists(url))) {
      broken.push(`${path}: ${target} (no such file)`);
    } else if (anchor !== undefined) {
      if (!url.pathname.endsWith(".md")) {
        broken.push(`${path}: ${target} (an anchor into a file that is not markdown)`);
      } else if (!headingAnchors(await Deno.readTextFile(url)).has(anchor)) {
        broken.push(`${path}: ${target} (no heading makes #${anchor})`);
      }
    }
  }
  return broken;
}

Deno.test("flagsTable() of FLAGS is the flag list in docs/operations.md", async () => {
  const doc = await Deno.readTextFile(new URL("docs/operations.md", ROOT));
  const block = flagsBlock(doc);
  assert.ok(
    block !== undefined,
    "docs/operations.md has no <!-- flags:start --> … <!-- flags:end --> block",
  );
  const expected = flagsTable(FLAGS).trim();
  const actual = block.trim();
  if (actual !== expected) {
    const documented = new Set(actual.split("\n"));
    const coded = new Set(expected.split("\n"));
    const differences = [
      ...expected.split("\n").filter((line) => !documented.has(line)).map((l) => `+ ${l}`),
      ...actual.split("\n").filter((line) => !coded.has(line)).map((l) => `- ${l}`),
    ];
    assert.fail(
      "the flag list in docs/operations.md differs from FLAGS in lib/app/config.ts; run " +
        "`deno run --allow-read --allow-write scripts/docs_flags.ts` to rewrite it " +
        `(+ is the code, - the docs):\n${differences.join("\n")}`,
    );
  }
});

Deno.test("flagsTable() has a row per flag with its env var, default and description", () => {
  const table = flagsTable([
    { name: "apiListen", default: ":8080", description: "Listen here" },
    { name: "AuthUsers", default: "", description: "user=pass | more" },
  ]);
  assert.equal(
    table,
    [
      "| flag          | env var         | default | description       |",
      "| ------------- | --------------- | ------- | ----------------- |",
      "| `--apiListen` | `PAG_APILISTEN` | `:8080` | Listen here       |",
      "| `--AuthUsers` | `PAG_AUTHUSERS` | none    | user=pass \\| more |",
      "",
    ].join("\n"),
  );
});

Deno.test("headingAnchors() makes the anchors GitHub makes", () => {
  const cases: [heading: string, anchor: string][] = [
    ["# HTTP API", "http-api"],
    ["## The gateway's own metrics", "the-gateways-own-metrics"],
    ["## JSON deltas (pushprom)", "json-deltas-pushprom"],
    ["### Creation timestamps (`_created`)", "creation-timestamps-_created"],
    ["## Node.js", "nodejs"],
    ["## [Linked](other.md) heading ##", "linked-heading"],
  ];
  for (const [heading, anchor] of cases) {
    assert.ok(headingAnchors(heading).has(anchor), `${heading} should make #${anchor}`);
  }
  // A repeated heading gets a number; a `#` line in a code block is no heading.
  assert.deepEqual(
    [...headingAnchors("## Go\n## Go\n```sh\n# TYPE x counter\n```\n")],
    ["go", "go-1"],
  );
});

Deno.test("linkTargets() finds links outside code only", () => {
  const markdown = [
    "See [a](a.md#x), [`b`](../b/) and ![c](c.png).",
    "Not `[code](d.md)`.",
    "```md",
    "[fenced](e.md)",
    "```",
    "[ref]: f.md",
  ].join("\n");
  assert.deepEqual(linkTargets(markdown), ["a.md#x", "../b/", "c.png", "f.md"]);
});

Deno.test("every relative link in the README and docs/ leads to a file and heading", async () => {
  const broken: string[] = [];
  for (const path of await markdownFiles()) broken.push(...await brokenLinks(path));
  assert.deepEqual(broken, []);
});

Deno.test(`README.md has at most ${README_MAX_LINES} lines`, async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const lines = readme.endsWith("\n") ? readme.split("\n").length - 1 : readme.split("\n").length;
  assert.ok(
    lines <= README_MAX_LINES,
    `README.md has ${lines} lines; it is the front door: move reference material to docs/`,
  );
});
