// Binds the two listeners to their handlers. The only module that listens on a socket.

import dgram from "node:dgram";
import type { ListenAddress } from "./config.ts";
import {
  ByteBudget,
  type ConnectionLimits,
  Http1Server,
  type HttpHandler,
  type HttpRequest,
  type ServerEvents,
} from "../http/http1.ts";
import type { Logger } from "../core/logger.ts";

type Handler = HttpHandler;

/**
 * Connections the lifecycle listener keeps open at most: health checks and one Prometheus need
 * few, and a flood of them must not take the descriptors the API listener needs.
 */
export const LIFECYCLE_MAX_CONNECTIONS = 64;

export interface ServerOptions {
  apiListen: ListenAddress;
  lifecycleListen: ListenAddress;
  api: Handler;
  lifecycle: Handler;
  logger: Logger;
  /** Where to take JSON deltas over UDP, and what to do with each datagram; both or neither. */
  udpListen?: ListenAddress;
  datagram?: (datagram: Uint8Array, sender: string) => void;
  /**
   * Runs once the lifecycle listener is up and before the API and UDP listeners open, such as
   * loading a snapshot; if it throws, the listeners are closed and the error passed on.
   */
  prepare?: () => Promise<void>;
  /** How long shutdown waits for API requests in flight; 10 s by default. */
  drainTimeoutMs?: number;
  /** The API listener's connection limits; the lifecycle listener's are the same but fewer. */
  limits: ConnectionLimits;
  /** Bytes all connections' request buffers may hold together. */
  maxRequestBufferBytes: number;
  events?: ServerEvents;
  /** Wraps each accepted connection of both listeners, such as in TLS (--webConfigFile). */
  wrap?: (conn: Deno.Conn) => Deno.Conn;
}

export interface Servers {
  /** The address each listener is bound to, with the real port when 0 was asked for. */
  readonly apiAddress: Deno.NetAddr;
  readonly lifecycleAddress: Deno.NetAddr;
  /** Undefined without `udpListen`. */
  readonly udpAddress: Deno.NetAddr | undefined;
  /**
   * Stops taking API requests (new ones get 503 with `Connection: close`), waits for those in
   * flight to finish, then closes both listeners.
   */
  shutdown(): Promise<void>;
}

/** A listener could not be opened; the message names the listener and the address. */
export class ListenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ListenError";
  }
}

/** Starts the listeners; if one fails to bind, those already open are closed again. */
export async function startServers(options: ServerOptions): Promise<Servers> {
  const { logger } = options;
  const drain = createDrain(options.api);
  const budget = new ByteBudget(options.maxRequestBufferBytes);
  const serve =
    (name: string, limits: ConnectionLimits, handler: Handler) => (listener: Deno.Listener) =>
      new Http1Server(listener, {
        name,
        limits,
        handler,
        budget,
        logger,
        events: options.events,
        wrap: options.wrap,
      });
  const lifecycleLimits = {
    ...options.limits,
    maxConnections: Math.min(options.limits.maxConnections, LIFECYCLE_MAX_CONNECTIONS),
  };
  const lifecycle = await listen(
    "lifecycle",
    options.lifecycleListen,
    serve("lifecycle", lifecycleLimits, options.lifecycle),
    logger,
  );
  let api: Listening | undefined;
  let udp: dgram.Socket | undefined;
  try {
    await options.prepare?.();
    api = await listen(
      "api",
      options.apiListen,
      serve("api", options.limits, drain.handler),
      logger,
    );
    if (options.udpListen !== undefined && options.datagram !== undefined) {
      udp = await listenUdp(options.udpListen, options.datagram, logger);
    }
  } catch (error) {
    api?.server.close();
    lifecycle.server.close();
    throw error;
  }
  const udpAddress = udp?.address();
  return {
    apiAddress: api.address,
    lifecycleAddress: lifecycle.address,
    udpAddress: udpAddress === undefined
      ? undefined
      : { transport: "udp", hostname: udpAddress.address, port: udpAddress.port },
    async shutdown() {
      udp?.close();
      const timeout = options.drainTimeoutMs ?? 10_000;
      const deadline = Date.now() + timeout;
      // The requests in flight are let finish first: closing their connections would cut
      // their bodies short.
      const finished = await drain.drain(timeout);
      if (!finished) logger.warn("shutdown: requests still in flight after the drain timeout");
      // Then the connections close once their responses are written. A scraper that stops
      // reading, or a sender that trickles its body, would hold that for ever: it gets what is
      // left of the timeout, and a moment at least, then its connection is closed.
      const closed = Promise.all([api!.server.shutdown(), lifecycle.server.shutdown()]);
      if (!(await within(closed, Math.max(100, deadline - Date.now())))) {
        logger.warn("shutdown: connections still open after the drain timeout");
        api!.server.close();
        lifecycle.server.close();
      }
    },
  };
}

