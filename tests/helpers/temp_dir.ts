// Test helper: a temporary folder that is removed whatever the test does in it.

/** Runs `fn` with a new folder in the system's temporary folder, then removes the folder. */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T>,
  prefix = "pag-test-",
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
