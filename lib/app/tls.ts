// TLS for the listeners (`tls_server_config` of --webConfigFile): the server certificate, re-read
// when its files change, and each accepted TCP connection upgraded to TLS.
//
// Deno.listenTls takes its certificate once, when it binds; swapping listeners would drop the
// connections queued on the old one. Instead the listeners stay plain TCP and every accepted
// connection goes through a node:tls server socket made from the certificate current at that
// moment: a rotation affects new connections only, and no connection is ever refused for it.
// The HTTP server sees the upgraded connection as a Deno.Conn, so that its deadlines, caps and
// budgets apply unchanged; a handshake that stalls is bounded by --readHeaderTimeout.

import tls from "node:tls";
import { Duplex } from "node:stream";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Logger } from "../core/logger.ts";
import type { PemSource, TlsServerSettings } from "./web_config.ts";
import { MAX_PEM_BYTES, readSmallFile, WebConfigError } from "./web_config.ts";

/** How often the certificate and key files are checked for changes. */
export const CERTIFICATE_POLL_MS = 2000;

/**
 * Bytes of decrypted data one connection buffers ahead of the HTTP server's reads before it
 * stops reading from the socket; TLS records are at most 16 KiB.
 */
const READ_AHEAD = 32 * 1024;
/** Bytes of one read from the TCP socket: one TLS record and its header. */
const RAW_READ = 16 * 1024 + 256;

/** What the TLS layer tells the gateway's own metrics. */
export interface TlsEvents {
  /**
   * A connection ended before its handshake completed, for any reason, once per connection: a
   * plain-HTTP client, a bad hello, a reset, a close, a handshake past --readHeaderTimeout.
   */
  handshakeFailure?(): void;
  /** The certificate files changed and were loaded ("success") or kept out ("failure"). */
  certificateReload?(result: "success" | "failure"): void;
}

/** A certificate and key, read and checked. */
interface KeyPair {
  cert: string;
  key: string;
  notAfter: string;
}

/** The server certificate: loaded at start, re-read when its files change. */
export class TlsCertificates {
  readonly #settings: TlsServerSettings;
  readonly #logger: Logger;
  readonly #events: TlsEvents;
  #context: tls.SecureContext;
  #pair: KeyPair;
  #stamp: string;
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking = false;

