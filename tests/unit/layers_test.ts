// The module graph of lib/: each layer imports only from itself and the layers above it
// (DESIGN.md, Layout), and no module imports itself through others.

import assert from "node:assert/strict";

/** The layers, top (imported by all) to bottom (imports all). */
const LAYERS = ["core", "ingest", "expose", "store", "http", "app"];

const LIB = new URL("../../lib/", import.meta.url);

/** Every module of lib/ (as `layer/file.ts`) with the lib modules it imports. */
async function moduleGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const layer of LAYERS) {
    for await (const entry of Deno.readDir(new URL(layer + "/", LIB))) {
      if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
      const path = `${layer}/${entry.name}`;
      const source = await Deno.readTextFile(new URL(path, LIB));
      const imports: string[] = [];
      for (
        const [, specifier] of source.matchAll(/^(?:import|export)[^;]*?from\s+"(\.[^"]+)"/gms)
      ) {
        const target = new URL(specifier, new URL(path, LIB));
        if (!target.href.startsWith(LIB.href)) continue; // deno.json, outside lib/
        imports.push(target.href.slice(LIB.href.length));
      }
      graph.set(path, imports);
    }
  }
  return graph;
}

Deno.test("lib/ has a folder for each layer and no module outside them", async () => {
  const found: string[] = [];
  for await (const entry of Deno.readDir(LIB)) {
    found.push(entry.isDirectory ? entry.name : entry.name + " (file)");
  }
  assert.deepEqual(found.toSorted(), LAYERS.toSorted());
});

Deno.test("a layer imports only from itself and the layers above it", async () => {
  const wrong: string[] = [];
  for (const [module, imports] of await moduleGraph()) {
    const layer = LAYERS.indexOf(module.split("/")[0]);
    for (const target of imports) {
      if (LAYERS.indexOf(target.split("/")[0]) > layer) wrong.push(`${module} imports ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("the module graph of lib/ has no cycle", async () => {
  const graph = await moduleGraph();
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (module: string, path: string[]) => {
    if (state.get(module) === "done") return;
    if (state.get(module) === "open") {
      cycles.push([...path.slice(path.indexOf(module)), module].join(" -> "));
      return;
    }
    state.set(module, "open");
    for (const target of graph.get(module) ?? []) visit(target, [...path, module]);
    state.set(module, "done");
  };
  for (const module of graph.keys()) visit(module, []);
  assert.deepEqual(cycles, []);
});
