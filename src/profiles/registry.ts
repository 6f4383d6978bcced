/** Every data-set profile by name. A new profile is one module plus one line here. */
import { ManifestError } from '../errors.js';
import { clickstream } from './clickstream/index.js';
import { onlineRetail } from './online-retail/index.js';
import { rees46 } from './rees46/index.js';
import { thelook } from './thelook/index.js';
import type { Profile } from './types.js';

const PROFILES: readonly Profile[] = [thelook, onlineRetail, rees46, clickstream];

export function profileNames(): string[] {
  return PROFILES.map((p) => p.name);
}

/** @throws CartpipeError `unknown_dataset` naming the known ones. */
export function getProfile(name: string): Profile {
  const profile = PROFILES.find((p) => p.name === name);
  if (!profile) {
    throw new ManifestError(
      'unknown_dataset',
      `unknown dataset ${JSON.stringify(name)}; known: ${profileNames().join(', ')}`,
    );
  }
  return profile;
}
