// Test helper: waits on a state instead of sleeping for a guessed time.

export interface WaitOptions {
  /** How long the state may take before the test fails; 20 s by default. */
  timeoutMs?: number;
  /** How often to check; 20 ms by default. */
  intervalMs?: number;
}

/**
 * Checks `check` until it holds, pausing `intervalMs` between checks; throws naming `what`
 * (a function, to describe what was seen by then) once `timeoutMs` have passed. An error that
 * `check` throws, such as a failed assertion, ends the wait at once.
 */
export async function waitUntil(
  what: string | (() => string),
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 20_000, intervalMs = 20 }: WaitOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`not within ${timeoutMs} ms: ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
