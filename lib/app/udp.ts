// Handles pushprom JSON deltas that arrive as UDP datagrams (`--udpListen`): one delta or an
// array per datagram. A bad datagram is logged and counted; there is nobody to answer.

import { ParseError, PushError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { parseDeltas } from "../ingest/parse_json.ts";
import type { LabelLimits } from "../ingest/push_builder.ts";
import type { SelfMetrics } from "../http/self_metrics.ts";
import type { Store } from "../store/store.ts";

export interface DatagramOptions {
  store: Store;
  labelLimits?: LabelLimits;
  metrics: SelfMetrics;
  logger: Logger;
}

/** Builds the handler `server.ts` calls with each datagram and its sender's address. */
export function createDatagramHandler(
  options: DatagramOptions,
): (datagram: Uint8Array, sender: string) => void {
  const { store, metrics, logger } = options;
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  return (datagram, sender) => {
    let text: string;
    try {
      text = utf8.decode(datagram);
    } catch {
      metrics.countRejection("bad_encoding");
      metrics.countPush("rejected", 0);
      logger.warn("udp datagram refused", { sender, error: "datagram is not valid UTF-8" });
      return;
    }
    try {
      const result = store.applyDeltas(parseDeltas(text, options.labelLimits));
      metrics.countPush("accepted", result.samples);
      logger.debug("udp deltas accepted", { sender, deltas: result.samples });
    } catch (error) {
      metrics.countPush("rejected", 0);
      if (!(error instanceof ParseError || error instanceof PushError)) {
        // Thrown from an event listener it would end the process; log it and go on.
        logger.error("udp datagram failed", { sender, error: String(error) });
        return;
      }
      metrics.countRejection(error.reason);
      logger.warn("udp datagram refused", { sender, error: error.message });
    }
  };
}
