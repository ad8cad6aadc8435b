// `prom-aggregation-gateway completion bash|zsh|fish`: the scripts the command prints, loaded
// by the real shells and asked what they complete: bash through its completion variables, fish
// with `complete -C`, zsh in a pseudo-terminal, as a user types.

import assert from "node:assert/strict";
import { FLAGS } from "../../lib/app/config.ts";
import { runCommand } from "../helpers/gateway_process.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

const NAME = "prom-aggregation-gateway";

async function script(shell: string): Promise<string> {
  const { code, stdout, stderr } = await runCommand(["completion", shell]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  return stdout;
}

async function run(
  command: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command, {
    args,
    cwd,
    stdin: "null",
    env: { HOME: cwd ?? "/tmp", LANG: "C.UTF-8" },
    clearEnv: true,
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/**
 * What bash completes for the command line `prom-aggregation-gateway ...words`, the last word
 * being the one under the cursor, split as bash splits it (`--flag=v` is `--flag`, `=`, `v`):
 * the function that the script registered with `complete` is called as bash calls it.
 */
async function bashCompletes(file: string, words: string[], cwd: string): Promise<string[]> {
  const program = `
source "$1"; shift
spec=$(complete -p ${NAME}) || exit 3
fn=\${spec#*-F }; fn=\${fn%% *}
COMP_WORDS=(${NAME} "$@"); COMP_CWORD=$#; COMP_LINE="\${COMP_WORDS[*]}"; COMP_POINT=\${#COMP_LINE}
COMPREPLY=()
"$fn" ${NAME} "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\\n' "\${COMPREPLY[@]}"
`;
  const { code, stdout, stderr } = await run("bash", ["-c", program, "bash", file, ...words], cwd);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "", words.join(" "));
  return stdout.split("\n").filter((l) => l !== "").sort();
}

Deno.test("completion bash completes commands, flags and their values in a real bash", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/completion.bash`, await script("bash"));
    await Deno.writeTextFile(`${dir}/snap.prom`, "");
    await Deno.mkdir(`${dir}/snapshots`);
    await Deno.writeTextFile(`${dir}/other.txt`, "");
    const file = `${dir}/completion.bash`;
    const cases: [string[], string[]][] = [
      [[""], ["check-rules", "completion", "help", "start", "version"]],
      [["st"], ["start"]],
      [["--gauge"], ["--gaugeBehavior"]],
      [["--gaugeBehavior", ""], ["max", "min", "replace", "sum"]],
      [["--gaugeBehavior", "m"], ["max", "min"]],
      [["start", "--gaugeBehavior", "=", "s"], ["sum"]],
      [["--logFormat", "="], ["json", "text"]],
      [["--logLevel", "w"], ["warn"]],
      [["--persistenceFile", "sn"], ["snap.prom", "snapshots"]],
      [["--persistenceFile", "=", "o"], ["other.txt"]],
      [["--apiListen", ""], []],
      [["--apiListen", "=", ":80"], []],
      [["--apiListen", ":8080", ""], ["check-rules", "completion", "help", "start", "version"]],
      [["--maxStoreBytes", "=", "1", "v"], ["version"]],
      [["start", ""], []],
      [["completion", ""], ["bash", "fish", "zsh"]],
      [["--logLevel", "debug", "completion", "f"], ["fish"]],
      [["completion", "bash", ""], []],
      [["check-rules", "sn"], ["snap.prom", "snapshots"]],
      [["check-rules", "snap.prom", ""], []],
      [["-"], [...FLAGS.map((f) => `--${f.name}`), "--help", "-h", "--version"].sort()],
    ];
    for (const [words, expected] of cases) {
      assert.deepEqual(await bashCompletes(file, words, dir), expected, words.join(" "));
    }
  });
});

Deno.test("completion fish completes commands, flags and their values in a real fish", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/completion.fish`, await script("fish"));
    await Deno.writeTextFile(`${dir}/snap.prom`, "");
    // `complete -C LINE` prints what fish completes for LINE: candidate, tab, description.
    const completes = async (line: string) => {
      const { code, stdout, stderr } = await run("fish", [
        "--no-config",
        "-c",
        `source completion.fish; complete -C ${JSON.stringify(`${NAME} ${line}`)}`,
      ], dir);
      assert.equal(code, 0, stderr);
      return stdout.split("\n").filter((l) => l !== "").map((l) => l.split("\t")[0]).sort();
    };
    assert.deepEqual(await completes(""), [
      "check-rules",
      "completion",
      "help",
      "start",
      "version",
    ]);
    assert.deepEqual(await completes("--gaugeBehavior "), ["max", "min", "replace", "sum"]);
    assert.deepEqual(await completes("--gaugeBehavior=m"), [
      "--gaugeBehavior=max",
      "--gaugeBehavior=min",
    ]);
    assert.deepEqual(await completes("--persistenceFile sn"), ["snap.prom"]);
    assert.deepEqual(await completes("completion "), ["bash", "fish", "zsh"]);
    assert.deepEqual(await completes("check-rules sn"), ["snap.prom"]);
    const flags = await completes("--");
    for (const flag of FLAGS) assert.ok(flags.includes(`--${flag.name}`), flag.name);
    assert.ok(flags.includes("--help") && flags.includes("--version"));
  });
});

