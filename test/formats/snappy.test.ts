import { describe, expect, it } from '@jest/globals';
import { snappyUncompress } from 'hyparquet';
import {
  freshInstanceCompress,
  snappyCompress,
  snappyUncompressInto,
} from '../../src/formats/snappy.js';
import { pick, randomInt, seededRandom } from '../helpers/random.js';

/** Pages shaped like Parquet's: repetitive text columns, dictionary indexes, random bytes. */
function pages(count: number, seed: number): Uint8Array[] {
  const random = seededRandom(seed);
  const words = [
    'delivered',
    'returned',
    '2024-04-01 10:11:12',
    'Shipped',
    'Jeans',
    '\u0000\u0001',
  ];
  const sizes = [0, 1, 15, 100, 1000, 20_000, 65_536, 65_537, 70_000, 300_000];
  return Array.from({ length: count }, () => {
    const size = pick(sizes, random) + randomInt(random, 0, 977);
    const bytes = new Uint8Array(size);
    if (random() < 0.2) {
      // Incompressible: snappy stores it as literals.
      for (let i = 0; i < size; i++) bytes[i] = (random() * 256) | 0;
      return bytes;
    }
    const text = new TextEncoder().encode(
      Array.from(
        { length: Math.ceil(size / 8) },
        () => pick(words, random) + randomInt(random, 0, 60),
      ).join(','),
    );
    return text.subarray(0, size);
  });
}

describe('snappy compression of Parquet pages', () => {
  const corpus = pages(800, 11);

  it('gives, page after page, exactly the bytes of a fresh hysnappy instance', () => {
    const differing = corpus.filter(
      (page) => !Buffer.from(snappyCompress(page)).equals(Buffer.from(freshInstanceCompress(page))),
    );
    expect(differing.map((p) => p.length)).toEqual([]);
  });

  it('compresses the same page to the same bytes whatever came before it', () => {
    const page = corpus.find((p) => p.length > 60_000)!;
    const first = Buffer.from(snappyCompress(page));
    for (const other of corpus.slice(0, 200)) snappyCompress(other);
    expect(Buffer.from(snappyCompress(page)).equals(first)).toBe(true);
  });

  it('round-trips through an independent decoder (hyparquet, in JavaScript)', () => {
    for (const page of corpus.slice(0, 300)) {
      const packed = snappyCompress(page);
      const out = new Uint8Array(page.length);
      snappyUncompress(packed, out);
      expect(Buffer.from(out).equals(Buffer.from(page))).toBe(true);
    }
  });

  it("uncompresses (WebAssembly) into the caller's page buffer what was compressed, as hyparquet does", () => {
    // Largest first, so the instance's memory grows once and is then reused for smaller pages.
    const sorted = [...corpus].sort((a, b) => b.length - a.length);
    for (const page of sorted) {
      const packed = snappyCompress(page);
      const out = new Uint8Array(page.length).fill(7);
      snappyUncompressInto(packed, out);
      expect(Buffer.from(out).equals(Buffer.from(page))).toBe(true);
      const reference = new Uint8Array(page.length);
      snappyUncompress(packed, reference);
      expect(Buffer.from(out).equals(Buffer.from(reference))).toBe(true);
    }
  });

  it("refuses a block whose length is not the page's, or that is cut short or corrupt", () => {
    const page = corpus.find((p) => p.length > 60_000)!;
    const packed = snappyCompress(page);
    expect(() => snappyUncompressInto(packed, new Uint8Array(page.length - 1))).toThrow(
      /announces/,
    );
    expect(() =>
      snappyUncompressInto(packed.subarray(0, packed.length >> 1), new Uint8Array(page.length)),
    ).toThrow(/corrupt/);
    const garbled = packed.slice();
    for (let i = 8; i < garbled.length; i += 97) garbled[i] = 0xff;
    expect(() => snappyUncompressInto(garbled, new Uint8Array(page.length))).toThrow();
  });
});