  /** Loads the certificate and key; throws a {@linkcode WebConfigError} if they are unusable. */
  constructor(settings: TlsServerSettings, logger: Logger, events: TlsEvents = {}) {
    this.#settings = settings;
    this.#logger = logger;
    this.#events = events;
    this.#stamp = this.#fileStamp();
    this.#pair = this.#read();
    this.#context = this.#makeContext(this.#pair);
    if (Date.parse(this.#pair.notAfter) < Date.now()) {
      logger.warn("the TLS certificate has expired; clients will refuse it", {
        notAfter: this.#pair.notAfter,
      });
    }
  }

  /** Checks the files every {@linkcode CERTIFICATE_POLL_MS} until {@linkcode stop}. */
  watch(intervalMs = CERTIFICATE_POLL_MS): void {
    if (!("file" in this.#settings.cert) && !("file" in this.#settings.key)) return;
    this.#timer = setInterval(() => this.reloadIfChanged(), intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * Loads the files again if their size, time or inode changed and their text did. A pair that
   * does not load (unreadable, not PEM, key not matching, half written) keeps the current one
   * in use; it is logged and counted, and tried again at the next change.
   */
  reloadIfChanged(): void {
    if (this.#checking) return;
    this.#checking = true;
    try {
      const stamp = this.#fileStamp();
      if (stamp === this.#stamp) return;
      this.#stamp = stamp;
      let pair: KeyPair;
      let context: tls.SecureContext;
      try {
        pair = this.#read();
        if (pair.cert === this.#pair.cert && pair.key === this.#pair.key) return;
        context = this.#makeContext(pair);
      } catch (error) {
        this.#events.certificateReload?.("failure");
        this.#logger.error("TLS certificate not reloaded; the previous one is still served", {
          error: (error as Error).message,
        });
        return;
      }
      this.#pair = pair;
      this.#context = context;
      this.#events.certificateReload?.("success");
      this.#logger.info("TLS certificate reloaded", { notAfter: pair.notAfter });
    } finally {
      this.#checking = false;
    }
  }

  /** When the certificate in use expires, as X.509 writes it. */
  get notAfter(): string {
    return this.#pair.notAfter;
  }

  /** Upgrades an accepted connection to TLS with the certificate in use now. */
  wrap(conn: Deno.Conn): Deno.Conn {
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // closed already
    }
    return new TlsServerConn(conn, this.#context, this.#events) as unknown as Deno.Conn;
  }

  #fileStamp(): string {
    const parts: string[] = [];
    for (const source of [this.#settings.cert, this.#settings.key]) {
      if (!("file" in source)) continue;
      try {
        const info = Deno.statSync(source.file);
        parts.push(`${info.ino}:${info.size}:${info.mtime?.getTime()}`);
      } catch (error) {
        parts.push(String(error));
      }
    }
    return parts.join("|");
  }

  #read(): KeyPair {
    const cert = readPem(this.#settings.cert, "cert_file");
    const key = readPem(this.#settings.key, "key_file");
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(cert);
    } catch (error) {
      throw new WebConfigError(
        `${describe(this.#settings.cert, "cert")} holds no PEM certificate: ${
          (error as Error).message
        }`,
      );
    }
    let privateKey;
    try {
      privateKey = createPrivateKey(key);
    } catch (error) {
      throw new WebConfigError(
        `${describe(this.#settings.key, "key")} holds no PEM private key: ${
          (error as Error).message
        }`,
      );
    }
    if (!certificate.checkPrivateKey(privateKey)) {
      throw new WebConfigError(
        `${describe(this.#settings.key, "key")} does not match ${
          describe(this.#settings.cert, "cert")
        }`,
      );
    }
    return { cert, key, notAfter: certificate.validTo };
  }

  #makeContext(pair: KeyPair): tls.SecureContext {
    return tls.createSecureContext({
      cert: pair.cert,
      key: pair.key,
      minVersion: this.#settings.minVersion,
      maxVersion: this.#settings.maxVersion,
    });
  }
}

function readPem(source: PemSource, field: string): string {
  if ("inline" in source) return source.inline;
  return readSmallFile(source.file, MAX_PEM_BYTES, field);
}

function describe(source: PemSource, field: string): string {
  return "file" in source ? `${field}_file "${source.file}"` : `tls_server_config.${field}`;
}

/**
 * A TLS server connection over an accepted TCP connection, read and written as a Deno.Conn
 * (`read`, `write`, `close`) by the HTTP server. Decrypted bytes wait here until the server
 * reads them, at most {@linkcode READ_AHEAD} and one record: then the socket pauses.
 */
class TlsServerConn {
  readonly #raw: Deno.Conn;
  readonly #socket: tls.TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  readonly #gate: ReadGate;
  #queued = 0;
  #ended = false;
  #secure = false;
  /** Counts this connection's handshake as failed, once, unless it completed. */
  readonly #handshakeFailed: () => void;
  #wake: (() => void) | undefined;
  readonly #pendingWrites = new Set<(error: Error) => void>();

  constructor(raw: Deno.Conn, context: tls.SecureContext, events: TlsEvents) {
    this.#raw = raw;
    let counted = false;
    this.#handshakeFailed = () => {
      if (this.#secure || counted) return;
      counted = true;
      events.handshakeFailure?.();
    };
    const gate: ReadGate = {
      full: () => this.#queued >= READ_AHEAD,
      parked: undefined,
      failed: () => this.close(),
    };
    this.#gate = gate;
    const duplexEvents = { handshakeFailure: this.#handshakeFailed };
    const socket = new tls.TLSSocket(connDuplex(raw, duplexEvents, gate), {
      isServer: true,
      secureContext: context,
    });
    this.#socket = socket;
    socket.once("secure", () => this.#secure = true);
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= READ_AHEAD) socket.pause();
      this.#wakeReader();
    });
    const end = () => {
      this.#handshakeFailed();
      this.#ended = true;
      this.#wakeReader();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", () => {
      this.#handshakeFailed();
      this.close();
    });
  }

  get remoteAddr(): Deno.Addr {
    return this.#raw.remoteAddr;
  }
  get localAddr(): Deno.Addr {
    return this.#raw.localAddr;
  }

  async read(into: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const chunk = this.#chunks[0];
    const n = Math.min(chunk.length, into.length);
    into.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    this.#queued -= n;
    if (this.#queued < READ_AHEAD) {
      if (this.#socket.isPaused()) this.#socket.resume();
      const parked = this.#gate.parked;
      this.#gate.parked = undefined;
      parked?.();
    }
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#ended || this.#socket.destroyed) {
      return Promise.reject(new Deno.errors.BrokenPipe("the TLS connection is closed"));
    }
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        this.#pendingWrites.delete(fail);
        reject(new Deno.errors.BrokenPipe(error.message));
      };
      this.#pendingWrites.add(fail);
      this.#socket.write(bytes, (error?: Error | null) => {
        if (!this.#pendingWrites.delete(fail)) return;
        if (error) reject(new Deno.errors.BrokenPipe(error.message));
        else resolve(bytes.length);
      });
    });
  }

  close(): void {
    this.#handshakeFailed();
    this.#ended = true;
    // Requests a client pipelined before it failed are not served: their answers could not be
    // sent, and serving them costs time (a thousand scrapes in 32 KiB of GETs).
    this.#chunks.length = 0;
    this.#queued = 0;
    this.#gate.parked = undefined;
    this.#wakeReader();
    // A write waiting on a peer that stopped reading ends now, not never.
    for (const fail of [...this.#pendingWrites]) fail(new Error("the connection was closed"));
    this.#socket.destroy();
    try {
      this.#raw.close();
    } catch {
      // closed already
    }
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** What a plain-HTTP request to a TLS port is answered, as Go's net/http answers it. */
const PLAIN_HTTP_ANSWER = new TextEncoder().encode(
  "HTTP/1.0 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n" +
    "connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
);
/** The first byte of a TLS handshake record (RFC 8446, 5.1); a plain request starts with a letter. */
const HANDSHAKE_RECORD = 0x16;

/**
 * The backpressure between a connection's decrypted bytes and its socket. `socket.pause()` on a
 * node:tls socket does not stop it reading its transport here, so the transport asks first:
 * while `full()`, it parks its next read in `parked` and the HTTP server's read that drains the
 * queue below the bound runs it.
 */
interface ReadGate {
  full(): boolean;
  parked: (() => void) | undefined;
  /**
   * The socket failed (reset, closed). node:tls does not always tell its TLSSocket: a write
   * that fails under it leaves it open and taking writes, and the server went on answering
   * every request queued, each answer written nowhere.
   */
  failed(): void;
}

/**
 * A Deno.Conn as the duplex stream node:tls reads and writes its records through. A connection
 * whose first byte is an ASCII letter is a plain-HTTP request: it is answered 400 in plain text
 * and closed, so that its sender learns why. It reads from the socket only while `gate` is not
 * full: what one connection holds is bounded whatever its peer sends and whether or not the
 * server reads.
 */
function connDuplex(conn: Deno.Conn, events: TlsEvents, gate: ReadGate): Duplex {
  let first = true;
  const readRaw = (stream: Duplex) => {
    const buffer = new Uint8Array(RAW_READ);
    conn.read(buffer).then(
      (n) => {
        if (first && n !== null && n > 0) {
          first = false;
          const byte = buffer[0];
          if (byte !== HANDSHAKE_RECORD && ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7a)) {
            events.handshakeFailure?.();
            writeAll(conn, PLAIN_HTTP_ANSWER).catch(() => {}).finally(() => stream.destroy());
            return;
          }
        }
        stream.push(n === null ? null : buffer.subarray(0, n));
      },
      (error) => {
        gate.failed();
        stream.destroy(error);
      },
    );
  };
  return new Duplex({
    readableHighWaterMark: RAW_READ,
    read() {
      if (gate.full()) gate.parked = () => readRaw(this);
      else readRaw(this);
    },
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(conn, chunk).then(() => callback(), (error) => {
        gate.failed();
        callback(error);
      });
    },
    final(callback) {
      try {
        conn.closeWrite();
      } catch {
        // closed already
      }
      callback();
    },
    destroy(error, callback) {
      try {
        conn.close();
      } catch {
        // closed already
      }
      callback(error);
    },
  });
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}
