// Keeps the aggregate across restarts (`--persistenceFile`): streams the store to a snapshot
// file atomically, and streams it back at start. The only module that writes files; the format
// itself is `store/snapshot.ts`.

import type { Store } from "../store/store.ts";
import {
  type DecodeOptions,
  EncodingError,
  READ_BYTES,
  snapshotChunks,
  SnapshotError,
  SnapshotReader,
} from "../store/snapshot.ts";

/**
 * Loads the snapshot at `path` into an empty store and returns its series count, or
 * undefined when there is no file (a fresh start). The file is read a chunk at a time, so a
 * store of any size that fits in memory comes back. Throws {@linkcode SnapshotError} for a file
 * that exists but cannot be read or used; the file is left as it is.
 */
export async function loadSnapshot(
  path: string,
  store: Store,
  options: DecodeOptions = {},
): Promise<number | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      // A fresh start, if the snapshot can be written there: its folder must exist.
      const folder = folderOf(path);
      const info = await Deno.stat(folder).catch(() => undefined);
      if (info?.isDirectory !== true) {
        throw new SnapshotError(`cannot keep snapshot ${path}: folder ${folder} does not exist`);
      }
      return undefined;
    }
    throw new SnapshotError(`cannot read snapshot ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const reader = new SnapshotReader(store, options);
    const buffer = new Uint8Array(options.chunkBytes ?? READ_BYTES);
    for (;;) {
      let read: number | null;
      try {
        read = await file.read(buffer);
      } catch (error) {
        throw new SnapshotError(`cannot read snapshot ${path}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (read === null) break;
      await reader.write(buffer.subarray(0, read));
    }
    return await reader.end();
  } catch (error) {
    if (error instanceof EncodingError) {
      throw new SnapshotError(`cannot read snapshot ${path}: ${error.message}`, { cause: error });
    }
    if (error instanceof SnapshotError && !error.message.startsWith("cannot read snapshot ")) {
      throw new SnapshotError(`cannot load snapshot ${path}: ${error.message}`, { cause: error });
    }
    throw error;
  } finally {
    file.close();
  }
}

/** A name for a temporary file beside `path` that no one can guess: 64 random bits. */
function temporaryPath(path: string): string {
  const random = crypto.getRandomValues(new Uint8Array(8));
  return `${path}.${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}.tmp`;
}

/** Whether `name` is one {@linkcode temporaryPath} gives for a file named `base`. */
function isTemporaryOf(name: string, base: string): boolean {
  return name.length === base.length + 21 && name.startsWith(base + ".") &&
    /^\.[0-9a-f]{16}\.tmp$/.test(name.slice(base.length));
}

/**
 * Writes the store to `path` atomically. The store is copied at once (one consistent moment of
 * it), then rendered a chunk at a time into a temporary file beside `path`, letting the event
 * loop run between chunks, so a snapshot has no size limit but the disk's and pushes and
 * scrapes go on meanwhile. The file is fsynced and renamed over `path`, and the folder fsynced
 * so the rename survives a power loss: a crash at any moment leaves the old file or the new one.
 *
 * The temporary file gets a fresh random name and is created only if nothing is there
 * (O_CREAT|O_EXCL, mode 0600), so a file or symlink planted at that name is never followed or
 * written through; on failure only the file this call created is removed. Returns the number of
 * bytes written.
 */
export async function saveSnapshot(
  path: string,
  store: Store,
  now: number = Date.now(),
): Promise<number> {
  const families = store.capture(); // before the first await: the moment the snapshot shows
  const sources = store.captureSources();
  const temporary = temporaryPath(path);
  const file = await Deno.open(temporary, { write: true, createNew: true, mode: 0o600 });
  let written = 0;
  try {
    try {
      for (const chunk of snapshotChunks(families, now, sources)) {
        for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
        written += chunk.length;
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  const directory = await Deno.open(folderOf(path), { read: true });
  try {
    await directory.sync();
  } finally {
    directory.close();
  }
  return written;
}

/**
 * Removes the temporary files that writes of `path` left when the process was killed in the
 * middle of one: regular files named as {@linkcode saveSnapshot} names them, never a symlink or
 * anything else. Without this, each such kill would leave a snapshot's size of disk used.
 * Returns the paths removed.
 */
export async function removeTemporaries(path: string): Promise<string[]> {
  const folder = folderOf(path);
  const base = path.slice(path.lastIndexOf("/") + 1);
  const removed: string[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (!entry.isFile || !isTemporaryOf(entry.name, base)) continue;
    const temporary = `${folder === "/" ? "" : folder}/${entry.name}`;
    try {
      await Deno.remove(temporary);
      removed.push(temporary);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return removed;
}

/** The folder a file path is in. */
function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash === -1 ? "." : path.slice(0, slash) || "/";
}
