/**
 * Fetching some columns of the pipeline's Parquet parts from the store: the whole part when it
 * is small, else its footer and then only those columns' chunks. Shared by the validated reader
 * (compute-kpi, sinks) and validate's index of earlier keys.
 */
import { isArrayBuffer } from 'node:util/types';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import {
  bufferOf,
  columnChunkRanges,
  readFooter,
  readParquet,
  sparseBufferOf,
  type BytesBuffer,
  type Columns,
} from '../formats/parquet.js';
import type { ObjectInfo, ObjectStore } from '../ports/object-store.js';

/**
 * Parts up to this size are fetched whole, in one request. A larger one is read as its footer and
 * then only the chunks of the columns decoded (thelook's KPIs decode 4 of items' 14 columns, ~30%
 * of the bytes), so a reader holds, and S3 sends, only what it decodes. Below it, the second
 * round trip costs about what the bytes it saves would take to arrive (256 KB made compute-kpi
 * ~10% slower at 5M rows on the folder store, three or four requests a part instead of one).
 */
export const WHOLE_PART_BYTES = 1024 * 1024;

/** Bytes between two wanted column chunks that are read rather than skipped by another request. */
const RANGE_GAP_BYTES = 64 * 1024;

export interface FetchedPart {
  file: BytesBuffer;
  /** The part's footer, when it was fetched by ranges (the footer maps the chunks). */
  metadata?: FileMetaData;
  /** What the store returned, for {@link discardFetchedPart}. */
  fetched: readonly Uint8Array[];
}

export interface FetchPartOptions {
  /** Parts up to this size are fetched whole (default {@link WHOLE_PART_BYTES}). */
  wholePartBytes?: number;
}

/** The bytes of `part` for decoding `columns` (see the module's comment). */
export async function fetchPartColumns(
  store: ObjectStore,
  part: ObjectInfo,
  columns: readonly string[],
  options: FetchPartOptions = {},
): Promise<FetchedPart> {
  const { wholePartBytes = WHOLE_PART_BYTES } = options;
  if (part.size <= wholePartBytes) {
    const bytes = await store.get(part.key);
    return { file: bufferOf(bytes), fetched: [bytes] };
  }
  // The footer's bytes, copied into the ArrayBuffer hyparquet parses (16 KB, once a part).
  const remote: AsyncBuffer = {
    byteLength: part.size,
    slice: async (start, end = part.size) =>
      bufferOf(await store.getRange(part.key, start, end)).slice(0),
  };
  const metadata = await readFooter(remote);
  const pieces = await Promise.all(
    columnChunkRanges(metadata, columns, RANGE_GAP_BYTES).map(async ([start, end]) => ({
      start,
      bytes: await store.getRange(part.key, start, end),
    })),
  );
  return {
    file: sparseBufferOf(part.size, pieces),
    metadata,
    fetched: pieces.map((piece) => piece.bytes),
  };
}

/**
 * Frees a part's bytes now that its rows are read, instead of at V8's next full collection: a
 * part's bytes are held while it waits its turn and while it is decoded, so their ArrayBuffers
 * outlived young-generation collections and stayed allocated until a full one, which V8 starts
 * when the old generation has grown by 8 MB or more (or external memory by far more). In
 * compute-kpi at 20M rows (a day's parts ~3 MB) that kept 6-9 MB of parts already read resident
 * per thread. Detaching a buffer (transferring it to a copy that is never kept) hands its memory
 * back at the next young collection. Only buffers the part's bytes fill entirely are detached (a
 * store's pooled Buffer is left alone), and only after every value was copied out of them: the
 * pipeline's decoder and hyparquet copy every value of the pipeline's column types (there are no
 * binary columns).
 */
function discardFetchedPart(part: FetchedPart): void {
  for (const bytes of part.fetched) discardBytes(bytes);
}

/** Frees bytes a store returned once nothing refers to them ({@link discardFetchedPart}). */
export function discardBytes(bytes: Uint8Array): void {
  const { buffer } = bytes;
  if (isArrayBuffer(buffer) && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength)
    structuredClone(buffer, { transfer: [buffer] });
}

/**
 * A fetched part's rows ({@link readParquet}), with its footer when the fetch read it. A part is
 * read once: when its last batch has been taken, its bytes are freed ({@link discardFetchedPart}).
 */
export async function* readFetchedPart(
  fetched: FetchedPart,
  options: { columns: readonly string[]; batchRows?: number },
): AsyncGenerator<Columns> {
  yield* readParquet(fetched.file, {
    ...options,
    ...(fetched.metadata ? { metadata: fetched.metadata } : {}),
  });
  discardFetchedPart(fetched);
}
