// Serves HTTP/1.1 on a listener the caller opened, with the limits a server facing the public
// internet needs and `Deno.serve` does not offer: a cap on connections, deadlines for a request's
// head, its body, an idle keep-alive connection and a response, request buffers that grow only
// with the bytes that arrive under one shared byte budget, and accept errors (out of file
// descriptors) survived with a back-off, as Go's net/http does.
// https://www.rfc-editor.org/rfc/rfc9112 (message syntax), rfc9110 (semantics)

import { concatBytes } from "../core/bytes.ts";
import { RequestError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";

/** The headers of a request, by case-insensitive name, as the handlers read them. */
export interface RequestHeaders {
  get(name: string): string | null;
}

/**
 * What a handler reads of a request: the part of the Fetch `Request` it needs, so that tests can
 * pass a `Request` and the server passes its own lighter object (making a `Request` and reading
 * its body costs more than the rest of a push).
 */
export interface HttpRequest {
  readonly method: string;
  /** The absolute URL, with the request target exactly as sent. */
  readonly url: string;
  readonly headers: RequestHeaders;
  /** The peer's address, `host:port`, as the status page shows refusals; absent when unknown. */
  readonly remoteAddress?: string;
  /**
   * The whole body. Rejects with a {@linkcode RequestError}: `body_too_large` past the server's
   * body limit, `incomplete_body` when the sender hangs up or passes the read deadline,
   * `overloaded` when the server's request buffers are full.
   */
  bytes(): Promise<Uint8Array<ArrayBuffer>>;
}

export type HttpHandler = (request: HttpRequest) => Response | Promise<Response>;

/** Limits of one listener's connections. Times in milliseconds. */
export interface ConnectionLimits {
  /** Open connections at most; one more is closed as soon as it is accepted. */
  maxConnections: number;
  /** From the first byte of a request (or the connection's start) to the end of its head. */
  readHeaderTimeout: number;
  /** From the first byte of a request to the end of its body. */
  readTimeout: number;
  /** How long a keep-alive connection may wait for its next request. */
  idleTimeout: number;
  /** From the first byte of a response to its last. */
  writeTimeout: number;
  /** The largest request head (request line and headers); past it: 431. */
  maxHeaderBytes: number;
  /** The largest request body read; past it, `bytes()` rejects with `body_too_large`. */
  maxBodyBytes: number;
}

/** Why a connection was closed by the server before its client closed it. */
export type TimeoutPhase = "header" | "body" | "idle" | "write";

/** What the server tells the gateway's own metrics. */
export interface ServerEvents {
  acceptError?(): void;
  /** A connection closed at once because `maxConnections` were open, or no buffer was left. */
  connectionRefused?(): void;
  timeout?(phase: TimeoutPhase): void;
}

/**
 * Bytes that all connections' request buffers may hold together (`--maxRequestBufferBytes`).
 * Shared by the listeners of one gateway.
 */
export class ByteBudget {
  #used = 0;
  constructor(readonly limit: number) {}

  get used(): number {
    return this.#used;
  }

  /** Takes `bytes` if they fit; returns whether they did. */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#used -= bytes;
  }
}

export interface Http1Options {
  handler: HttpHandler;
  limits: ConnectionLimits;
  budget: ByteBudget;
  logger: Logger;
  /** Names the listener in log lines. */
  name: string;
  events?: ServerEvents;
  /** The clock, in milliseconds; `performance.now` by default. */
  now?: () => number;
  /**
   * Wraps each accepted connection before it is read, such as in TLS; its handshake then counts
   * against --readHeaderTimeout like the first request's head.
   */
  wrap?: (conn: Deno.Conn) => Deno.Conn;
}

/** A connection's first buffer; it grows with what arrives and shrinks back after a request. */
const INITIAL_BUFFER = 16 * 1024;
/** Accept errors back off from 5 ms, doubling up to 1 s, as Go's net/http does. */
/**
 * Whether an accept error is about that one connection, reset or aborted by its client before
 * it was taken (Linux reports ENOTCONN or ECONNABORTED), rather than about the listener.
 */
function isGoneBeforeAccept(error: unknown): boolean {
  return error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted;
}

const FIRST_BACKOFF = 5;
const LAST_BACKOFF = 1000;

const LF = 10;
const CR = 13;
const encoder = new TextEncoder();

