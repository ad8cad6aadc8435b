// The HTTP/1.1 server over real sockets, with requests written byte by byte: framing, pipelining,
// chunked bodies, Expect: 100-continue, HTTP/1.0 and the requests it must refuse.

import assert from "node:assert/strict";
import { ByteBudget, Http1Server, type HttpRequest } from "../../lib/http/http1.ts";
import { createSilentLogger } from "../helpers/silent_logger.ts";

const encoder = new TextEncoder();

/** A server whose handler answers with the method, the path and the body's length and sum. */
async function withServer(
  fn: (port: number) => Promise<void>,
  options: { maxBodyBytes?: number } = {},
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = new Http1Server(listener, {
    name: "test",
    logger: createSilentLogger(),
    budget: new ByteBudget(64 << 20),
    limits: {
      maxConnections: 16,
      maxHeaderBytes: 64 * 1024,
      maxBodyBytes: options.maxBodyBytes ?? 1 << 20,
      readHeaderTimeout: 5000,
      readTimeout: 5000,
      idleTimeout: 5000,
      writeTimeout: 5000,
    },
    async handler(request: HttpRequest) {
      let body: Uint8Array;
      try {
        body = await request.bytes();
      } catch (error) {
        return new Response(`refused: ${(error as Error).message}`, { status: 400 });
      }
      const sum = body.reduce((a, b) => (a + b) % 65536, 0);
      const path = new URL(request.url).pathname;
      return new Response(`${request.method} ${path} ${body.length} ${sum}`);
    },
  });
  try {
    await fn((listener.addr as Deno.NetAddr).port);
  } finally {
    server.close();
    await server.shutdown();
  }
}

/** Writes `parts` one after another (each a separate write), then reads until the server closes. */
async function exchange(port: number, parts: (string | Uint8Array)[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  for (const part of parts) {
    await conn.write(typeof part === "string" ? encoder.encode(part) : part);
  }
  const chunks: string[] = [];
  const buffer = new Uint8Array(65536);
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(decoder.decode(buffer.subarray(0, n)));
    }
  } finally {
    conn.close();
  }
  return chunks.join("");
}

/** The bodies of the responses in `text`, in order (each with a content-length). */
function bodies(text: string): string[] {
  const found: string[] = [];
  let rest = text;
  while (rest.length > 0) {
    const headEnd = rest.indexOf("\r\n\r\n");
    const head = rest.slice(0, headEnd);
    const length = Number(head.match(/content-length: (\d+)/i)?.[1] ?? 0);
    found.push(`${head.split("\r\n")[0]} | ${rest.slice(headEnd + 4, headEnd + 4 + length)}`);
    rest = rest.slice(headEnd + 4 + length);
  }
  return found;
}

function sumOf(text: string): number {
  return encoder.encode(text).reduce((a, b) => (a + b) % 65536, 0);
}

Deno.test("Http1Server answers pipelined requests in order, on one connection", async () => {
  await withServer(async (port) => {
    const text = await exchange(port, [
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
      "GET /b HTTP/1.1\r\nHost: x\r\n\r\n" +
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nz",
    ]);
    assert.deepEqual(bodies(text), [
      `HTTP/1.1 200 OK | POST /a 3 ${sumOf("abc")}`,
      "HTTP/1.1 200 OK | GET /b 0 0",
      `HTTP/1.1 200 OK | POST /c 1 ${sumOf("z")}`,
    ]);
  });
});

Deno.test("Http1Server reads heads and bodies that arrive a few bytes at a time, past its first buffer", async () => {
  await withServer(async (port) => {
    // A first request takes part of the buffer; the second's head and body are larger than the
    // buffer the connection starts with, so it is moved and grown while they arrive.
    const first = "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
      "a".repeat(5000);
    const body = "b".repeat(40_000);
    const second = `POST /two HTTP/1.1\r\nHost: x\r\nX-Pad: ${"p".repeat(20_000)}\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const whole = first + second;
    const parts: string[] = [];
    for (let i = 0; i < whole.length; i += 997) parts.push(whole.slice(i, i + 997));
    assert.deepEqual(bodies(await exchange(port, parts)), [
      `HTTP/1.1 200 OK | POST /one 5000 ${sumOf("a".repeat(5000))}`,
      `HTTP/1.1 200 OK | POST /two 40000 ${sumOf(body)}`,
    ]);
  });
});

Deno.test("Http1Server decodes chunked bodies, with extensions and trailers", async () => {
  await withServer(async (port) => {
    const text = await exchange(port, [
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
      "5;ext=1\r\nhello\r\n",
      "6\r\n world\r\n",
      "0\r\nX-Trailer: t\r\n\r\n",
    ]);
    assert.deepEqual(bodies(text), [`HTTP/1.1 200 OK | POST /c 11 ${sumOf("hello world")}`]);
  });
});

Deno.test("Http1Server refuses a chunked body past its limit, and ambiguous framing", async () => {
  await withServer(async (port) => {
    const big = await exchange(port, [
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      "800\r\n" + "x".repeat(0x800) + "\r\n0\r\n\r\n",
    ]);
    assert.match(big, /^HTTP\/1\.1 400 [^]*refused: body exceeds the limit of 1024 bytes/);
    // Content-Length and Transfer-Encoding together could be read otherwise by a proxy.
    const both = await exchange(port, [
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
    ]);
    assert.match(both, /^HTTP\/1\.1 400 /);
    const lengths = await exchange(port, [
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    ]);
    assert.match(lengths, /^HTTP\/1\.1 400 /);
    const line = await exchange(port, ["GARBAGE\r\n\r\n"]);
    assert.match(line, /^HTTP\/1\.1 400 /);
  }, { maxBodyBytes: 1024 });
});

Deno.test("Http1Server sends 100 Continue before reading a body that waits for it", async () => {
  await withServer(async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(encoder.encode(
        "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n" +
          "Connection: close\r\n\r\n",
      ));
      const buffer = new Uint8Array(1024);
      const n = await conn.read(buffer);
      assert.equal(
        new TextDecoder().decode(buffer.subarray(0, n!)),
        "HTTP/1.1 100 Continue\r\n\r\n",
      );
      await conn.write(encoder.encode("ok"));
      const m = await conn.read(buffer);
      assert.match(
        new TextDecoder().decode(buffer.subarray(0, m!)),
        /^HTTP\/1\.1 200 [^]*POST \/e 2/,
      );
    } finally {
      conn.close();
    }
  });
});

Deno.test("Http1Server closes an HTTP/1.0 connection after its response", async () => {
  await withServer(async (port) => {
    // No Connection: close: HTTP/1.0 closes by default, and the read ends.
    const text = await exchange(port, ["GET /old HTTP/1.0\r\n\r\n"]);
    assert.deepEqual(bodies(text), ["HTTP/1.1 200 OK | GET /old 0 0"]);
    assert.match(text, /connection: close/i);
  });
});
