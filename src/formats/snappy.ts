/**
 * Snappy compression for Parquet pages: hysnappy's WebAssembly build of the reference snappy,
 * with one instance per process whose memory is reset to its initial state before every page.
 *
 * Why not hysnappy's own entry points: `snappyCompress` builds a new instance per call (decode,
 * compile, instantiate: ~0.3 ms, most of a small page's cost), and a reused `snappyCompressor()`
 * carries state in its memory from page to page, so the same page can compress to different
 * (valid) bytes depending on what came before, which breaks byte-identical re-runs. Restoring
 * the memory snapshot gives exactly a fresh instance's output at a reused instance's speed
 * (test/formats/snappy.test.ts compares the two over thousands of pages).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { snappyCompress as freshInstanceCompress } from 'hysnappy';
import { snappyUncompress as jsUncompress } from 'hyparquet';

/** Where hysnappy's compressor expects its input (past the C runtime's own memory). */
const INPUT_START = 68_000;
/** Gap hysnappy leaves between input and output. */
const GAP = 1000;
const PAGE = 64 * 1024;

interface SnappyExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  compress: (input: number, length: number, output: number) => number;
}
interface UnsnappyExports {
  memory: SnappyExports['memory'];
  /** 0, or a negative code: -1 bad length header, -2 no end marker, -3 input ends early. */
  uncompress: (input: number, length: number, output: number) => number;
}
/** The few WebAssembly calls used here (Node's global; its types come with the DOM lib only). */
interface WasmModule {
  readonly kind: 'module';
}
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => WasmModule;
      Instance: new (module: WasmModule) => { exports: unknown };
    };
  }
).WebAssembly;

/** hysnappy ships its modules as base64 inside compress.js and uncompress.js, not as files. */
function hysnappyModule(file = 'compress.js'): WasmModule | undefined {
  try {
    const entry = createRequire(import.meta.url).resolve('hysnappy');
    const source = readFileSync(join(dirname(entry), file), 'utf8');
    const literal = /const wasm64\s*=\s*((?:'[A-Za-z0-9+/=]*'\s*\+?\s*)+)/.exec(source)?.[1];
    if (!literal) return undefined;
    return new wasm.Module(Buffer.from(literal.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'));
  } catch {
    return undefined;
  }
}

/** Grows an instance's memory to hold at least `end` bytes. */
function reserve(memory: SnappyExports['memory'], end: number): void {
  if (memory.buffer.byteLength < end)
    memory.grow(Math.ceil(end / PAGE) - memory.buffer.byteLength / PAGE);
}

/** Compresses `input`; the result may be a view that the next call overwrites. */
type Compressor = (input: Uint8Array) => Uint8Array;

function resettingCompressor(module: WasmModule): Compressor {
  const { memory, compress } = new wasm.Instance(module).exports as SnappyExports;
  const initial = new Uint8Array(memory.buffer).slice();
  return (input) => {
    const outputStart = INPUT_START + input.byteLength + GAP;
    // snappy's worst case: input + input/6 + 32 bytes.
    const end = outputStart + input.byteLength + Math.floor(input.byteLength / 6) + 32;
    reserve(memory, end);
    const bytes = new Uint8Array(memory.buffer);
    bytes.set(initial, 0);
    // Memory past the initial size is zero in a fresh instance.
    if (end > initial.length) bytes.fill(0, initial.length, end);
    bytes.set(input, INPUT_START);
    const length = compress(INPUT_START, input.byteLength, outputStart);
    if (length < 0) throw new Error(`snappy compression failed (${length})`);
    return bytes.subarray(outputStart, outputStart + length);
  };
}

let compressor: Compressor | undefined;

function instance(): Compressor {
  if (!compressor) {
    const module = hysnappyModule();
    // A hysnappy release that no longer embeds its module this way still works, only slower.
    compressor = module ? resettingCompressor(module) : freshInstanceCompress;
  }
  return compressor;
}

/**
 * Compresses one page; the same input always gives the same bytes.
 * @example const page = snappyCompress(new TextEncoder().encode('abcabcabc'));
 */
export function snappyCompress(input: Uint8Array): Uint8Array {
  return instance()(input).slice();
}

/**
 * Like {@link snappyCompress}, without the copy: the bytes returned are valid until the next
 * call (copy them out first). Page by page, the copies were garbage for nothing.
 */
export function snappyCompressTransient(input: Uint8Array): Uint8Array {
  return instance()(input);
}

/** hysnappy's own per-call fresh instance, the reference the tests compare against. */
export { freshInstanceCompress };

/** The uncompressed length a snappy block's preamble (a varint) announces. */
function announcedLength(input: Uint8Array): number {
  let length = 0;
  for (let i = 0, shift = 1; i < input.length && i < 5; i++, shift *= 128) {
    length += (input[i]! & 0x7f) * shift;
    if (input[i]! < 128) return length;
  }
  return -1;
}

type Uncompressor = (input: Uint8Array, out: Uint8Array) => void;

/**
 * hysnappy's WebAssembly uncompressor, one instance per thread, its memory reused: the reference
 * snappy compiled once, where a JavaScript one was compiled again by each thread's optimizer
 * (and deoptimized and compiled again, 20 times in a compute-kpi run).
 */
function wasmUncompressor(module: WasmModule): Uncompressor {
  const { memory, uncompress } = new wasm.Instance(module).exports as UnsnappyExports;
  return (input, out) => {
    if (announcedLength(input) !== out.length)
      throw new Error(
        `snappy block announces ${announcedLength(input)} bytes, the page header ${out.length}`,
      );
    const outputStart = INPUT_START + input.byteLength;
    const end = outputStart + out.length;
    reserve(memory, end);
    const bytes = new Uint8Array(memory.buffer);
    bytes.set(input, INPUT_START);
    const code = uncompress(INPUT_START, input.byteLength, outputStart);
    if (code !== 0) throw new Error(`snappy block is corrupt (${code})`);
    out.set(bytes.subarray(outputStart, end));
  };
}

let uncompressor: Uncompressor | undefined;

/**
 * Uncompresses a snappy block into `out`, whose length must be the block's uncompressed length
 * (a Parquet page header's): throws when it is not or the block is corrupt.
 */
export function snappyUncompressInto(input: Uint8Array, out: Uint8Array): void {
  if (!uncompressor) {
    const module = hysnappyModule('uncompress.js');
    uncompressor = module ? wasmUncompressor(module) : jsUncompress;
  }
  uncompressor(input, out);
}
