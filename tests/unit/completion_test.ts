import assert from "node:assert/strict";
import { ConfigError, FLAGS } from "../../lib/app/config.ts";
import { completionScript, SHELLS, valueHint } from "../../lib/app/completion.ts";

Deno.test("valueHint() offers a flag's choices, which all parse, and files for …File flags", () => {
  for (const flag of FLAGS) {
    let refusal = "";
    try {
      flag.parse("no-such-value", { explicit: true });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      refusal = error.message;
    }
    const hint = valueHint(flag);
    // A flag that takes one of a list must say which, for completion to offer them.
    const listed = refusal.match(/is not one of (.+)$/)?.[1];
    if (listed !== undefined) {
      assert.deepEqual(hint, { kind: "choices", values: listed.split(", ") }, flag.name);
    }
    if (hint.kind === "choices") {
      for (const value of hint.values) flag.parse(value, { explicit: true });
    }
    assert.equal(hint.kind === "file", flag.name.endsWith("File"), flag.name);
  }
  assert.deepEqual(valueHint({ name: "rulesFile" }), { kind: "file" });
  assert.deepEqual(valueHint({ name: "webConfigFile" }), { kind: "file" });
});

Deno.test("completionScript() names every command and flag in every shell", () => {
  const flags = [...FLAGS, { name: "newFlag", description: "Added later", default: "" }];
  for (const shell of SHELLS) {
    const text = completionScript(shell, ["start", "check-rules"], flags);
    for (const word of ["start", "check-rules", ...flags.map((f) => f.name)]) {
      assert.ok(text.includes(word), `${shell}: ${word}`);
    }
  }
});
