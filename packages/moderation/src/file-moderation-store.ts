import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMemoryModerationStore, type ModerationSnapshot } from './memory-moderation-store.ts';
import type { ModerationStore } from './moderation-store.ts';

export const MODERATION_FILE = 'moderation.json';

/**
 * Moderation for one process, kept in `<dataDir>/moderation.json` so bans, mutes, settings and
 * the audit log survive restarts. Every change rewrites the file (atomically: a temporary file
 * renamed over it); writes are serialized.
 */
export async function createFileModerationStore(dataDir: string, options: { auditEntriesPerTenant?: number; now?: () => number } = {}): Promise<ModerationStore> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, MODERATION_FILE);
  let initial: ModerationSnapshot | undefined;
  try {
    initial = JSON.parse(await readFile(path, 'utf8')) as ModerationSnapshot;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the moderation state in ${path}: ${(error as Error).message}`);
  }
  /** The write in progress, and the one that will take every change made meanwhile (one file write for a burst). */
  let writing: Promise<void> = Promise.resolve();
  let next: Promise<void> | undefined;
  const store = createMemoryModerationStore({
    kind: 'file',
    ...(initial && { initial }),
    ...(options.auditEntriesPerTenant !== undefined && { auditEntriesPerTenant: options.auditEntriesPerTenant }),
    ...(options.now && { now: options.now }),
    changed(snapshot) {
      next ??= writing
        .catch(() => undefined) // a failed write fails its callers; the next write carries their changes too
        .then(async () => {
          next = undefined;
          const text = JSON.stringify(snapshot());
          await writeFile(`${path}.tmp`, text, { mode: 0o600 });
          await rename(`${path}.tmp`, path);
        });
      writing = next;
      return next;
    },
  });
  return {
    ...store,
    kind: store.kind,
    async close() {
      await writing.catch(() => undefined);
      await store.close();
    },
  };
}