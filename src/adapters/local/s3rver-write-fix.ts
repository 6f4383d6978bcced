/**
 * s3rver answers a PutObject once the body has passed its checksum, before the object's file is
 * written: a GET sent as soon as the answer came (the orchestrator reading the manifest whose
 * event just fired) could find the file empty or short when the disk was busy. This replaces its
 * file store's putObject with one that answers after the file is written. The rest of what the
 * original does is the same: the object file, then its metadata.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const require = createRequire(import.meta.url);

/** What s3rver's FilesystemStore.putObject is given and uses of its store. */
interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: unknown;
}
interface S3rverFileStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
}

/**
 * Writes `object` as s3rver's file store does, resolving once its file is written and closed.
 * `openFile` opens the object's file (a test may slow it down).
 */
export async function putObjectWritten(
  store: S3rverFileStore,
  object: S3rverObject,
  openFile: (path: string) => Writable = (path) => createWriteStream(path),
): Promise<{ size: number; md5: string }> {
  const path = store.getResourcePath(object.bucket, object.key, 'object');
  await mkdir(dirname(path), { recursive: true });
  const md5 = createHash('md5');
  let size = 0;
  const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
  await pipeline(
    source,
    new Transform({
      transform(chunk: Buffer, _encoding, done) {
        md5.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    }),
    openFile(path),
  );
  const digest = md5.digest('hex');
  await store.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
}

let installed = false;

export function installS3rverWriteFix(): void {
  if (installed) return;
  installed = true;
  const FilesystemStore = require('s3rver/lib/stores/filesystem') as {
    prototype: { putObject(this: S3rverFileStore, object: S3rverObject): Promise<unknown> };
  };
  FilesystemStore.prototype.putObject = function putObject(object) {
    return putObjectWritten(this, object);
  };
}
