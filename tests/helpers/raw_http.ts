// Test helper: HTTP/1.1 by hand over a raw connection, for requests no HTTP client sends, such
// as one whose body stops halfway.

import assert from "node:assert/strict";

const encoder = new TextEncoder();

/**
 * Sends the head of a push that declares `contentLength` body bytes with
 * `Expect: 100-continue`, and resolves once the server answers `100 Continue`: it does so when
 * the handler starts reading the body, so the request is then surely in flight. What the body
 * holds, and when, is up to the caller.
 */
export async function startRawPush(
  hostname: string,
  port: number,
  path: string,
  contentLength: number,
): Promise<Deno.TcpConn> {
  const connection = await Deno.connect({ hostname, port });
  await connection.write(encoder.encode(
    `POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Length: ${contentLength}\r\n` +
      "Expect: 100-continue\r\nConnection: close\r\n\r\n",
  ));
  assert.match(await readSome(connection), /^HTTP\/1\.1 100 Continue/);
  return connection;
}

/** What one read of `connection` returns, as text; "" once the server has closed it. */
export async function readSome(connection: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(4096);
  const n = await connection.read(buffer);
  return n === null ? "" : new TextDecoder().decode(buffer.subarray(0, n));
}
