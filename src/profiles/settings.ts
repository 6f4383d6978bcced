/**
 * What profiles take from the environment, and the KPI list of a run. The stages and the CLI
 * build settings here from their config, so a profile needing a new setting changes this file and
 * the config module, never a job.
 */
import type { KpiSpec, Profile, ProfileSettings } from './types.js';

/** Settings for profiles from a config that may declare CARTPIPE_AGGREGATIONS_FILE. */
export function profileSettings(config: { CARTPIPE_AGGREGATIONS_FILE?: string }): ProfileSettings {
  return config.CARTPIPE_AGGREGATIONS_FILE
    ? { aggregationsFile: config.CARTPIPE_AGGREGATIONS_FILE }
    : {};
}

/**
 * The KPIs a run computes: the profile's configured ones for the run's options, else its static
 * list.
 * @throws ManifestError `options_invalid` when the options or the configuration are malformed.
 * @example
 * const kpis = runKpis(getProfile('clickstream'), run.options, profileSettings(ctx.config));
 */
export function runKpis(
  profile: Profile,
  options: Readonly<Record<string, unknown>>,
  settings: ProfileSettings,
): readonly KpiSpec[] {
  return profile.kpisFor ? profile.kpisFor(options, settings) : profile.kpis;
}