/**
 * An HTTP/1.1 server on `listener`. Requests on a connection are served one after another
 * (pipelined ones wait their turn); a response with a body of unknown length is sent chunked.
 */
export class Http1Server {
  readonly #listener: Deno.Listener;
  readonly #options: Http1Options;
  readonly #limits: ConnectionLimits;
  readonly #now: () => number;
  readonly #connections = new Set<Connection>();
  readonly #sweeper: ReturnType<typeof setInterval>;
  readonly #accepting: Promise<void>;
  #closing = false;
  #closed: (() => void) | undefined;

  constructor(listener: Deno.Listener, options: Http1Options) {
    this.#listener = listener;
    this.#options = options;
    this.#limits = options.limits;
    this.#now = options.now ?? (() => performance.now());
    // One timer for every deadline: a sweep a few times per shortest timeout costs less than a
    // timer set and cleared per request.
    const { readHeaderTimeout, readTimeout, idleTimeout, writeTimeout } = this.#limits;
    const shortest = Math.min(readHeaderTimeout, readTimeout, idleTimeout, writeTimeout);
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(Math.max(shortest / 8, 10), 1000));
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Stops accepting and closes idle connections; the others close after the response they are
   * serving. Resolves once every connection is closed; {@linkcode Http1Server.close} ends those
   * left.
   */
  async shutdown(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      try {
        this.#listener.close();
      } catch {
        // closed already
      }
    }
    for (const connection of this.#connections) {
      if (connection.idle) connection.close();
    }
    await this.#accepting;
    if (this.#connections.size > 0) {
      await new Promise<void>((resolve) => this.#closed = resolve);
    }
    clearInterval(this.#sweeper);
  }

  /** Closes every connection now, whatever it is doing. */
  close(): void {
    this.#closing = true;
    try {
      this.#listener.close();
    } catch {
      // closed already
    }
    for (const connection of this.#connections) connection.close();
    clearInterval(this.#sweeper);
  }

  get closing(): boolean {
    return this.#closing;
  }

  async #acceptLoop(): Promise<void> {
    const { logger, events } = this.#options;
    let backoff = 0;
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) return;
        if (isGoneBeforeAccept(error)) {
          // A client reset its connection while it waited in the queue: nothing to wait for,
          // so the next one is taken at once (a back-off here lets resets stall the listener).
          events?.acceptError?.();
          continue;
        }
        // Out of file descriptors, most often: wait for connections to close, then go on.
        backoff = backoff === 0 ? FIRST_BACKOFF : Math.min(2 * backoff, LAST_BACKOFF);
        events?.acceptError?.();
        logger.error("accept failed; retrying", {
          listener: this.#options.name,
          error: String(error),
          retryMs: backoff,
        });
        await new Promise((resolve) => setTimeout(resolve, backoff));
        continue;
      }
      backoff = 0;
      if (this.#closing) {
        conn.close();
        return;
      }
      if (
        this.#connections.size >= this.#limits.maxConnections ||
        !this.#options.budget.take(INITIAL_BUFFER)
      ) {
        events?.connectionRefused?.();
        try {
          conn.close();
        } catch {
          // gone already
        }
        continue;
      }
      const wrap = this.#options.wrap;
      const connection = new Connection(wrap === undefined ? conn : wrap(conn), this);
      this.#connections.add(connection);
      connection.serve().finally(() => {
        this.#connections.delete(connection);
        if (this.#closing && this.#connections.size === 0) this.#closed?.();
      });
    }
  }

  #sweep(): void {
    const now = this.#now();
    for (const connection of this.#connections) {
      if (connection.deadline <= now) {
        this.#options.events?.timeout?.(connection.phase);
        connection.expire();
      }
    }
  }

  /** For the connections: the options, limits and clock. */
  get options(): Http1Options {
    return this.#options;
  }
  get limits(): ConnectionLimits {
    return this.#limits;
  }
  now(): number {
    return this.#now();
  }
}

/** The head of a request, parsed. */
interface RequestHead {
  method: string;
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  /** Lower-case names and values, in order. */
  headers: string[];
}

class Headers1 implements RequestHeaders {
  readonly #pairs: string[];
  constructor(pairs: string[]) {
    this.#pairs = pairs;
  }

