/**
 * The hostile-input corpus (test/fixtures/hostile/cases.json) and the inputs too large to keep
 * in the repository, built at test time from a few lines each.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { Readable } from 'node:stream';

export const HOSTILE = join(
  import.meta.dirname ?? new URL('.', import.meta.url).pathname,
  '..',
  'fixtures',
  'hostile',
);

export type Expectation =
  | { at: 'manifest'; code: string }
  | { at: 'upload'; code: string }
  | { at: 'validate'; rejects: Record<string, number>; valid?: number };

export interface HostileCase {
  id: string;
  what: string;
  /** Manifest cases: the manifest as JSON, as a file of the corpus, or generated. */
  manifest?: unknown;
  manifestFile?: string;
  /** File cases: the data file (corpus path, or generated) and its name under incoming/<id>/. */
  file?: string;
  as?: string;
  generate?: string;
  /** Extra properties of the file's manifest entry (encoding, sheet, rows, ...). */
  entry?: Record<string, unknown>;
  expect: Expectation;
}

export interface Corpus {
  limits: Record<string, number>;
  cases: HostileCase[];
}

export function loadCorpus(): Corpus {
  return JSON.parse(readFileSync(join(HOSTILE, 'cases.json'), 'utf8')) as Corpus;
}

const ORDERS_HEADER =
  'order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item\n';
/** The rest of an order record in JSON, every column present (JSON records name them all). */
const JSON_REST =
  '"created_at":"2025-03-01T10:00:00","returned_at":null,"shipped_at":null,"delivered_at":null,"num_of_item":1';
const ORDER = (id: number) => `${id},10,delivered,2025-03-01T10:00:00,,,,1\n`;

async function gzipped(chunks: Iterable<string>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(createGzip({ level: 9 }))) out.push(c as Buffer);
  return Buffer.concat(out);
}

/** Generated data files (bytes) and manifests (JSON text) of the corpus's 'generate' cases. */
export async function generate(name: string, id: string): Promise<Buffer> {
  switch (name) {
    case 'gzip-bomb': {
      // 200 MB of CSV rows: about 200 KB gzipped.
      const block = ORDER(1).repeat(25_000);
      return gzipped(
        (function* () {
          yield ORDERS_HEADER;
          for (let sent = 0; sent < 200_000_000; sent += block.length) yield block;
        })(),
      );
    }
    case 'large-csv':
      return Buffer.from(ORDERS_HEADER + ORDER(1).repeat(40_000)); // 1.6 MB
    case 'endless-quote':
      return Buffer.from(`${ORDERS_HEADER}${ORDER(1)}2,10,"${'a'.repeat(50_000)}\n`);
    case 'endless-header':
      return Buffer.from(`order_id,${'x'.repeat(30_000)}`);
    case 'deep-json':
      return Buffer.from(
        `[{"order_id":1,"user_id":10,"status":${'['.repeat(4000)}${']'.repeat(4000)},${JSON_REST}},\n` +
          `{"order_id":2,"user_id":10,"status":"delivered",${JSON_REST}}]\n`,
      );
    case 'huge-json-record':
      return Buffer.from(`[{"order_id":1,"note":"${'a'.repeat(30_000)}"}]\n`);
    case 'long-ndjson-line':
      return Buffer.from(
        `{"order_id":1,"user_id":10,"status":"delivered","created_at":"2025-03-01T10:00:00","note":"${'a'.repeat(30_000)}"}\n`,
      );
    case 'long-key':
      return Buffer.from(
        JSON.stringify({
          dataset: 'thelook',
          files: [{ key: `incoming/${id}/${'a'.repeat(1100)}.csv` }],
        }),
      );
    case 'large-manifest':
      return Buffer.from(
        JSON.stringify({ dataset: 'thelook', options: { pad: 'x'.repeat(70_000) } }),
      );
    case 'many-files':
      return Buffer.from(
        JSON.stringify({
          dataset: 'thelook',
          files: Array.from({ length: 21 }, (_, i) => ({ key: `incoming/${id}/orders_${i}.csv` })),
        }),
      );
    case 'deep-options':
      return Buffer.from(
        `{"dataset":"thelook","options":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_001)}`,
      );
    default:
      throw new Error(`no generator ${name}`);
  }
}