/** Binds a UDP socket and passes each datagram on with its sender's address. */
async function listenUdp(
  address: ListenAddress,
  onDatagram: (datagram: Uint8Array, sender: string) => void,
  logger: Logger,
): Promise<dgram.Socket> {
  const socket = await bindListener(
    "udp",
    address,
    logger,
    (hostname) =>
      new Promise<dgram.Socket>((resolve, reject) => {
        const socket = dgram.createSocket({ type: hostname.includes(":") ? "udp6" : "udp4" });
        socket.once("error", reject);
        socket.bind(address.port, hostname, () => {
          socket.off("error", reject);
          socket.on(
            "error",
            (error) => logger.error("udp listener error", { error: String(error) }),
          );
          resolve(socket);
        });
      }),
    (socket) => {
      const { address: hostname, port } = socket.address();
      return { hostname, port };
    },
  );
  socket.on(
    "message",
    (message, sender) => onDatagram(message, `${sender.address}:${sender.port}`),
  );
  return socket;
}

/**
 * Opens listener `name` with `bind`, logs where it listens and returns it. `:port` means every
 * interface, as in Go: IPv6 and IPv4 on a dual-stack socket, or IPv4 alone where the host has
 * no IPv6. A failure is a {@linkcode ListenError} naming the listener and the address.
 */
async function bindListener<T>(
  name: string,
  address: ListenAddress,
  logger: Logger,
  bind: (hostname: string) => T | Promise<T>,
  boundTo: (listener: T) => { hostname: string; port: number },
): Promise<T> {
  let listener: T;
  try {
    try {
      listener = await bind(address.hostname ?? "::");
    } catch (error) {
      const inUse = error instanceof Deno.errors.AddrInUse ||
        (error as { code?: string }).code === "EADDRINUSE";
      if (address.hostname !== undefined || inUse) throw error;
      listener = await bind("0.0.0.0");
    }
  } catch (error) {
    throw new ListenError(
      `cannot listen on ${address.hostname ?? ""}:${address.port} for the ${name} listener: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  const { hostname, port } = boundTo(listener);
  logger.info("listening", {
    listener: name,
    address: hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`,
  });
  return listener;
}

/** Counts requests in flight so that shutdown can wait for them. */
function createDrain(handler: Handler) {
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;
  return {
    async handler(request: HttpRequest): Promise<Response> {
      if (draining) {
        return new Response("the gateway is shutting down; retry elsewhere or later\n", {
          status: 503,
          headers: { "Content-Type": "text/plain; charset=utf-8", "Connection": "close" },
        });
      }
      inFlight++;
      try {
        return await handler(request);
      } finally {
        if (--inFlight === 0) idle?.();
      }
    },
    /** Resolves true once nothing is in flight, false if the timeout came first. */
    drain(timeoutMs: number): Promise<boolean> {
      draining = true;
      if (inFlight === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        idle = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
    },
  };
}

/** A listener and the server on it. */
interface Listening {
  server: Http1Server;
  address: Deno.NetAddr;
}

function listen(
  name: string,
  address: ListenAddress,
  serve: (listener: Deno.Listener) => Http1Server,
  logger: Logger,
): Promise<Listening> {
  return bindListener(
    name,
    address,
    logger,
    (hostname): Listening => {
      const listener = Deno.listen({ hostname, port: address.port });
      return { server: serve(listener), address: listener.addr as Deno.NetAddr };
    },
    (listening) => listening.address,
  );
}

/** Waits for `promise`, or for `ms` milliseconds: true if the promise settled first. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.then(() => true),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
