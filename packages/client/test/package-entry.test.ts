import { describe, expect, it } from 'vitest';
import * as sdk from '@parley/client';

describe('package entry', () => {
  it('package - @parley/client resolves in the workspace and exports the API', () => {
    expect(Object.keys(sdk).sort()).toEqual(['DEFAULT_BACKOFF_BASE_MS', 'DEFAULT_BACKOFF_CAP_MS', 'ParleyClient', 'ParleyError', 'Room', 'backoffDelay', 'createClient']);
  });
});
