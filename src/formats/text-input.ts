/**
 * Turns an input byte stream into decoded text chunks: gunzip when asked, reject binary data,
 * decode UTF-8 (BOM stripped) or latin-1 without splitting multi-byte characters at chunk edges.
 */
import { isAscii } from 'node:buffer';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InputFileError } from '../errors.js';

export interface ByteSourceOptions {
  file: string;
  gzip?: boolean;
  /** Stop with `file_too_large` past this many (decompressed) bytes. */
  maxBytes?: number;
}

/** Byte chunks of the (decompressed) input, with a byte budget that also stops gzip bombs. */
export async function* bytesOf(
  input: Readable,
  options: ByteSourceOptions,
): AsyncGenerator<Uint8Array> {
  const source = options.gzip ? input.pipe(createGunzip()) : input;
  if (options.gzip) input.on('error', (e) => source.destroy(e));
  let total = 0;
  try {
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (options.maxBytes !== undefined && total > options.maxBytes) {
        throw new InputFileError(
          'file_too_large',
          options.file,
          `larger than ${options.maxBytes} bytes`,
        );
      }
      yield chunk;
    }
  } catch (cause) {
    if (cause instanceof InputFileError) throw cause;
    const code = options.gzip ? 'gzip_invalid' : 'read_failed';
    throw new InputFileError(code, options.file, `cannot read: ${(cause as Error).message}`, {
      cause,
    });
  } finally {
    source.destroy();
  }
}

export type TextEncoding = 'utf-8' | 'latin1';

/**
 * Where UTF-8 validity ends in `bytes`: -1 all valid, -2 valid up to an incomplete sequence at
 * the end (it may continue in the next chunk), else the index of the first invalid byte.
 */
export function utf8Problem(bytes: Uint8Array, from = 0): number {
  let i = from;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b === 0xe0) [need, low] = [2, 0xa0];
    else if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) need = 2;
    else if (b === 0xed) [need, high] = [2, 0x9f];
    else if (b === 0xf0) [need, low] = [3, 0x90];
    else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else if (b === 0xf4) [need, high] = [3, 0x8f];
    else return i;
    for (let k = 1; k <= need; k++) {
      if (i + k >= bytes.length) return -2;
      const c = bytes[i + k]!;
      if (k === 1 ? c < low || c > high : c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

function firstNonAscii(bytes: Uint8Array): number {
  // Most chunks of most files are all ASCII: one native scan says so.
  if (isAscii(bytes)) return -1;
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return i;
  return -1;
}

function countNewlines(bytes: Uint8Array, end = bytes.length): number {
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0 && i < end; i = bytes.indexOf(0x0a, i + 1)) n += 1;
  return n;
}

/**
 * Decoded text chunks. `encoding` decides the decoding; left out, it is detected: text stays
 * undecided while it is plain ASCII (identical in both), and the first non-ASCII bytes decide:
 * valid UTF-8 means UTF-8, anything else latin-1 (a latin-1 file with accented letters is
 * practically never valid UTF-8). latin-1 is decoded as windows-1252, its superset, as the
 * WHATWG Encoding standard does for the "latin1" label. UTF-8 is decoded strictly: an invalid
 * byte later in a UTF-8 file stops the file with `invalid_encoding` naming its line, rather than
 * turning it into U+FFFD unseen. A byte order mark is dropped. Throws `binary_file` when the data
 * holds NUL bytes (not text).
 */
export async function* textOf(
  bytes: AsyncIterable<Uint8Array>,
  options: { file: string; encoding?: TextEncoding },
): AsyncGenerator<string> {
  const decoderFor = (encoding: TextEncoding) =>
    new TextDecoder(encoding === 'latin1' ? 'latin1' : 'utf-8', {
      ignoreBOM: false,
      fatal: encoding === 'utf-8',
    });
  let encoding = options.encoding;
  let decoder = encoding ? decoderFor(encoding) : undefined;
  const ascii = new TextDecoder('latin1');
  let held: Uint8Array | undefined; // undecided bytes ending in an incomplete UTF-8 sequence
  let first = true;
  let linesBefore = 0;
  let bytesBefore = 0;

  const invalid = (chunk: Uint8Array, cause?: unknown): InputFileError => {
    const at = Math.max(utf8Problem(chunk), 0);
    const line = linesBefore + countNewlines(chunk, at) + 1;
    return new InputFileError(
      'invalid_encoding',
      options.file,
      `byte ${bytesBefore + at} is not valid UTF-8${options.encoding ? '' : ' (the text before it was)'}; if the file is latin-1, set "encoding": "latin1" for it in the manifest`,
      { line, cause },
    );
  };
  const decode = (chunk: Uint8Array, last: boolean): string => {
    try {
      return last ? decoder!.decode() : decoder!.decode(chunk, { stream: true });
    } catch (cause) {
      throw invalid(chunk, cause);
    }
  };
  const emit = (text: string): string => {
    if (first && text.length > 0) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) return text.slice(1);
    }
    return text;
  };

  for await (const input of bytes) {
    if (input.includes(0)) {
      throw new InputFileError('binary_file', options.file, 'contains NUL bytes: not a text file');
    }
    let chunk = input;
    if (!decoder) {
      if (held) {
        const joined = new Uint8Array(held.length + chunk.length);
        joined.set(held);
        joined.set(chunk, held.length);
        chunk = joined;
        held = undefined;
      }
      const at = firstNonAscii(chunk);
      if (at < 0) {
        const text = emit(ascii.decode(chunk));
        linesBefore += countNewlines(chunk);
        bytesBefore += chunk.length;
        if (text) yield text;
        continue;
      }
      // Only the first non-ASCII sequence decides: a later invalid byte in the same chunk must
      // stop a UTF-8 file (invalid_encoding), not turn all of it into latin-1 mojibake.
      const problem = utf8Problem(chunk.subarray(at, at + 4));
      if (problem === -2 && chunk.length - at < 4) {
        // Perhaps only the start of one multi-byte sequence so far: wait for more before deciding.
        const text = emit(ascii.decode(chunk.subarray(0, at)));
        linesBefore += countNewlines(chunk, at);
        bytesBefore += at;
        held = chunk.slice(at);
        if (text) yield text;
        continue;
      }
      encoding = problem === 0 ? 'latin1' : 'utf-8';
      decoder = decoderFor(encoding);
    }
    const text = emit(decode(chunk, false));
    linesBefore += countNewlines(chunk);
    bytesBefore += chunk.length;
    if (text) yield text;
  }
  if (held) {
    // The input ended inside a UTF-8 sequence: it was not UTF-8.
    decoder = decoderFor('latin1');
    const text = emit(decoder.decode(held));
    if (text) yield text;
    return;
  }
  if (decoder) {
    const rest = decode(new Uint8Array(0), true);
    if (rest) yield rest;
  }
}
