// The baseline of the load benchmark: a bare Deno.serve that reads each request body and
// answers 202, the least any HTTP push receiver can do.

const port = Number(Deno.args[0] ?? 0);
Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ port }) => console.log(`listening on ${port}`),
}, async (request) => {
  await request.arrayBuffer();
  return new Response(null, { status: 202 });
});
