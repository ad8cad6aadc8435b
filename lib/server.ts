// Binds the two listeners to their handlers. The only module that listens on a socket.

import dgram from "node:dgram";
import type { ListenAddress } from "./config.ts";
import type { Logger } from "./log.ts";

type Handler = (request: Request) => Response | Promise<Response>;

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
  const lifecycle = listen("lifecycle", options.lifecycleListen, options.lifecycle, logger);
  let api: Deno.HttpServer<Deno.NetAddr> | undefined;
  let udp: dgram.Socket | undefined;
  try {
    await options.prepare?.();
    api = listen("api", options.apiListen, drain.handler, logger);
    if (options.udpListen !== undefined && options.datagram !== undefined) {
      udp = await listenUdp(options.udpListen, options.datagram, logger);
    }
  } catch (error) {
    await Promise.all([api?.shutdown(), lifecycle.shutdown()]);
    throw error;
  }
  const udpAddress = udp?.address();
  return {
    apiAddress: api.addr,
    lifecycleAddress: lifecycle.addr,
    udpAddress: udpAddress === undefined
      ? undefined
      : { transport: "udp", hostname: udpAddress.address, port: udpAddress.port },
    async shutdown() {
      udp?.close();
      // Deno's server.shutdown() cancels request bodies that are still being read, so the
      // requests in flight are let finish first.
      const finished = await drain.drain(options.drainTimeoutMs ?? 10_000);
      if (!finished) logger.warn("shutdown: requests still in flight after the drain timeout");
      await Promise.all([api!.shutdown(), lifecycle.shutdown()]);
    },
  };
}

/** Binds a UDP socket; `:port` is dual-stack where the host has IPv6, as for HTTP. */
async function listenUdp(
  address: ListenAddress,
  onDatagram: (datagram: Uint8Array, sender: string) => void,
  logger: Logger,
): Promise<dgram.Socket> {
  const bind = (type: "udp4" | "udp6", hostname: string) =>
    new Promise<dgram.Socket>((resolve, reject) => {
      const socket = dgram.createSocket({ type });
      socket.once("error", reject);
      socket.bind(address.port, hostname, () => {
        socket.off("error", reject);
        socket.on("error", (error) => logger.error("udp listener error", { error: String(error) }));
        resolve(socket);
      });
    });
  let socket: dgram.Socket;
  try {
    const hostname = address.hostname ?? "::";
    const type = hostname.includes(":") ? "udp6" : "udp4";
    try {
      socket = await bind(type, hostname);
    } catch (error) {
      if (address.hostname !== undefined || (error as { code?: string }).code === "EADDRINUSE") {
        throw error;
      }
      socket = await bind("udp4", "0.0.0.0");
    }
  } catch (error) {
    throw new ListenError(
      `cannot listen on ${address.hostname ?? ""}:${address.port} for the udp listener: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  socket.on(
    "message",
    (message, sender) => onDatagram(message, `${sender.address}:${sender.port}`),
  );
  const bound = socket.address();
  logger.info("listening", {
    listener: "udp",
    address: bound.address.includes(":")
      ? `[${bound.address}]:${bound.port}`
      : `${bound.address}:${bound.port}`,
  });
  return socket;
}

/** Counts requests in flight so that shutdown can wait for them. */
function createDrain(handler: Handler) {
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;
  return {
    async handler(request: Request): Promise<Response> {
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

function listen(
  name: string,
  address: ListenAddress,
  handler: Handler,
  logger: Logger,
): Deno.HttpServer<Deno.NetAddr> {
  const serve = (hostname: string) =>
    Deno.serve({
      hostname,
      port: address.port,
      onListen: () => {},
      onError(error) {
        logger.error("request failed", { listener: name, error: String(error) });
        return new Response("internal error\n", { status: 500 });
      },
    }, handler);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    // `:port` means every interface, as in Go: IPv6 and IPv4 on a dual-stack socket, or
    // IPv4 alone where the host has no IPv6.
    try {
      server = serve(address.hostname ?? "::");
    } catch (error) {
      if (address.hostname !== undefined || error instanceof Deno.errors.AddrInUse) throw error;
      server = serve("0.0.0.0");
    }
  } catch (error) {
    const where = `${address.hostname ?? ""}:${address.port}`;
    throw new ListenError(
      `cannot listen on ${where} for the ${name} listener: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const { hostname, port } = server.addr;
  logger.info("listening", {
    listener: name,
    address: hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`,
  });
  return server;
}
