import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../src/adapters/local/job-process.js';
import { SAMPLE } from './support.js';

/**
 * The two scripts a person (and CI) runs, run as they are: `make demo`'s script, and the AWS CLI
 * end-to-end check. Both need `npm run build` (make test builds first).
 */
const root = projectRoot();
const awsCli = process.env.AWS_CLI ?? '/usr/bin/aws';

function run(script: string, args: string[], env: Record<string, string>) {
  return spawnSync(join(root, 'scripts', script), args, {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 300_000,
  });
}

describe('scripts/demo.sh', () => {
  it('loads the sample through the events, prints stages, KPIs, the Parquet location and the notification, and runs again', () => {
    const state = mkdtempSync(join(tmpdir(), 'cartpipe-demo-'));
    try {
      const env = { CARTPIPE_DATA_DIR: state, CARTPIPE_DEMO_DATA: SAMPLE };
      const first = run('demo.sh', [], env);
      expect({ status: first.status, stderr: first.stderr }).toEqual({ status: 0, stderr: '' });
      const out = first.stdout;
      for (const line of [
        /upload: launched/,
        /validate: succeeded after/,
        /compute-kpi: succeeded after/,
        /run SUCCEEDED in/,
        /order_items: 422 in = 422 valid \+ 0 rejected/,
        /== KPIs per day/,
        /^2025-03-08 +\d+ +[\d.]+/m,
        /== Where the Parquet is ==/,
        new RegExp(`validated/ +\\d+ Parquet file\\(s\\)`),
        new RegExp(`${state}/s3/cartpipe-local/kpis/thelook/.+\\.parquet\\._S3rver_object`),
        /Subject: \[cartpipe\] SUCCEEDED thelook batch demo-/,
        /Attributes: status=SUCCEEDED, dataset=thelook/,
      ])
        expect(out).toMatch(line);

      const second = run('demo.sh', [], env);
      expect(second.status).toBe(0);
      expect(second.stdout).toMatch(/1 earlier thelook run\(s\) in this state/);
      expect(readdirSync(join(state, 'notifications'))).toHaveLength(2);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});

const describeAwsCli = existsSync(awsCli) || process.env.CI ? describe : describe.skip;

describeAwsCli('scripts/awscli-e2e.sh (Debian awscli against `cartpipe up`)', () => {
  it('completes a run from a batch and manifest copied with `aws s3 cp`', () => {
    const result = run('awscli-e2e.sh', [SAMPLE], {});
    expect({ status: result.status, tail: result.stdout.split('\n').slice(-3).join('\n') }).toEqual(
      {
        status: 0,
        tail: expect.stringMatching(/awscli-e2e: run awscli-\S+ SUCCEEDED/),
      },
    );
    expect(result.stdout).toMatch(/report\.json/);
  });
});
