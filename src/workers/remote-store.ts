/**
 * The stage's ObjectStore, lent to a worker thread over a MessagePort: the worker decodes,
 * validates and encodes; the main thread keeps the one S3 client (its connection pool, retries
 * and credentials) and does the I/O. Bytes cross as transferred ArrayBuffers, not copies of
 * copies; a streamed object crosses up to a megabyte of chunks per request, so the worker's
 * reading paces S3's.
 */
import { Readable } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';
import { errorFromData, errorToData, type ErrorData } from '../errors.js';
import type { ObjectInfo, ObjectStore } from '../ports/object-store.js';

type Request =
  | { id: number; op: 'get' | 'head' | 'list'; key: string }
  | { id: number; op: 'getRange'; key: string; start: number; end: number }
  | { id: number; op: 'stream'; key: string }
  | { id: number; op: 'read' | 'close'; stream: number }
  | { id: number; op: 'put'; key: string; body: Uint8Array | string; contentType?: string }
  | { id: number; op: 'putFile'; key: string; path: string; contentType?: string }
  | { id: number; op: 'delete'; keys: readonly string[] };

/**
 * Bytes a stream read answers with at most (plus one chunk): the source's chunks are kept as
 * they are, so the reader parses pieces of the size it would have parsed anyway.
 */
const READ_REPLY_BYTES = 1024 * 1024;

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ErrorData };

/** A Uint8Array whose buffer can be handed over: copied unless it owns its whole buffer. */
function transferable(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
    ? bytes
    : new Uint8Array(bytes);
}

/**
 * Answers a {@link RemoteObjectStore}'s requests on `port` with `store`, until the port closes.
 * Streams a request opened and did not finish are destroyed then.
 */
export function serveObjectStore(port: MessagePort, store: ObjectStore): void {
  const streams = new Map<number, AsyncIterator<Buffer>>();
  let nextStream = 0;
  const reply = (message: Reply, transfer: ArrayBuffer[] = []) =>
    port.postMessage(message, transfer);

  const handle = async (request: Request): Promise<[unknown, ArrayBuffer[]]> => {
    switch (request.op) {
      case 'get': {
        const bytes = transferable(await store.get(request.key));
        return [bytes, [bytes.buffer as ArrayBuffer]];
      }
      case 'getRange': {
        const bytes = transferable(await store.getRange(request.key, request.start, request.end));
        return [bytes, [bytes.buffer as ArrayBuffer]];
      }
      case 'head':
        return [await store.head(request.key), []];
      case 'list': {
        const objects: ObjectInfo[] = [];
        for await (const o of store.list(request.key)) objects.push(o);
        return [objects, []];
      }
      case 'stream': {
        const id = nextStream++;
        streams.set(
          id,
          (await store.stream(request.key))[Symbol.asyncIterator]() as AsyncIterator<Buffer>,
        );
        return [id, []];
      }
      case 'read': {
        const iterator = streams.get(request.stream);
        if (!iterator) return [null, []];
        // Chunks as the source gives them (64 KB from a file, less from a socket), several per
        // reply: a message each cost the worker as much as a tenth of its parsing.
        const chunks: Uint8Array[] = [];
        let bytes = 0;
        while (bytes < READ_REPLY_BYTES) {
          const next = await iterator.next();
          if (next.done) {
            streams.delete(request.stream);
            break;
          }
          const chunk = transferable(next.value);
          chunks.push(chunk);
          bytes += chunk.byteLength;
        }
        if (chunks.length === 0) return [null, []];
        return [chunks, chunks.map((c) => c.buffer as ArrayBuffer)];
      }
      case 'close': {
        const iterator = streams.get(request.stream);
        streams.delete(request.stream);
        await iterator?.return?.();
        return [undefined, []];
      }
      case 'put':
        return [await store.put(request.key, request.body, request.contentType), []];
      case 'putFile':
        return [await store.putFile(request.key, request.path, request.contentType), []];
      case 'delete':
        await store.delete(request.keys);
        return [undefined, []];
    }
  };

  port.on('message', (request: Request) => {
    handle(request).then(
      ([value, transfer]) => reply({ id: request.id, ok: true, value }, transfer),
      (error: unknown) => reply({ id: request.id, ok: false, error: errorToData(error) }),
    );
  });
  port.on('close', () => {
    for (const iterator of streams.values()) void iterator.return?.();
    streams.clear();
  });
}

type RequestBody = Request extends infer R
  ? R extends { id: number }
    ? Omit<R, 'id'>
    : never
  : never;

/** The worker's side: an ObjectStore whose calls the main thread's store answers. */
export class RemoteObjectStore implements ObjectStore {
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  private nextId = 0;

  constructor(
    private readonly port: MessagePort,
    readonly bucket: string,
  ) {
    port.on('message', (message: Reply) => {
      const call = this.pending.get(message.id);
      if (!call) return;
      this.pending.delete(message.id);
      if (message.ok) call.resolve(message.value);
      else call.reject(errorFromData(message.error));
    });
  }

  private call<T>(request: RequestBody): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.port.postMessage({ ...request, id });
    });
  }

  get(key: string): Promise<Uint8Array> {
    return this.call({ op: 'get', key });
  }

  getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    return this.call({ op: 'getRange', key, start, end });
  }

  async stream(key: string): Promise<Readable> {
    const stream = await this.call<number>({ op: 'stream', key });
    const readable: Readable = new Readable({
      // Several chunks ahead, so decoding seldom waits for the next message.
      highWaterMark: 4 * 1024 * 1024,
      read: () => {
        this.call<Uint8Array[] | null>({ op: 'read', stream }).then(
          (chunks) => {
            if (chunks === null) {
              readable.push(null);
              return;
            }
            for (const c of chunks)
              readable.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
          },
          (error: unknown) => readable.destroy(error as Error),
        );
      },
      destroy: (error, done) => {
        this.call({ op: 'close', stream }).then(
          () => done(error),
          () => done(error),
        );
      },
    });
    return readable;
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.call({ op: 'head', key });
  }

  put(key: string, body: Uint8Array | string, contentType?: string): Promise<ObjectInfo> {
    return this.call({ op: 'put', key, body, ...(contentType ? { contentType } : {}) });
  }

  putFile(key: string, path: string, contentType?: string): Promise<ObjectInfo> {
    return this.call({ op: 'putFile', key, path, ...(contentType ? { contentType } : {}) });
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    yield* await this.call<ObjectInfo[]>({ op: 'list', key: prefix });
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.call({ op: 'delete', keys });
  }
}
