// Writes lib/core/build_info.json, the commit a build is made from, which lib/core/version.ts
// reads for `version`, `/-/ready` and `pag_build_info`. The release workflow and the Dockerfile
// run it before `deno compile`:
//   deno run --allow-write=lib/core/build_info.json scripts/build_info.ts COMMIT
// COMMIT is a full git commit hash (40 or 64 hex digits); anything else is refused, so that no
// text from the environment ends up in the build unchecked.

const OUT = new URL("../lib/core/build_info.json", import.meta.url);

if (import.meta.main) {
  const [commit, ...rest] = Deno.args;
  if (commit === undefined || rest.length > 0 || !/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(commit)) {
    console.error(`build_info.ts: give one full commit hash, 40 or 64 lower-case hex digits`);
    Deno.exit(2);
  }
  await Deno.writeTextFile(OUT, JSON.stringify({ commit }, null, 2) + "\n");
  console.error(`build_info.ts: ${OUT.pathname} names commit ${commit}`);
}