  get(name: string): string | null {
    const pairs = this.#pairs;
    name = name.toLowerCase();
    let found: string | null = null;
    for (let i = 0; i < pairs.length; i += 2) {
      if (pairs[i] !== name) continue;
      // Repeated fields are one list (RFC 9110, 5.3), as Headers.get() joins them.
      found = found === null ? pairs[i + 1] : found + ", " + pairs[i + 1];
    }
    return found;
  }
}

/** A syntax error in a request head, answered 400 (or 431, 501 where `status` says). */
class HeadError extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

/** One client connection: reads requests, calls the handler, writes responses. */
class Connection {
  readonly #conn: Deno.Conn;
  readonly #server: Http1Server;
  /** Unread bytes are `#buffer[#start, #end)`. */
  #buffer: Uint8Array<ArrayBuffer> = new Uint8Array(INITIAL_BUFFER);
  #start = 0;
  #end = 0;
  #closed = false;
  /** Budget bytes taken for the current request's decoded chunked body. */
  #bodyBytes = 0;
  /** Set when a deadline passed: only the 408 may still be written. */
  #expired = false;
  /** When the current request's first byte came (or the connection, for its first request). */
  #requestStart = 0;
  readonly #remoteAddress: string;
  /** When the current phase must be over, in the server's clock. */
  deadline = Infinity;
  phase: TimeoutPhase = "header";
  /** Waiting for a request, with none of it read: closed at once on shutdown. */
  idle = true;

