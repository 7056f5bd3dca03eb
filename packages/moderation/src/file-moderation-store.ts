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
  let writing = Promise.resolve();
  return createMemoryModerationStore({
    kind: 'file',
    ...(initial && { initial }),
    ...(options.auditEntriesPerTenant !== undefined && { auditEntriesPerTenant: options.auditEntriesPerTenant }),
    ...(options.now && { now: options.now }),
    changed(snapshot) {
      const text = JSON.stringify(snapshot());
      writing = writing.then(async () => {
        await writeFile(`${path}.tmp`, text, { mode: 0o600 });
        await rename(`${path}.tmp`, path);
      });
      return writing;
    },
  });
}
