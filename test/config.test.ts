import { describe, expect, it } from '@jest/globals';
import { JOB_ENV, readConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

describe('config', () => {
  const base = { CARTPIPE_BUCKET: 'b', RUN_ID: 'run-1' };

  it('applies defaults and coerces types', () => {
    const config = readConfig(JOB_ENV, base);
    expect(config).toMatchObject({
      CARTPIPE_BUCKET: 'b',
      RUN_ID: 'run-1',
      CARTPIPE_TIME_ZONE: 'UTC',
      CARTPIPE_REJECT_THRESHOLD: 0.2,
      AWS_REGION: 'us-east-1',
    });
    expect(
      readConfig(JOB_ENV, { ...base, CARTPIPE_ROWS_PER_PART: '500' }).CARTPIPE_ROWS_PER_PART,
    ).toBe(500);
  });

  it('names a missing variable and what it is for', () => {
    expect(() => readConfig(JOB_ENV, { RUN_ID: 'r' })).toThrow(ConfigError);
    expect(() => readConfig(JOB_ENV, { RUN_ID: 'r' })).toThrow(
      /CARTPIPE_BUCKET: required \(missing; the pipeline bucket/,
    );
  });

  it.each([
    ['CARTPIPE_TIME_ZONE', 'Mars/Olympus', /CARTPIPE_TIME_ZONE: not an IANA time zone/],
    ['CARTPIPE_REJECT_THRESHOLD', '2', /CARTPIPE_REJECT_THRESHOLD: .*got "2"/],
    ['CARTPIPE_ROWS_PER_PART', 'many', /CARTPIPE_ROWS_PER_PART: .*got "many"/],
    ['RUN_ID', '../etc', /RUN_ID: letters, digits/],
    ['AWS_ENDPOINT_URL_S3', 'not a url', /AWS_ENDPOINT_URL_S3/],
  ])('names a malformed %s with the value it got', (name, value, message) => {
    expect(() => readConfig(JOB_ENV, { ...base, [name]: value })).toThrow(message);
  });

  it('reports every problem at once', () => {
    const error = (() => {
      try {
        readConfig(JOB_ENV, { CARTPIPE_TIME_ZONE: 'nowhere' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.message).toMatch(/CARTPIPE_BUCKET/);
    expect(error?.message).toMatch(/RUN_ID/);
    expect(error?.message).toMatch(/CARTPIPE_TIME_ZONE/);
  });
});
