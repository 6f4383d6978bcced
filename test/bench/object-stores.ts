/**
 * The benchmark's object stores: a folder (one file per key, S3 listing semantics: every key
 * starting with the prefix, in byte order) and a latency added to any store. The stages see the
 * same port they see on S3, so the numbers are the cores' own cost. A stage's worker threads open
 * these stores themselves (ObjectStore.opener), so this module imports only what a store needs.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  createReadStream,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { NotFoundError } from '../../src/errors.js';
import {
  openStore,
  type ObjectInfo,
  type ObjectStore,
  type StoreOpener,
} from '../../src/ports/object-store.js';

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/** The bucket's top-level areas reads are counted by (the last one takes any other key). */
const AREAS = [
  'incoming/',
  'metadata/',
  'raw/',
  'validated/',
  'held/',
  'rejected/',
  'kpis/',
  'runs/',
  '',
] as const;

/**
 * Objects and bytes read, per area, in memory every thread's copy of a store shares: a stage's
 * worker threads open their own store (ObjectStore.opener), and the benchmark counts their reads
 * with the calling thread's.
 */
class ReadTally {
  private readonly objects: BigInt64Array;
  private readonly bytes: BigInt64Array;

  constructor(readonly memory = new SharedArrayBuffer(2 * AREAS.length * 8)) {
    this.objects = new BigInt64Array(memory, 0, AREAS.length);
    this.bytes = new BigInt64Array(memory, AREAS.length * 8, AREAS.length);
  }

  add(key: string, bytes: number, objects: number): void {
    const area = AREAS.findIndex((a) => key.startsWith(a));
    Atomics.add(this.objects, area, BigInt(objects));
    Atomics.add(this.bytes, area, BigInt(bytes));
  }

  get byArea(): Record<string, { objects: number; bytes: number }> {
    const out: Record<string, { objects: number; bytes: number }> = {};
    AREAS.forEach((area, i) => {
      const objects = Number(Atomics.load(this.objects, i));
      const bytes = Number(Atomics.load(this.bytes, i));
      if (objects > 0 || bytes > 0) out[area || 'other'] = { objects, bytes };
    });
    return out;
  }
}

/** FsObjectStore's opener: the same folder, counting into the same tally. */
export function openFsObjectStore(options: { root: string; tally: SharedArrayBuffer }) {
  return new FsObjectStore(options.root, new ReadTally(options.tally));
}

export class FsObjectStore implements ObjectStore {
  readonly bucket = 'bench';
  readonly opener: StoreOpener;
  private readonly rangedKeys = new Set<string>();

  constructor(
    readonly root: string,
    private readonly tally = new ReadTally(),
  ) {
    this.opener = {
      module: import.meta.url,
      export: 'openFsObjectStore',
      options: { root, tally: tally.memory },
    };
  }

  /**
   * Objects read by area, the key's first segment, by this store and every copy another thread
   * opened: each get and stream, and each object read by ranges once however many ranges (a
   * Parquet part's footer and column chunks; counted once per thread that read it); bytes as read.
   */
  get reads(): Record<string, { objects: number; bytes: number }> {
    return this.tally.byArea;
  }

  private countRead(key: string, bytes: number, objects = 1): void {
    this.tally.add(key, bytes, objects);
  }

  private path(key: string): string {
    if (key.split('/').some((s) => s === '..')) throw new Error(`key escapes the store: ${key}`);
    return join(this.root, ...key.split('/'));
  }

  /**
   * `work` done now, its result handed back after a turn of the event loop. The folder's calls
   * are synchronous: a part in the page cache is read in microseconds, while node:fs/promises
   * hands each open, stat, read and close to libuv's thread pool. At 5M rows compute-kpi's
   * ~1,500 parts read that way took ~0.4 s of the pool threads' CPU (futex wake-ups, each
   * hand-off's promise), a cost of this folder and not of the stage: an S3 client reads its
   * sockets on the calling thread. The turn of the event loop keeps each call a wait, as a
   * request is: a thread whose store never waited ran its pieces to the end before it took a
   * worker's finished one (compute-kpi's worker sat idle for most of a run).
   */
  private async settled<T>(work: () => T): Promise<T> {
    const result = work();
    await setImmediate();
    return result;
  }

  private missingAsNotFound(key: string, error: unknown): never {
    if (isMissing(error)) throw new NotFoundError(`${this.root}/${key}`, { cause: error });
    throw error;
  }

  get(key: string): Promise<Uint8Array> {
    return this.settled(() => {
      let bytes: Buffer;
      try {
        bytes = readFileSync(this.path(key));
      } catch (error) {
        this.missingAsNotFound(key, error);
      }
      this.countRead(key, bytes.byteLength);
      return bytes;
    });
  }

  getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    return this.settled(() => {
      let file: number;
      try {
        file = openSync(this.path(key), 'r');
      } catch (error) {
        this.missingAsNotFound(key, error);
      }
      try {
        const length = Math.max(0, Math.min(end, fstatSync(file).size) - start);
        const bytes = Buffer.allocUnsafeSlow(length);
        let at = 0;
        while (at < length) {
          const bytesRead = readSync(file, bytes, at, length - at, start + at);
          if (bytesRead === 0) break;
          at += bytesRead;
        }
        const first = !this.rangedKeys.has(key);
        this.rangedKeys.add(key);
        this.countRead(key, at, first ? 1 : 0);
        return bytes.subarray(0, at);
      } finally {
        closeSync(file);
      }
    });
  }

  stream(key: string): Promise<Readable> {
    return this.settled(() => {
      const path = this.path(key);
      try {
        this.countRead(key, statSync(path).size);
      } catch (error) {
        this.missingAsNotFound(key, error);
      }
      return createReadStream(path);
    });
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.settled(() => {
      const s = statSync(this.path(key), { throwIfNoEntry: false });
      return s?.isFile() ? { key, size: s.size, etag: `${s.size}-${s.mtimeMs}` } : undefined;
    });
  }

  put(key: string, body: Uint8Array | string, _contentType?: string): Promise<ObjectInfo> {
    return this.settled(() => {
      const path = this.path(key);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, body);
      const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
      return { key, size, etag: createHash('md5').update(body).digest('hex') };
    });
  }

  putFile(key: string, source: string, _contentType?: string): Promise<ObjectInfo> {
    return this.settled(() => {
      const path = this.path(key);
      mkdirSync(dirname(path), { recursive: true });
      copyFileSync(source, path);
      const s = statSync(path);
      return { key, size: s.size, etag: `${s.size}-${s.mtimeMs}` };
    });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const walk = (dir: string, keyPrefix: string, keys: ObjectInfo[]): ObjectInfo[] => {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return keys;
        throw error;
      }
      for (const entry of entries) {
        const key = `${keyPrefix}${entry.name}`;
        if (entry.isDirectory()) {
          // Only descend where keys can still start with the prefix.
          const folder = `${key}/`;
          if (folder.startsWith(prefix) || prefix.startsWith(folder))
            walk(join(dir, entry.name), folder, keys);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          const s = statSync(join(dir, entry.name));
          keys.push({ key, size: s.size, etag: `${s.size}-${s.mtimeMs}` });
        }
      }
      return keys;
    };
    const keys = await this.settled(() =>
      walk(base ? join(this.root, ...base.split('/').filter(Boolean)) : this.root, base, []),
    );
    keys.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    yield* keys;
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.settled(() => {
      for (const key of keys) rmSync(this.path(key), { force: true });
    });
  }

  /** Total bytes of the given keys (0 for missing ones). */
  async sizeOf(keys: readonly string[]): Promise<number> {
    let total = 0;
    for (const key of keys) total += (await this.head(key))?.size ?? 0;
    return total;
  }
}

/** DelayedObjectStore's opener: its inner store opened in this thread, the same latency and count. */
export async function openDelayedObjectStore(options: {
  inner: StoreOpener;
  latencyMs: number;
  calls: SharedArrayBuffer;
}) {
  return new DelayedObjectStore(
    await openStore(options.inner),
    options.latencyMs,
    undefined,
    options.calls,
  );
}

/**
 * A store whose every call first waits `latencyMs`, as each S3 request is a round trip (10-50 ms
 * from a task in the bucket's region): what the folder store hides. A listing waits once.
 */
export class DelayedObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly opener: StoreOpener | undefined;
  /** Calls made by this store and every copy another thread opened (shared memory). */
  private readonly counter: Int32Array;

  constructor(
    private readonly inner: ObjectStore,
    private readonly latencyMs: number,
    private readonly sleep = (ms: number) =>
      new Promise<void>((resolve) => setTimeout(resolve, ms)),
    calls = new SharedArrayBuffer(4),
  ) {
    this.bucket = inner.bucket;
    this.counter = new Int32Array(calls);
    this.opener = inner.opener && {
      module: import.meta.url,
      export: 'openDelayedObjectStore',
      options: { inner: inner.opener, latencyMs, calls },
    };
  }

  /** Calls made, all kinds, on every thread. */
  get calls(): number {
    return Atomics.load(this.counter, 0);
  }

  private async delayed<T>(call: () => Promise<T>): Promise<T> {
    Atomics.add(this.counter, 0, 1);
    await this.sleep(this.latencyMs);
    return call();
  }

  get(key: string): Promise<Uint8Array> {
    return this.delayed(() => this.inner.get(key));
  }

  getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    return this.delayed(() => this.inner.getRange(key, start, end));
  }

  stream(key: string): Promise<Readable> {
    return this.delayed(() => this.inner.stream(key));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.delayed(() => this.inner.head(key));
  }

  put(key: string, body: Uint8Array | string, contentType?: string): Promise<ObjectInfo> {
    return this.delayed(() => this.inner.put(key, body, contentType));
  }

  putFile(key: string, path: string, contentType?: string): Promise<ObjectInfo> {
    return this.delayed(() => this.inner.putFile(key, path, contentType));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const objects = await this.delayed(async () => {
      const out: ObjectInfo[] = [];
      for await (const o of this.inner.list(prefix)) out.push(o);
      return out;
    });
    yield* objects;
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.delayed(() => this.inner.delete(keys));
  }
}
