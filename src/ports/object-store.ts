/** The storage port the stages see: an S3 bucket, whether real, moto, or the local s3rver. */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
}

/**
 * How another thread opens its own store over the same objects: a module, the name of its export
 * `(options) => ObjectStore`, and the options (plain data, cloned to the thread). A stage's worker
 * threads open their own store with it rather than have this thread make every request for them
 * (./workers/remote-store.ts): an S3 request costs its thread CPU (signing, HTTP, parsing), and
 * a stage of many small reads (compute-kpi) queued them all on one thread.
 */
export interface StoreOpener {
  /** URL of the module (its `import.meta.url`). */
  module: string;
  export: string;
  options: unknown;
}

export interface ObjectStore {
  readonly bucket: string;
  /** How another thread opens an equal store; a store without one is lent over a port. */
  readonly opener?: StoreOpener;
  /**
   * Whole object; throws NotFoundError when absent. The bytes returned (here and by getRange)
   * are the caller's: a copy no one else holds, which a reader may release when done with it.
   */
  get(key: string): Promise<Uint8Array>;
  /**
   * Bytes [start, end) of an object, `start` within it (fewer bytes when it ends before `end`), as
   * an S3 ranged GET: a Parquet reader fetches a part's footer and then only the column chunks it
   * decodes. Throws NotFoundError when absent.
   */
  getRange(key: string, start: number, end: number): Promise<Uint8Array>;
  /** Object as a byte stream; throws NotFoundError when absent. */
  stream(key: string): Promise<Readable>;
  head(key: string): Promise<ObjectInfo | undefined>;
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<ObjectInfo>;
  /** Uploads a local file (multipart when large). */
  putFile(key: string, path: string, contentType?: string): Promise<ObjectInfo>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  delete(keys: readonly string[]): Promise<void>;
}

export async function listAll(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of store.list(prefix)) out.push(o);
  return out;
}

/** How far {@link fetchInOrder} fetches ahead of the object it hands out. */
export interface FetchAhead {
  /** Bytes of objects fetched and not yet handed out (at least `minObjects` are, whatever size). */
  bytes?: number;
  minObjects?: number;
  /** Requests in flight at most, however small the objects. */
  maxObjects?: number;
}

/**
 * `fetch` of each object, handed out in the given order, each begun ahead of its turn (as `ahead`
 * allows; the first ones when this is called, not when first iterated): on S3 each GET is a round
 * trip, and objects read one after another are that many round trips in a row (validate read a
 * history of 365 days' parts that way, ~1,500 GETs before its first row).
 */
export function fetchInOrder<O extends { size: number }, T>(
  objects: readonly O[],
  fetch: (object: O) => Promise<T>,
  ahead: FetchAhead = {},
): AsyncGenerator<{ object: O; fetched: T }> {
  const { bytes: aheadBytes = 8 * 1024 * 1024, minObjects = 4, maxObjects = 32 } = ahead;
  const fetches: (Promise<T> | undefined)[] = [];
  let bytesAhead = 0;
  const fetchAheadOf = (current: number) => {
    while (fetches.length < objects.length && fetches.length - current < maxObjects) {
      const next = objects[fetches.length]!;
      if (fetches.length - current >= minObjects && bytesAhead + next.size > aheadBytes) break;
      bytesAhead += next.size;
      const fetching = fetch(next);
      fetching.catch(() => undefined); // awaited in its turn; rejected early, it is not unhandled
      fetches.push(fetching);
    }
  };
  fetchAheadOf(0);
  return (async function* () {
    for (let i = 0; i < objects.length; i++) {
      fetchAheadOf(i);
      const fetched = await fetches[i]!;
      fetches[i] = undefined; // handed out: not kept here
      bytesAhead -= objects[i]!.size;
      yield { object: objects[i]!, fetched };
    }
  })();
}

/** The objects' bytes in the given order, fetched ahead ({@link fetchInOrder}). */
export function getInOrder(
  store: ObjectStore,
  objects: readonly ObjectInfo[],
  ahead?: FetchAhead,
): AsyncGenerator<{ object: ObjectInfo; fetched: Uint8Array }> {
  return fetchInOrder(objects, (object) => store.get(object.key), ahead);
}

export async function getJson<T>(store: ObjectStore, key: string): Promise<T> {
  return JSON.parse(Buffer.from(await store.get(key)).toString('utf8')) as T;
}

export async function putJson(
  store: ObjectStore,
  key: string,
  value: unknown,
): Promise<ObjectInfo> {
  return store.put(key, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
}

/** The store `opener` describes, opened in this thread. */
export async function openStore(opener: StoreOpener): Promise<ObjectStore> {
  const module = (await import(opener.module)) as Record<string, unknown>;
  const open = module[opener.export];
  if (typeof open !== 'function')
    throw new Error(`${opener.module} has no store opener ${opener.export}`);
  return (await (open as (options: unknown) => ObjectStore | Promise<ObjectStore>)(
    opener.options,
  )) as ObjectStore;
}
