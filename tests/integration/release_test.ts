// What the release depends on: the workflows run .ci/run and check the tag against deno.json,
// the build's commit comes from scripts/build_info.ts (run here in a copy of the project), the
// image is built non-root with OCI labels, and LICENSE and CHANGELOG.md are there. The
// workflows themselves run on GitHub; here their YAML is read and their shell steps run.

import assert from "node:assert/strict";
import { parse } from "yaml";
// deno-lint-ignore no-import-prefix
import { validateWorkflow } from "npm:@action-validator/core@0.6.0";
import { withTempDir } from "../helpers/temp_dir.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DENO_JSON = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

// deno-lint-ignore no-explicit-any
type Workflow = any;
// deno-lint-ignore no-explicit-any
type Step = any;

async function workflow(name: string): Promise<Workflow> {
  return parse(await Deno.readTextFile(`${ROOT}.github/workflows/${name}`));
}

function step(steps: Step[], name: string): Step {
  const found = steps.filter((s) => s.name === name);
  assert.equal(found.length, 1, `step "${name}"`);
  return found[0];
}

async function bash(script: string, env: Record<string, string>, cwd = ROOT) {
  const out = await new Deno.Command("bash", {
    args: ["-eo", "pipefail", "-c", script],
    cwd,
    env,
    stdin: "null",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test("the workflows pass the GitHub workflow schema", async () => {
  for (const name of ["ci.yml", "release.yml"]) {
    const text = await Deno.readTextFile(`${ROOT}.github/workflows/${name}`);
    assert.deepEqual(validateWorkflow(text).errors, [], name);
    // The validator does find mistakes: a misspelt key.
    const broken = validateWorkflow(text.replace("runs-on:", "runs-onn:")).errors;
    assert.ok(broken.length > 0, name);
  }
});

Deno.test("ci.yml runs .ci/run on pull requests, on Debian", async () => {
  const ci = await workflow("ci.yml");
  assert.ok("pull_request" in ci.on);
  const job = ci.jobs.ci;
  assert.equal(job.container.image, "debian:12");
  assert.equal(step(job.steps, ".ci/run").run, "bash .ci/run");
});

Deno.test("release.yml checks the tag against deno.json, then runs .ci/run", async () => {
  const release = await workflow("release.yml");
  assert.deepEqual(release.on, { push: { tags: ["v*"] } });
  const check = release.jobs.check;
  assert.equal(check.container.image, "debian:12");
  const names = check.steps.map((s: Step) => s.name ?? s.uses);
  assert.ok(
    names.indexOf("The tag is deno.json's version") < names.indexOf(".ci/run"),
    "the tag is checked before the tests",
  );
  assert.equal(step(check.steps, ".ci/run").run, "bash .ci/run");
  assert.equal(release.jobs.release.needs, "check");

  // The step's own script, run with the tag GitHub would give it.
  const script = step(check.steps, "The tag is deno.json's version").run;
  const ok = await bash(script, { GITHUB_REF_NAME: `v${DENO_JSON.version}` });
  assert.equal(ok.code, 0, ok.stderr);
  const wrong = await bash(script, { GITHUB_REF_NAME: "v9.9.9" });
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stderr, `tag v9.9.9 is not v${DENO_JSON.version}, the version in deno.json\n`);
});

Deno.test("release.yml compiles every target, sums them, and builds a multi-arch image", async () => {
  const release = await workflow("release.yml");
  assert.deepEqual(release.env.TARGETS.split(" "), [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
  ]);
  const steps = release.jobs.release.steps;
  const names = steps.map((s: Step) => s.name ?? s.uses);
  const order = [
    "Build info",
    "Compile for every target",
    "Package the Helm chart",
    "SHA256SUMS",
    "softprops/action-gh-release@v2",
  ].map((n) => names.indexOf(n));
  assert.deepEqual(order, [...order].sort((a, b) => a - b), names.join(", "));
  assert.ok(!order.includes(-1), names.join(", "));
  assert.match(step(steps, "Build info").run, /scripts\/build_info\.ts "\$GITHUB_SHA"$/);
  assert.match(step(steps, "Compile for every target").run, /for target in \$TARGETS; do/);
  assert.equal(
    step(steps, "SHA256SUMS").run,
    "cd dist && sha256sum -- * > SHA256SUMS && cat SHA256SUMS",
  );
  const image = step(steps, "Container image for linux/amd64 and linux/arm64").with;
  assert.equal(image.platforms, "linux/amd64,linux/arm64");
  assert.match(image["build-args"], /^COMMIT=\$\{\{ github\.sha \}\}$/m);
  const publish = steps.find((s: Step) => s.uses === "softprops/action-gh-release@v2");
  assert.equal(publish.with.files, "dist/*");
  assert.deepEqual(release.jobs.release.permissions, { contents: "write", packages: "write" });
  // The commit goes in through the generated file, never by editing source.
  for (const s of [...steps, ...release.jobs.check.steps]) {
    assert.ok(!/\bsed\b/.test(s.run ?? ""), s.name);
  }
});

Deno.test("scripts/build_info.ts gives a build its commit, which version prints", async () => {
  await withTempDir(async (dir) => {
    // A copy of what a build compiles, as the Dockerfile copies it.
    for (const path of ["deno.json", "deno.lock", "main.ts", "lib", "scripts/build_info.ts"]) {
      const copy = await new Deno.Command("cp", {
        args: ["-r", "--parents", path, dir],
        cwd: ROOT,
      }).output();
      assert.equal(copy.code, 0, path);
    }
    const run = async (args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), { args, cwd: dir, stdin: "null" })
        .output();
      const decode = (b: Uint8Array) => new TextDecoder().decode(b);
      return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
    };
    const write = ["run", "--allow-write=lib/core/build_info.json", "scripts/build_info.ts"];
    for (const bad of [[], ["HEAD"], [COMMIT.toUpperCase()], [COMMIT, COMMIT], ["$(id)"]]) {
      const refused = await run([...write, ...bad]);
      assert.equal(refused.code, 2, bad.join(" "));
      assert.equal(
        refused.stderr,
        "build_info.ts: give one full commit hash, 40 or 64 lower-case hex digits\n",
      );
    }
    const written = await run([...write, COMMIT]);
    assert.equal(written.code, 0, written.stderr);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/lib/core/build_info.json`)), {
      commit: COMMIT,
    });
    const version = await run(["run", "-P=gateway", "main.ts", "version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(
      version.stdout,
      `prom-aggregation-gateway ${DENO_JSON.version} (commit ${COMMIT}, deno ${Deno.version.deno})\n`,
    );
  });
  // The checkout's own file names no commit.
  assert.deepEqual(
    JSON.parse(await Deno.readTextFile(`${ROOT}lib/core/build_info.json`)),
    { commit: "unknown" },
  );
});

Deno.test("the Dockerfile builds a non-root distroless image with OCI labels", async () => {
  const text = await Deno.readTextFile(`${ROOT}Dockerfile`);
  const instructions = text.replace(/\\\n/g, " ").split("\n").filter((l) => /^[A-Z]+ /.test(l));
  const from = instructions.filter((l) => l.startsWith("FROM "));
  assert.deepEqual(from, [
    "FROM --platform=$BUILDPLATFORM denoland/deno:2.9.6 AS build",
    "FROM gcr.io/distroless/cc-debian12:nonroot",
  ]);
  const last = instructions.slice(instructions.indexOf(from[1]));
  assert.ok(last.includes("USER 65532:65532"));
  assert.ok(last.includes('ENTRYPOINT ["/usr/local/bin/prom-aggregation-gateway"]'));
  const labels = last.find((l) => l.startsWith("LABEL "));
  for (
    const key of ["title", "description", "licenses", "version", "revision", "created", "source"]
  ) {
    assert.match(labels ?? "", new RegExp(`org\\.opencontainers\\.image\\.${key}=`), key);
  }
  assert.match(text, /scripts\/build_info\.ts "\$COMMIT"/);
  assert.match(text, /deno compile -P=gateway --target "\$target"/);
  assert.ok(!/\bsed\b/.test(instructions.join("\n")));
});

Deno.test("LICENSE is the Apache License 2.0 and CHANGELOG.md has this version", async () => {
  const license = await Deno.readTextFile(`${ROOT}LICENSE`);
  assert.match(license, /^\s*Apache License\n\s*Version 2\.0, January 2004\n/);
  assert.ok(license.includes("END OF TERMS AND CONDITIONS"));
  assert.ok(license.includes("APPENDIX: How to apply the Apache License to your work."));
  const changelog = await Deno.readTextFile(`${ROOT}CHANGELOG.md`);
  assert.match(changelog, /^# Changelog\n/);
  assert.match(changelog, /^## \[Unreleased\]$/m);
  assert.match(changelog, new RegExp(`^## \\[${DENO_JSON.version.replaceAll(".", "\\.")}\\]`, "m"));
});