  constructor(conn: Deno.Conn, server: Http1Server) {
    this.#conn = conn;
    this.#server = server;
    this.#remoteAddress = addressText(conn.remoteAddr);
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // not TCP, or closed already
    }
  }

  /**
   * Ends a connection whose phase took too long. A request that is partly read is answered
   * 408 first, so its sender learns why; the handler still waiting for its body then finds it
   * cut short, and its own answer is not sent.
   */
  expire(): void {
    if (this.#expired) return this.close(); // the 408 itself did not get out in time
    this.#expired = true;
    const phase = this.phase;
    if (phase === "body" || (phase === "header" && !this.idle)) {
      const limit = phase === "body" ? "--readTimeout" : "--readHeaderTimeout";
      this.#refuse(408, `the request took longer than ${limit}`);
    } else {
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // closed already
    }
  }

  async serve(): Promise<void> {
    const { limits } = this.#server;
    try {
      let first = true;
      while (!this.#closed) {
        this.idle = true;
        this.phase = first ? "header" : "idle";
        // Refined in #readHead when the next request's first byte arrives.
        this.#requestStart = this.#server.now();
        this.deadline = this.#requestStart +
          (first ? limits.readHeaderTimeout : limits.idleTimeout);
        if (this.#server.closing && !first) return;
        let head: RequestHead | undefined;
        try {
          head = await this.#readHead();
        } catch (error) {
          if (!(error instanceof HeadError)) throw error;
          await this.#refuse(error.status, error.message);
          return;
        }
        if (head === undefined) return;
        first = false;
        if (!(await this.#serveRequest(head))) return;
      }
    } catch (error) {
      if (!this.#closed && !isDisconnect(error)) {
        this.#server.options.logger.error("connection failed", {
          listener: this.#server.options.name,
          error: String(error),
        });
      }
    } finally {
      this.close();
      this.#server.options.budget.give(this.#buffer.length);
      this.#releaseBody();
    }
  }

  /** Reads and parses the next request head; undefined when the connection ends first. */
  async #readHead(): Promise<RequestHead | undefined> {
    const { limits } = this.#server;
    // How far past the start the head was searched; an offset, since reading may move the bytes.
    let searched = 0;
    for (;;) {
      const end = findHeadEnd(this.#buffer, this.#start + searched, this.#end);
      if (end !== -1) return this.#parseHead(end);
      searched = Math.max(0, this.#end - this.#start - 3);
      if (this.#end - this.#start >= limits.maxHeaderBytes) {
        await this.#refuse(431, "request head too large");
        return undefined;
      }
      if (this.#end === this.#start && this.phase === "idle" && this.#start > 0) {
        this.#start = this.#end = 0;
      }
      const read = await this.#fill(limits.maxHeaderBytes);
      if (read === "full") {
        await this.#refuse(503, overloaded().message);
        return undefined;
      }
      if (read === "end") return undefined;
      if (this.idle) {
        // The first byte of a request: its head is due within the header timeout.
        this.idle = false;
        this.phase = "header";
        this.#requestStart = this.#server.now();
        this.deadline = this.#requestStart + limits.readHeaderTimeout;
      }
    }
  }

  /** Parses the head that ends at `end` (after its blank line) and consumes it. */
  #parseHead(end: number): RequestHead {
    const bytes = this.#buffer;
    let start = this.#start;
    // A request may be preceded by blank lines (RFC 9112, 2.2).
    while (start < end && (bytes[start] === CR || bytes[start] === LF)) start++;
    const text = latin1(bytes, start, end);
    this.#start = end;
    const lines = text.split("\n");
    const requestLine = stripCr(lines[0]);
    const sp1 = requestLine.indexOf(" ");
    const sp2 = requestLine.indexOf(" ", sp1 + 1);
    const version = requestLine.slice(sp2 + 1);
    if (sp1 <= 0 || sp2 <= sp1 + 1 || (version !== "HTTP/1.1" && version !== "HTTP/1.0")) {
      throw new HeadError("malformed request line");
    }
    const method = requestLine.slice(0, sp1);
    const target = requestLine.slice(sp1 + 1, sp2);
    if (!isToken(method) || target.includes(" ")) throw new HeadError("malformed request line");
    const headers: string[] = [];
    for (let i = 1; i < lines.length; i++) {
      const line = stripCr(lines[i]);
      if (line === "") continue;
      const colon = line.indexOf(":");
      const name = colon > 0 ? line.slice(0, colon) : "";
      if (!isToken(name)) throw new HeadError("malformed header field");
      const value = line.slice(colon + 1).trim();
      if (value.includes("\r") || value.includes("\0")) throw new HeadError("malformed header");
      headers.push(name.toLowerCase(), value);
    }
    return { method, target, minor: version === "HTTP/1.1" ? 1 : 0, headers };
  }

  /**
   * Serves one request whose head is read; returns whether the connection goes on to the
   * next one.
   */
  async #serveRequest(head: RequestHead): Promise<boolean> {
    const server = this.#server;
    const { limits } = server;
    const headers = new Headers1(head.headers);
    this.idle = false;
    // --readTimeout counts the head too, from the request's first byte.
    const readDeadline = this.#requestStart + limits.readTimeout;
    let framing: BodyFraming;
    try {
      framing = bodyFraming(headers);
    } catch (error) {
      if (!(error instanceof HeadError)) throw error;
      await this.#refuse(error.status, error.message);
      return false;
    }
    const url = requestUrl(head.target, headers.get("host"));
    if (url === undefined) {
      await this.#refuse(400, "malformed request target");
      return false;
    }
    let keepAlive = head.minor === 1
      ? !hasToken(headers.get("connection"), "close")
      : hasToken(headers.get("connection"), "keep-alive");
    let consumed = framing.length === 0;
    let read: Promise<Uint8Array<ArrayBuffer>> | undefined;
    const expectContinue = head.minor === 1 &&
      (headers.get("expect") ?? "").toLowerCase() === "100-continue";
    const request: HttpRequest = {
      method: head.method,
      url,
      headers,
      remoteAddress: this.#remoteAddress,
      bytes: () => {
        read ??= this.#readBody(framing, expectContinue).then((body) => {
          consumed = true;
          return body;
        });
        return read;
      },
    };
    this.phase = "body";
    this.deadline = readDeadline;
    let response: Response;
    try {
      response = await server.options.handler(request);
    } catch (error) {
      server.options.logger.error("request failed", {
        listener: server.options.name,
        error: String(error),
      });
      response = new Response("internal error\n", {
        status: 500,
        headers: { "Content-Type": "text/plain; charset=utf-8" },
      });
    }
    // A body the handler did not read, or could not read to its end, leaves the connection
    // with no known start of the next request.
    if (read !== undefined) await read.catch(() => {});
    if (!consumed) keepAlive = false;
    if (server.closing) keepAlive = false;
    if (hasToken(response.headers.get("connection"), "close")) keepAlive = false;
    await this.#writeResponse(response, head, keepAlive);
    this.#shrink();
    this.#releaseBody();
    return keepAlive && !this.#closed;
  }

  /** Reads a body as `framing` says; the request's read deadline is already set. */
  async #readBody(
    framing: BodyFraming,
    expectContinue: boolean,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const { limits } = this.#server;
    const tooLarge = () =>
      new RequestError(`body exceeds the limit of ${limits.maxBodyBytes} bytes`, "body_too_large");
    if (framing.length > limits.maxBodyBytes) throw tooLarge();
    if (expectContinue && this.#end === this.#start) {
      await this.#write(encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
    }
    try {
      if (framing.length >= 0) {
        await this.#need(framing.length, framing.length);
        const body = this.#buffer.slice(this.#start, this.#start + framing.length);
        this.#start += framing.length;
        return body;
      }
      return await this.#readChunked(limits.maxBodyBytes, tooLarge);
    } finally {
      this.phase = "write";
      this.deadline = Infinity;
    }
  }

  /** A chunked body (RFC 9112, 7.1), decoded, refused past `limit`. */
  async #readChunked(
    limit: number,
    tooLarge: () => RequestError,
  ): Promise<Uint8Array<ArrayBuffer>> {
    // The decoded body grows in one buffer that draws on the byte budget like the connection's,
    // and gives it back once the request is answered (see `#releaseBody`).
    let body = new Uint8Array(0);
    let size = 0;
    for (;;) {
      const line = await this.#readLine(4096);
      const semicolon = line.indexOf(";");
      const sizeText = (semicolon === -1 ? line : line.slice(0, semicolon)).trim();
      if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw incomplete("invalid chunk size");
      const length = parseInt(sizeText, 16);
      if (length === 0) break;
      if (size + length > limit) throw tooLarge();
      await this.#need(length + 2, limit - size + 2);
      if (size + length > body.length) {
        const grown = Math.min(Math.max(2 * body.length, size + length, 4096), limit);
        if (!this.#server.options.budget.take(grown - body.length)) throw overloaded();
        this.#bodyBytes += grown - body.length;
        const larger = new Uint8Array(grown);
        larger.set(body.subarray(0, size));
        body = larger;
      }
      body.set(this.#buffer.subarray(this.#start, this.#start + length), size);
      if (
        this.#buffer[this.#start + length] !== CR || this.#buffer[this.#start + length + 1] !== LF
      ) {
        throw incomplete("chunk not followed by CRLF");
      }
      this.#start += length + 2;
      size += length;
    }
    // Trailer fields, ignored, up to the blank line.
    let trailerBytes = 0;
    for (;;) {
      const line = await this.#readLine(4096);
      if (line === "") break;
      trailerBytes += line.length;
      if (trailerBytes > this.#server.limits.maxHeaderBytes) throw incomplete("trailer too large");
    }
    return size === body.length ? body : body.slice(0, size);
  }

  /** Gives back to the budget what the last request's decoded body took. */
  #releaseBody(): void {
    this.#server.options.budget.give(this.#bodyBytes);
    this.#bodyBytes = 0;
  }

  /** The next line (without CR LF) of at most `max` bytes. */
  async #readLine(max: number): Promise<string> {
    // How far past the start the line was searched; an offset, since reading may move the bytes.
    for (let searched = 0;;) {
      const from = this.#start + searched;
      const lf = this.#buffer.subarray(from, this.#end).indexOf(LF);
      if (lf !== -1) {
        const end = from + lf;
        const line = stripCr(latin1(this.#buffer, this.#start, end));
        this.#start = end + 1;
        return line;
      }
      searched = this.#end - this.#start;
      if (searched > max) throw incomplete("line too long in a chunked body");
      await this.#needMore(max + 2);
    }
  }

  /** Waits until `count` unread bytes are buffered; `most` bounds what the buffer may grow to. */
  async #need(count: number, most: number): Promise<void> {
    while (this.#end - this.#start < count) await this.#needMore(most);
  }

  async #needMore(most: number): Promise<void> {
    const read = await this.#fill(most);
    if (read === "full") throw overloaded();
    if (read === "end") throw incomplete("the sender closed the connection or took too long");
  }

  /**
   * Reads what arrives into the buffer, growing it when full: to twice its size, but not past
   * `most` unread bytes, so that memory follows the bytes that arrive, not what a header
   * declares. "full" when the byte budget has no room for the growth; "end" at the end of the
   * stream or a read error (a timeout closes the connection).
   */
  async #fill(most: number): Promise<"read" | "full" | "end"> {
    if (this.#closed) return "end";
    if (this.#end === this.#buffer.length) {
      const unread = this.#end - this.#start;
      if (this.#start > 0) this.#buffer.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = unread;
      if (unread === this.#buffer.length) {
        // Callers ask for at most `most` unread bytes, and hold fewer: there is room to grow.
        const size = Math.max(Math.min(2 * unread, most), unread + 1);
        if (!this.#server.options.budget.take(size - unread)) return "full";
        const buffer = new Uint8Array(size);
        buffer.set(this.#buffer);
        this.#buffer = buffer;
      }
    }
    let n: number | null;
    try {
      n = await this.#conn.read(this.#buffer.subarray(this.#end));
    } catch (error) {
      if (this.#closed || isDisconnect(error)) return "end";
      throw error;
    }
    if (n === null) return "end";
    this.#end += n;
    return "read";
  }

  /** After a request: a buffer grown for a large body goes back to its first size. */
  #shrink(): void {
    if (this.#buffer.length <= INITIAL_BUFFER) return;
    const unread = this.#end - this.#start;
    if (unread > INITIAL_BUFFER) return;
    const buffer = new Uint8Array(INITIAL_BUFFER);
    buffer.set(this.#buffer.subarray(this.#start, this.#end));
    this.#server.options.budget.give(this.#buffer.length - INITIAL_BUFFER);
    this.#buffer = buffer;
    this.#start = 0;
    this.#end = unread;
  }

  /** Answers a request the server cannot read, and closes the connection after. */
  async #refuse(status: number, message: string): Promise<void> {
    const body = encoder.encode(message + "\n");
    const head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\ndate: ${httpDate()}\r\n` +
      `content-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n` +
      `connection: close\r\n\r\n`;
    this.phase = "write";
    this.deadline = this.#server.now() + this.#server.limits.writeTimeout;
    try {
      await this.#write(concatBytes([encoder.encode(head), body]));
    } catch {
      // the client is gone; nothing to tell it
    }
    this.close();
  }

  async #writeResponse(response: Response, head: RequestHead, keepAlive: boolean): Promise<void> {
    const { limits } = this.#server;
    if (this.#expired) {
      await response.body?.cancel().catch(() => {});
      return;
    }
    this.phase = "write";
    this.deadline = this.#server.now() + limits.writeTimeout;
    const status = response.status;
    let text = `HTTP/1.1 ${status} ${response.statusText || reasonPhrase(status)}\r\n` +
      `date: ${httpDate()}\r\n`;
    let hasLength = false;
    for (const [name, value] of response.headers) {
      if (name === "connection" || name === "transfer-encoding" || name === "keep-alive") continue;
      if (name === "content-length") hasLength = true;
      text += `${name}: ${value}\r\n`;
    }
    if (!keepAlive) text += "connection: close\r\n";
    else if (head.minor === 0) text += "connection: keep-alive\r\n";
    const noBody = head.method === "HEAD" || status === 204 || status === 304 || status < 200;
    const body = response.body;
    if (body === null || noBody) {
      if (body !== null) await body.cancel().catch(() => {});
      if (!hasLength && status !== 204 && status !== 304 && head.method !== "HEAD") {
        text += "content-length: 0\r\n";
      }
      await this.#write(encoder.encode(text + "\r\n"));
      return;
    }
    const reader = body.getReader();
    try {
      const first = await reader.read();
      const second = first.done ? first : await reader.read();
      if (second.done) {
        // The whole body in hand: sent with its length.
        const bytes = first.done ? new Uint8Array(0) : first.value;
        if (!hasLength) text += `content-length: ${bytes.length}\r\n`;
        await this.#write(concatBytes([encoder.encode(text + "\r\n"), bytes]));
        return;
      }
      if (head.minor === 0) {
        // HTTP/1.0 has no chunked coding: the body ends with the connection.
        await this.#write(encoder.encode(text + "\r\n"));
        await this.#write(first.value!);
        await this.#write(second.value);
        for (let next; !(next = await reader.read()).done;) await this.#write(next.value);
        this.close();
        return;
      }
      text += "transfer-encoding: chunked\r\n\r\n";
      await this.#write(concatBytes([encoder.encode(text), chunk(first.value!)]));
      await this.#write(chunk(second.value));
      for (let next; !(next = await reader.read()).done;) {
        if (next.value.length > 0) await this.#write(chunk(next.value));
      }
      await this.#write(encoder.encode("0\r\n\r\n"));
    } catch (error) {
      // The body failed, or the client went away: the response cannot be completed.
      reader.cancel(error).catch(() => {});
      this.close();
      if (!isDisconnect(error) && !this.#closed) throw error;
    } finally {
      reader.releaseLock();
    }
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      written += await this.#conn.write(bytes.subarray(written));
    }
  }
}

/** How a request's body is framed: its length, or -1 for chunked. */
interface BodyFraming {
  length: number;
}

/**
 * Reads the body framing from the headers (RFC 9112, 6.3). A request with both
 * Transfer-Encoding and Content-Length, or with differing lengths, is refused: a proxy in front
 * could read it otherwise (request smuggling).
 */
function bodyFraming(headers: RequestHeaders): BodyFraming {
  const transfer = headers.get("transfer-encoding");
  const length = headers.get("content-length");
  if (transfer !== null) {
    if (length !== null) throw new HeadError("both Transfer-Encoding and Content-Length");
    if (transfer.trim().toLowerCase() !== "chunked") {
      throw new HeadError(`unsupported Transfer-Encoding "${transfer}"`, 501);
    }
    return { length: -1 };
  }
  if (length === null) return { length: 0 };
  const values = length.split(",").map((v) => v.trim());
  if (!values.every((v) => /^\d{1,15}$/.test(v) && v === values[0])) {
    throw new HeadError("invalid Content-Length");
  }
  return { length: Number(values[0]) };
}

/** The request's absolute URL; undefined for a target that is not a path or an absolute URL. */
function requestUrl(target: string, host: string | null): string | undefined {
  if (target.startsWith("/")) {
    const authority = host !== null && /^[A-Za-z0-9.\-_:[\]]{1,255}$/.test(host)
      ? host
      : "localhost";
    return `http://${authority}${target}`;
  }
  if (target === "*") return "http://localhost/*";
  if (/^https?:\/\/[^/?#]+(\/|$)/i.test(target)) return target;
  return undefined;
}

/** Where the head that starts at `from` ends (after its blank line), or -1. */
function findHeadEnd(bytes: Uint8Array, from: number, to: number): number {
  for (let i = bytes.subarray(from, to).indexOf(LF); i !== -1;) {
    const at = from + i;
    // LF LF, or LF CR LF: a blank line.
    if (bytes[at + 1] === LF && at + 1 < to) return at + 2;
    if (bytes[at + 1] === CR && bytes[at + 2] === LF && at + 2 < to) return at + 3;
    const next = bytes.subarray(at + 1, to).indexOf(LF);
    i = next === -1 ? -1 : at + 1 - from + next;
  }
  return -1;
}

/** Bytes as a string of the same char codes (ISO-8859-1), as HTTP fields are read. */
function latin1(bytes: Uint8Array, from: number, to: number): string {
  let text = "";
  for (let i = from; i < to; i += 4096) {
    text += String.fromCharCode.apply(
      null,
      bytes.subarray(i, Math.min(i + 4096, to)) as unknown as number[],
    );
  }
  return text;
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/** Whether a comma-separated header value holds `token`, in any case. */
function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  return value.split(",").some((part) => part.trim().toLowerCase() === token);
}

function chunk(bytes: Uint8Array): Uint8Array {
  return concatBytes([encoder.encode(bytes.length.toString(16) + "\r\n"), bytes, CRLF]);
}

const CRLF = encoder.encode("\r\n");

function overloaded(): RequestError {
  return new RequestError(
    "the gateway is reading too many requests at once (--maxRequestBufferBytes); retry later",
    "overloaded",
  );
}

function incomplete(why: string): RequestError {
  return new RequestError(`the body could not be read to its end: ${why}`, "incomplete_body");
}

/** Whether an I/O error means the peer went away (or the server closed the connection). */
function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.ConnectionAborted || error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.UnexpectedEof;
}

let dateSecond = -1;
let dateText = "";

/** The current time as an HTTP date, made once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  202: "Accepted",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Unknown";
}

/** A peer's address as text: `host:port`, `[v6]:port`, or the socket path. */
function addressText(address: Deno.Addr): string {
  if (address.transport === "tcp" || address.transport === "udp") {
    const { hostname, port } = address;
    return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  }
  return "path" in address ? address.path ?? "" : "";
}
