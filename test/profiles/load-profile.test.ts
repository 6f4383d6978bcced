import { describe, expect, it } from '@jest/globals';
import { ManifestError } from '../../src/errors.js';
import { loadableProfileNames, loadProfile } from '../../src/profiles/load-profile.js';
import { getProfile, profileNames } from '../../src/profiles/registry.js';

describe('loadProfile (one profile module, for worker threads)', () => {
  it('knows the same profiles as the registry', () => {
    expect([...loadableProfileNames()].sort()).toEqual([...profileNames()].sort());
  });

  it.each(profileNames())('loads %s as the very object the registry holds', async (name) => {
    const profile = await loadProfile(name);
    expect(profile.name).toBe(name);
    expect(profile).toBe(getProfile(name));
  });

  it('rejects an unknown data set as the registry does, naming the known ones', async () => {
    const failure = loadProfile('shopify');
    await expect(failure).rejects.toBeInstanceOf(ManifestError);
    await expect(failure).rejects.toMatchObject({
      code: 'unknown_dataset',
      message: expect.stringContaining('known: thelook'),
    });
  });
});
