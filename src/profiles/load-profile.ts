/**
 * Profiles loaded one at a time, for worker threads: a worker computing thelook's KPIs needs
 * thelook's module, not every profile's. The registry (./registry.ts) imports them all, for the
 * callers that need a profile at hand synchronously; in a worker that was most of its start
 * (clickstream's aggregation checks alone load zod, ~95 modules, ~50 ms on this project's 2-core
 * host). Both list the same profiles (test/profiles/load-profile.test.ts).
 */
import type { Profile } from './types.js';

const PROFILE_MODULES: ReadonlyMap<string, () => Promise<Profile>> = new Map([
  ['thelook', async () => (await import('./thelook/index.js')).thelook],
  ['online-retail', async () => (await import('./online-retail/index.js')).onlineRetail],
  ['rees46', async () => (await import('./rees46/index.js')).rees46],
  ['clickstream', async () => (await import('./clickstream/index.js')).clickstream],
]);

/** Names of the profiles {@link loadProfile} loads. */
export function loadableProfileNames(): string[] {
  return [...PROFILE_MODULES.keys()];
}

/**
 * The profile `name`, importing its module alone.
 * @throws CartpipeError `unknown_dataset` naming the known ones (the registry's error).
 */
export async function loadProfile(name: string): Promise<Profile> {
  const load = PROFILE_MODULES.get(name);
  // An unknown name is an error, not a hot path: the registry states it.
  if (!load) return (await import('./registry.js')).getProfile(name);
  return load();
}
