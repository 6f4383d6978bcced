/** ObjectStore on the S3 API (AWS, moto_server or the local s3rver). */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NotFoundError, StorageError } from '../../errors.js';
import type { ObjectInfo, ObjectStore, StoreOpener } from '../../ports/object-store.js';
import { clientSettings, s3Client, type ClientConfig, type Credentials } from './clients.js';

const MULTIPART_THRESHOLD = 64 * 1024 * 1024;
/** Failed body reads in a row (without progress) before a read gives up. */
const BODY_ATTEMPTS = 4;

function isMissing(error: unknown): boolean {
  return (
    error instanceof NoSuchKey ||
    error instanceof NotFound ||
    (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
  );
}

export class S3ObjectStore implements ObjectStore {
  /** @param opener how another thread opens an equal store (see {@link openS3ObjectStore}). */
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    readonly opener?: StoreOpener,
  ) {}

  async get(key: string): Promise<Uint8Array> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.stream(key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    // A range is small (a footer, a few column chunks): a body cut half-way is asked for again
    // whole rather than resumed.
    for (let attempt = 1; ; attempt++) {
      const out = await this.getObject(key, { range: `bytes=${start}-${end - 1}` });
      try {
        return await (
          out.Body as { transformToByteArray(): Promise<Uint8Array> }
        ).transformToByteArray();
      } catch (error) {
        if (attempt >= BODY_ATTEMPTS) {
          throw new StorageError(
            `reading s3://${this.bucket}/${key} bytes ${start}-${end} failed`,
            {
              cause: error,
            },
          );
        }
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt * Math.random()));
      }
    }
  }

  /**
   * The object's bytes. The SDK retries a request, not a body cut half-way (a connection reset
   * while a job reads a 1 GB input): the stream then asks again for the rest, from the byte it
   * got to, of the same version (If-Match on the ETag), a bounded number of times in a row.
   */
  async stream(key: string): Promise<Readable> {
    const first = await this.getObject(key);
    const etag = first.ETag;
    const size = first.ContentLength;
    const resume = (from: number) => this.getObject(key, { range: `bytes=${from}-`, etag });
    const where = `s3://${this.bucket}/${key}`;
    async function* bytes(): AsyncGenerator<Buffer> {
      let body = first.Body as Readable;
      let delivered = 0;
      for (let failures = 0; ;) {
        const before = delivered;
        try {
          for await (const chunk of body) {
            delivered += (chunk as Buffer).byteLength;
            yield chunk as Buffer;
          }
          return;
        } catch (error) {
          body.destroy();
          if (size !== undefined && delivered >= size) return;
          failures = delivered > before ? 1 : failures + 1;
          if (failures >= BODY_ATTEMPTS) {
            throw new StorageError(`reading ${where} failed at byte ${delivered}`, {
              cause: error,
            });
          }
          await new Promise((r) => setTimeout(r, 100 * 2 ** failures * Math.random()));
          body = (await resume(delivered)).Body as Readable;
        }
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  private async getObject(key: string, only: { range?: string; etag?: string | undefined } = {}) {
    try {
      return await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(only.range !== undefined ? { Range: only.range } : {}),
          ...(only.etag !== undefined ? { IfMatch: only.etag } : {}),
        }),
      );
    } catch (error) {
      if (isMissing(error)) throw new NotFoundError(`s3://${this.bucket}/${key}`, { cause: error });
      throw new StorageError(`GetObject s3://${this.bucket}/${key} failed`, { cause: error });
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, size: out.ContentLength ?? 0, etag: (out.ETag ?? '').replace(/"/g, '') };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw new StorageError(`HeadObject s3://${this.bucket}/${key} failed`, { cause: error });
    }
  }

  async put(key: string, body: Uint8Array | string, contentType?: string): Promise<ObjectInfo> {
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
        }),
      );
      const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      return { key, size, etag: (out.ETag ?? '').replace(/"/g, '') };
    } catch (error) {
      throw new StorageError(`PutObject s3://${this.bucket}/${key} failed`, { cause: error });
    }
  }

  async putFile(key: string, path: string, contentType?: string): Promise<ObjectInfo> {
    const size = statSync(path).size;
    try {
      if (size < MULTIPART_THRESHOLD) {
        // A buffered body lets the SDK retry the request; a streamed one cannot be replayed.
        return await this.put(key, readFileSync(path), contentType);
      }
      const upload = new Upload({
        client: this.client,
        params: {
          Bucket: this.bucket,
          Key: key,
          Body: createReadStream(path),
          ContentType: contentType,
        },
        queueSize: 2,
        partSize: 16 * 1024 * 1024,
      });
      const out = await upload.done();
      return { key, size, etag: (out.ETag ?? '').replace(/"/g, '') };
    } catch (error) {
      throw new StorageError(`upload of ${path} to s3://${this.bucket}/${key} failed`, {
        cause: error,
      });
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
          }),
        );
      } catch (error) {
        throw new StorageError(`ListObjectsV2 s3://${this.bucket}/${prefix} failed`, {
          cause: error,
        });
      }
      for (const o of out.Contents ?? []) {
        yield { key: o.Key!, size: o.Size ?? 0, etag: (o.ETag ?? '').replace(/"/g, '') };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      try {
        const out = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        if (out.Errors?.length) {
          throw new StorageError(
            `DeleteObjects failed for ${out.Errors.map((e) => e.Key).join(', ')}`,
          );
        }
      } catch (error) {
        if (error instanceof StorageError) throw error;
        throw new StorageError(`DeleteObjects in s3://${this.bucket} failed`, { cause: error });
      }
    }
  }
}

export interface S3StoreOptions {
  bucket: string;
  /** The client's settings (region, endpoint override, retries), not the whole config. */
  config: ClientConfig;
  /** Explicit credentials (local servers); omitted, each thread's SDK default chain applies. */
  credentials?: Credentials;
}

/**
 * A store on a client of its own, which a worker thread can open again for itself (its own
 * client, connections and credentials from the same chain).
 */
export function openS3ObjectStore(options: S3StoreOptions): S3ObjectStore {
  const { bucket, credentials } = options;
  const settings = clientSettings(options.config);
  return new S3ObjectStore(s3Client(settings, credentials), bucket, {
    module: import.meta.url,
    export: 'openS3ObjectStore',
    options: { bucket, config: settings, ...(credentials ? { credentials } : {}) },
  });
}
