// A small seeded generator for the tests that try many generated inputs, so that a failing
// case can be replayed from its seed.

/** Numbers in [0, 1) from `seed`, the same sequence for the same seed. */
export function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}
