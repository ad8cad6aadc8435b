// Keeps the snapshot file in step with the store: loads it at start, writes it at the interval
// and at shutdown, one write at a time, and logs and counts each.

import type { Logger } from "../core/logger.ts";
import type { SelfMetrics } from "../http/self_metrics.ts";
import type { Store } from "../store/store.ts";
import { loadSnapshot, removeTemporaries, saveSnapshot } from "./persistence.ts";

/** Loads and writes the snapshot, one write at a time, logging and counting each. */
export function createSnapshotter(
  path: string,
  store: Store,
  metrics: SelfMetrics,
  logger: Logger,
) {
  let writing: Promise<boolean> | undefined;
  let savedChanges = -1;
  const write = async (): Promise<boolean> => {
    const changes = store.changes;
    const started = performance.now();
    try {
      const bytes = await saveSnapshot(path, store);
      savedChanges = changes;
      metrics.observeSnapshot((performance.now() - started) / 1000, bytes);
      logger.debug("snapshot written", { path, bytes, series: store.seriesCount });
      return true;
    } catch (error) {
      metrics.observeSnapshot((performance.now() - started) / 1000, undefined);
      logger.error("snapshot failed", { path, error: String(error) });
      return false;
    }
  };
  return {
    async load(): Promise<void> {
      const series = await loadSnapshot(path, store);
      savedChanges = store.changes;
      try {
        for (const temporary of await removeTemporaries(path)) {
          logger.info("removed a temporary file of an interrupted snapshot", { path: temporary });
        }
      } catch (error) {
        // Only disk space is at stake: the next snapshots are written all the same.
        logger.warn("cannot remove temporary files of interrupted snapshots", {
          path,
          error: String(error),
        });
      }
      if (series === undefined) {
        logger.info("no snapshot yet: starting empty", { path });
      } else {
        metrics.markSnapshotCurrent();
        logger.info("snapshot loaded", { path, series });
      }
    },
    /** Writes the store if it changed since the last write; the final write always runs. */
    async save(options: { final?: boolean } = {}): Promise<boolean> {
      while (writing !== undefined) {
        if (!options.final) return true; // the interval's next tick will catch up
        await writing;
      }
      if (store.changes === savedChanges && !options.final) {
        metrics.markSnapshotCurrent(); // the file on disk is the store as it is
        return true;
      }
      writing = write();
      try {
        return await writing;
      } finally {
        writing = undefined;
      }
    },
  };
}