/**
 * Drives an interactive zsh in a pseudo-terminal (zsh/zpty): loads compinit and the script,
 * types the line and a tab, and records every match the completion functions add. The inner
 * shell exits after the completion (comppostfuncs), which ends the read loop.
 */
const ZSH_DRIVER = `
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=''; autoload -U compinit; compinit -u -D"
zpty -w z "source \${(q)1}"
zpty -w z "compadd () { local -a h; builtin compadd -O h \\"\\$@\\"; print -rl -- \\$h >> \${(q)3}; builtin compadd \\"\\$@\\" }"
zpty -w z "comppostfuncs=( exit )"
zpty -w z "bindkey '^I' complete-word"
zpty -n -w z "$2"$'\\t'
while zpty -r z chunk; do :; done
zpty -d z
`;

Deno.test("completion zsh completes commands, flags and their values in a real zsh", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/_${NAME}`, await script("zsh"));
    await Deno.writeTextFile(`${dir}/driver.zsh`, ZSH_DRIVER);
    await Deno.writeTextFile(`${dir}/snap.prom`, "");
    const completes = async (line: string) => {
      const hits = `${dir}/hits`;
      await Deno.writeTextFile(hits, "");
      const out = await new Deno.Command("zsh", {
        args: ["-f", "driver.zsh", `${dir}/_${NAME}`, `${NAME} ${line}`, hits],
        cwd: dir,
        env: { HOME: dir, TERM: "dumb" },
        clearEnv: true,
        stdin: "null",
        signal: AbortSignal.timeout(20_000),
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      const words = (await Deno.readTextFile(hits)).split("\n").filter((w) => w !== "");
      return [...new Set(words)].sort();
    };
    assert.deepEqual(await completes(""), [
      "check-rules",
      "completion",
      "help",
      "start",
      "version",
    ]);
    assert.deepEqual(await completes("--gaugeBehavior "), ["max", "min", "replace", "sum"]);
    assert.deepEqual(await completes("--log"), ["--logFormat", "--logLevel"]);
    assert.deepEqual(await completes("--persistenceFile=sn"), ["snap.prom"]);
    assert.deepEqual(await completes("completion "), ["bash", "fish", "zsh"]);
    assert.deepEqual(await completes("check-rules sn"), ["snap.prom"]);
  });
});

Deno.test("completion zsh is valid zsh that registers itself with compinit", async () => {
  await withTempDir(async (dir) => {
    const text = await script("zsh");
    assert.ok(text.startsWith(`#compdef ${NAME}\n`));
    await Deno.writeTextFile(`${dir}/_${NAME}`, text);
    const syntax = await run("zsh", ["-n", `${dir}/_${NAME}`], dir);
    assert.equal(syntax.code, 0, syntax.stderr);
    // Loaded as `source <(... completion zsh)` is: compdef binds the function to the command.
    const loaded = await run("zsh", [
      "-f",
      "-c",
      `autoload -U compinit && compinit -u -D && source ./_${NAME} && print -r -- $_comps[${NAME}]`,
    ], dir);
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.equal(loaded.stdout, `_prom_aggregation_gateway\n`);
    for (const flag of FLAGS) assert.ok(text.includes(`'--${flag.name}=[`), flag.name);
    assert.ok(
      text.includes(
        "'--gaugeBehavior=[How pushed gauges combine: replace, sum, max or min]:gaugeBehavior:(replace sum max min)'",
      ),
    );
    assert.ok(text.includes(":persistenceFile:_files'"));
  });
});

Deno.test("completion without one known shell exits 2 and says which it takes", async () => {
  for (const args of [["completion"], ["completion", "ksh"], ["completion", "bash", "zsh"]]) {
    const { code, stdout, stderr } = await runCommand(args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(stdout, "");
    assert.equal(
      stderr,
      "prom-aggregation-gateway: completion needs one shell: bash, zsh, fish; see --help\n",
    );
  }
});
