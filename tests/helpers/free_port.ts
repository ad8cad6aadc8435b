// Test helper: a free TCP port, for a program that cannot be told to pick one itself.

/** A free TCP port on 127.0.0.1, as the kernel hands out for port 0. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
