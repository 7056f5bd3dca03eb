import { fileURLToPath } from 'node:url';

/** `loadtest/` (with a trailing slash). */
export const LOADTEST_DIR = fileURLToPath(new URL('../', import.meta.url));
/** The repository root (with a trailing slash). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
