import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes `content` to `path` so that readers and crashes see the old or the new file, never a
 * mix: temp file in the same directory (rename is atomic only within a file system), fsync, rename,
 * fsync the directory so the rename itself survives a power loss. Mode 0600 by default: callers
 * keep key hashes, private signing keys and the demo API key this way.
 */
export async function writeAtomic(path: string, content: string, mode = 0o600): Promise<void> {
  const temp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(temp, 'w', mode);
  try {
    await file.writeFile(content, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    await dir.close();
  }
}
