// Binds the two listeners to their handlers. The only module that listens on a socket.

import type { ListenAddress } from "./config.ts";
import type { Logger } from "./log.ts";

type Handler = (request: Request) => Response | Promise<Response>;

export interface ServerOptions {
  apiListen: ListenAddress;
  lifecycleListen: ListenAddress;
  api: Handler;
  lifecycle: Handler;
  logger: Logger;
  /** How long shutdown waits for API requests in flight; 10 s by default. */
  drainTimeoutMs?: number;
}

export interface Servers {
  /** The address each listener is bound to, with the real port when 0 was asked for. */
  readonly apiAddress: Deno.NetAddr;
  readonly lifecycleAddress: Deno.NetAddr;
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

/** Starts both listeners; if the second fails to bind, the first is closed again. */
export function startServers(options: ServerOptions): Servers {
  const { logger } = options;
  const drain = createDrain(options.api);
  const api = listen("api", options.apiListen, drain.handler, logger);
  let lifecycle: Deno.HttpServer<Deno.NetAddr>;
  try {
    lifecycle = listen("lifecycle", options.lifecycleListen, options.lifecycle, logger);
  } catch (error) {
    api.shutdown();
    throw error;
  }
  return {
    apiAddress: api.addr,
    lifecycleAddress: lifecycle.addr,
    async shutdown() {
      // Deno's server.shutdown() cancels request bodies that are still being read, so the
      // requests in flight are let finish first.
      const finished = await drain.drain(options.drainTimeoutMs ?? 10_000);
      if (!finished) logger.warn("shutdown: requests still in flight after the drain timeout");
      await Promise.all([api.shutdown(), lifecycle.shutdown()]);
    },
  };
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
