// Loading `--rulesFile` into the store at start and on each reload (SIGHUP, POST /-/reload):
// an invalid new file keeps the rules in force, is logged and counted, and its reason returned.

import type { Logger } from "../core/logger.ts";
import { Rules } from "../core/rules.ts";
import type { RulesStats } from "../http/self_metrics.ts";
import type { ReloadResult } from "../http/reload.ts";
import type { Store } from "../store/store.ts";
import { readRulesFile, RulesFileError } from "./rules_file.ts";
import { NAME } from "../core/version.ts";

/** Holds the path of the rules file and the outcome of its loads; sets the store's rules. */
export class RulesLoader implements RulesStats {
  readonly #path: string;
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #now: () => number;
  #rules = 0;
  #lastSuccess = 0;
  #lastOk = true;
  #failures = 0;
  /** The reload in progress, if any. */
  #running: Promise<ReloadResult> | undefined;
  /**
   * The reload that runs once the one in progress ends: every reload asked for meanwhile shares
   * it, so that a burst of SIGHUPs or POSTs reads the file at most twice, never once per request.
   */
  #next: Promise<ReloadResult> | undefined;

  constructor(path: string, store: Store, logger: Logger, now: () => number = Date.now) {
    this.#path = path;
    this.#store = store;
    this.#logger = logger;
    this.#now = now;
  }

  /** Loads the file at start. Throws {@linkcode RulesFileError}: an invalid file stops the start. */
  async start(): Promise<void> {
    const { spec, warnings } = await readRulesFile(this.#path);
    for (const warning of warnings) this.#logger.warn(warning);
    this.#use(new Rules(spec));
    this.#logger.info("rules loaded", { rulesFile: this.#path, rules: spec.rules.length });
  }

  /** Reads the file again; keeps the rules in force when it is invalid. */
  reload(): Promise<ReloadResult> {
    if (this.#next !== undefined) return this.#next;
    if (this.#running === undefined) return this.#start();
    this.#next = this.#running.catch(() => undefined).then(() => {
      this.#next = undefined;
      return this.#start();
    });
    return this.#next;
  }

  #start(): Promise<ReloadResult> {
    const running = this.#reload().finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  async #reload(): Promise<ReloadResult> {
    try {
      const { spec, warnings } = await readRulesFile(this.#path);
      for (const warning of warnings) this.#logger.warn(warning);
      this.#use(new Rules(spec));
      const message = `rules reloaded: ${spec.rules.length} rules from ${this.#path}`;
      this.#logger.info("rules reloaded", { rulesFile: this.#path, rules: spec.rules.length });
      return { ok: true, message };
    } catch (error) {
      if (!(error instanceof RulesFileError)) throw error;
      this.#lastOk = false;
      this.#failures++;
      this.#logger.error("rules reload failed: the rules in force are kept", {
        reason: error.message,
      });
      return { ok: false, message: error.message };
    }
  }

  #use(rules: Rules): void {
    this.#store.rules = rules;
    this.#rules = rules.rules.length;
    this.#lastOk = true;
    this.#lastSuccess = this.#now() / 1000;
  }

  get rulesLoaded(): number {
    return this.#rules;
  }

  get lastReloadOk(): boolean {
    return this.#lastOk;
  }

  get lastReloadSuccessSeconds(): number {
    return this.#lastSuccess;
  }

  get reloadFailures(): number {
    return this.#failures;
  }

  get sources(): number {
    return this.#store.sourceCount;
  }

  get resets(): number {
    return this.#store.resetCount;
  }

  get staleSources(): number {
    return this.#store.staleSourceCount;
  }
}

/**
 * `check-rules FILE`: 0 when the file is valid (its warnings on stderr), 1 with
 * `FILE:LINE: reason` when not, 2 when the command is used wrongly.
 */
export async function checkRules(
  args: readonly string[],
  io: { stdout: (text: string) => void; stderr: (text: string) => void },
): Promise<number> {
  if (args.length !== 1) {
    io.stderr(`${NAME}: check-rules takes one file, as in check-rules rules.yaml; see --help\n`);
    return 2;
  }
  try {
    const { spec, warnings } = await readRulesFile(args[0]);
    for (const warning of warnings) io.stderr(warning + "\n");
    io.stdout(`${args[0]}: ${spec.rules.length} rules, default ${spec.default}: OK\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof RulesFileError)) throw error;
    io.stderr(error.message + "\n");
    return 1;
  }
}
