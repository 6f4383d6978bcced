/**
 * Turns an input byte stream into decoded text chunks: gunzip when asked, reject binary data,
 * decode UTF-8 (BOM stripped) or latin-1 without splitting multi-byte characters at chunk edges.
 */
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

/** Decoded text chunks; throws `binary_file` when the data holds NUL bytes (not text). */
export async function* textOf(
  bytes: AsyncIterable<Uint8Array>,
  options: { file: string; encoding?: 'utf-8' | 'latin1' },
): AsyncGenerator<string> {
  const decoder = new TextDecoder(options.encoding === 'latin1' ? 'latin1' : 'utf-8', {
    ignoreBOM: false,
  });
  let first = true;
  for await (const chunk of bytes) {
    if (chunk.includes(0)) {
      throw new InputFileError('binary_file', options.file, 'contains NUL bytes: not a text file');
    }
    let text = decoder.decode(chunk, { stream: true });
    if (first && text.length > 0) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (text) yield text;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}
