// Writes the flag table of docs/operations.md, between `<!-- flags:start -->` and
// `<!-- flags:end -->`, from the FLAGS table of lib/app/config.ts, which also feeds the parser
// and `--help`. tests/unit/docs_test.ts fails when the two disagree.
//
//   deno run --allow-read --allow-write scripts/docs_flags.ts

import { envName, FLAGS, type FlagSpec } from "../lib/app/config.ts";

export const FLAGS_START = "<!-- flags:start -->";
export const FLAGS_END = "<!-- flags:end -->";

/** The file the table lives in, relative to this script. */
export const OPERATIONS_DOC = new URL("../docs/operations.md", import.meta.url);

/**
 * The markdown table of `flags`: name, environment variable, default and description, one row
 * per flag in table order, with its columns padded as `deno fmt` pads them.
 */
export function flagsTable(
  flags: readonly Pick<FlagSpec, "name" | "default" | "description">[],
): string {
  const rows = flags.map((flag) => [
    `\`--${flag.name}\``,
    `\`${envName(flag.name)}\``,
    flag.default === "" ? "none" : `\`${flag.default}\``,
    flag.description.replaceAll("|", "\\|"),
  ]);
  const header = ["flag", "env var", "default", "description"];
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => [...row[i]].length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell + " ".repeat(widths[i] - [...cell].length)).join(" | ")} |`;
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)]
    .join("\n") + "\n";
}

/** The text between the markers of `doc`, or undefined when a marker is missing. */
export function flagsBlock(doc: string): string | undefined {
  const start = doc.indexOf(FLAGS_START);
  const end = doc.indexOf(FLAGS_END, start);
  if (start === -1 || end === -1) return undefined;
  return doc.slice(start + FLAGS_START.length, end);
}

/** `doc` with the text between the markers replaced by the table of `flags`. */
export function replaceFlagsBlock(
  doc: string,
  flags: readonly Pick<FlagSpec, "name" | "default" | "description">[],
): string {
  const block = flagsBlock(doc);
  if (block === undefined) {
    throw new Error(`no ${FLAGS_START} … ${FLAGS_END} block to write the flags into`);
  }
  const start = doc.indexOf(FLAGS_START) + FLAGS_START.length;
  return doc.slice(0, start) + "\n\n" + flagsTable(flags) + "\n" +
    doc.slice(start + block.length);
}

if (import.meta.main) {
  const doc = await Deno.readTextFile(OPERATIONS_DOC);
  const updated = replaceFlagsBlock(doc, FLAGS);
  if (updated === doc) {
    console.log("docs/operations.md: the flag table is up to date");
  } else {
    await Deno.writeTextFile(OPERATIONS_DOC, updated);
    console.log("docs/operations.md: the flag table is rewritten from lib/app/config.ts");
  }
}
