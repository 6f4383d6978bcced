import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { putObjectWritten } from '../../src/adapters/local/s3rver-write-fix.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

describe("s3rver's PutObject", () => {
  it('is answered once the object is on disk, then its metadata, however slow the disk', async () => {
    const events: string[] = [];
    const written: Buffer[] = [];
    const slowDisk = () =>
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          setTimeout(() => {
            written.push(chunk);
            events.push('chunk written');
            done();
          }, 20);
        },
      });
    const dir = mkdtempSync(join(tmpdir(), 'cartpipe-s3rver-put-'));
    const store = {
      getResourcePath: (bucket: string, key: string, resource: string) =>
        join(dir, bucket, key, resource),
      putMetadata: () => {
        events.push('metadata');
        return Promise.resolve();
      },
    };
    const body = randomBytes(200_000);
    const chunks = [body.subarray(0, 70_000), body.subarray(70_000)];
    const result = await putObjectWritten(
      store,
      { bucket: 'b', key: 'k', content: Readable.from(chunks), metadata: {} },
      slowDisk,
    );
    rmSync(dir, { recursive: true, force: true });
    // Both chunks were written (each 20 ms late) before the metadata, which comes last.
    expect(events).toEqual(['chunk written', 'chunk written', 'metadata']);
    expect(Buffer.concat(written).equals(body)).toBe(true);
    expect(result).toEqual({
      size: body.length,
      md5: createHash('md5').update(body).digest('hex'),
    });
  });
});

describe('the local S3 server', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('returns the whole object to a GET sent as soon as its PUT is answered', async () => {
    // The orchestrator reads a manifest as soon as its event comes, and the event comes as soon
    // as the PUT is answered.
    const mismatches: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, lane) => {
        for (let i = 0; i < 25; i++) {
          const key = `consistency/${lane}/${i}.bin`;
          const body = randomBytes(256 * 1024 + i * 4096);
          await t.store.put(key, body);
          const read = Buffer.from(await t.store.get(key));
          if (!read.equals(body)) mismatches.push(`${key}: ${read.length} of ${body.length} bytes`);
        }
      }),
    );
    expect(mismatches).toEqual([]);
  }, 60_000);
});
