import { describe, expect, it } from 'vitest';
import { mergeMembers, readFederationConfig } from '../src/index.ts';

describe('readFederationConfig', () => {
  it('is undefined without PARLEY_REGION: one installation on its own', () => {
    expect(readFederationConfig({})).toBeUndefined();
  });

  it('reads the region, the regions and the history region (the first region by default)', () => {
    expect(readFederationConfig({ PARLEY_REGION: 'eu', PARLEY_FEDERATION_REGIONS: 'us, eu' })).toEqual({ region: 'eu', regions: ['us', 'eu'], historyRegion: 'us' });
    expect(readFederationConfig({ PARLEY_REGION: 'eu', PARLEY_FEDERATION_REGIONS: 'us,eu', PARLEY_HISTORY_REGION: 'eu' })?.historyRegion).toBe('eu');
    expect(readFederationConfig({ PARLEY_REGION: 'solo' })).toEqual({ region: 'solo', regions: ['solo'], historyRegion: 'solo' });
  });

  it('refuses what NATS or the other settings cannot take, naming the variable', () => {
    expect(() => readFederationConfig({ PARLEY_REGION: 'eu.west' })).toThrow(/PARLEY_REGION: a region is 1-32 characters/);
    expect(() => readFederationConfig({ PARLEY_REGION: 'eu', PARLEY_FEDERATION_REGIONS: 'us,ap' })).toThrow(/must list PARLEY_REGION/);
    expect(() => readFederationConfig({ PARLEY_REGION: 'eu', PARLEY_FEDERATION_REGIONS: 'us,eu', PARLEY_HISTORY_REGION: 'ap' })).toThrow(/PARLEY_HISTORY_REGION \(ap\) must be one of/);
    expect(() => readFederationConfig({ PARLEY_FEDERATION_REGIONS: 'us,eu' })).toThrow(/need PARLEY_REGION/);
  });
});

describe('mergeMembers', () => {
  it('lists a user connected in several regions once, with its connections summed', () => {
    const merged = mergeMembers([
      [{ user: 'ann', connections: 2 }, { user: 'ben', connections: 1 }],
      [{ user: 'ann', connections: 1, info: { name: 'Ann' } }],
    ]);
    expect(merged).toEqual([{ user: 'ann', connections: 3 }, { user: 'ben', connections: 1 }]);
  });
});
