/** .env.example documents exactly the variables src/config.ts reads: drift fails the build. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as config from '../src/config.js';
import { projectRoot } from '../src/adapters/local/job-process.js';

const declared = new Set(
  Object.entries(config)
    .filter(([name]) => name.endsWith('_ENV'))
    .flatMap(([, shape]) => Object.keys(shape as object)),
);
const documented = new Set(
  [
    ...readFileSync(join(projectRoot(), '.env.example'), 'utf8').matchAll(
      /^#?\s*([A-Z][A-Z0-9_]+)=/gm,
    ),
  ].map((m) => m[1]!),
);

describe('.env.example', () => {
  it('lists every variable the config module reads', () => {
    expect([...declared].filter((name) => !documented.has(name)).sort()).toEqual([]);
  });
  it('lists nothing the config module does not read', () => {
    expect([...documented].filter((name) => !declared.has(name)).sort()).toEqual([]);
  });
});
