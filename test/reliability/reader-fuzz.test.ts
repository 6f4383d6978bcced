import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import ExcelJS from 'exceljs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { pick, randomInt, seededRandom } from '../helpers/random.js';
import { sample } from './scenario.js';

/**
 * Must show 4 (fuzz): the readers (CSV, TSV, JSON, NDJSON, XLSX; CSV and NDJSON also gzipped,
 * half of those damaged as gzip and half damaged before compression) over mutated copies of
 * small valid samples: bytes flipped, structural characters and invalid
 * bytes inserted, ranges cut, repeated or moved, the input truncated, delivered in chunks of
 * random sizes. Fixed seeds, a fixed number of cases. Every case must end as a read (row
 * problems allowed, each with a code) or as a coded refusal of the file (an InputFileError, never
 * 'internal_error'); any other exception is a failure, and so is a case that does not answer
 * within the watchdog's bound (a hang: the worker thread running it is stopped). The bound is
 * a hang detector, far above what any case needs, not a performance assertion.
 */
const CASES: Record<string, number> = {
  'orders.csv': 250,
  'orders.tsv': 120,
  'orders.json': 250,
  'orders.ndjson': 200,
  'orders.xlsx': 150,
  'orders.csv.gz': 150,
  'orders.ndjson.gz': 80,
};
const WATCHDOG_MS = Number(process.env.FUZZ_WATCHDOG_MS ?? 30_000);
const COLUMNS = [
  'order_id',
  'user_id',
  'status',
  'created_at',
  'returned_at',
  'shipped_at',
  'delivered_at',
  'num_of_item',
];
// A damaged workbook is declared stalled after 1 s here (10 s by default) to keep the run short.
const LIMITS = { maxBytes: 2_000_000, maxFieldLength: 2_000, maxRowLength: 20_000, stallMs: 1000 };
const WORKER = fileURLToPath(new URL('./fuzz-worker.mjs', import.meta.url));

type Outcome =
  | { outcome: 'read'; rows: number; problems: Record<string, number> }
  | { outcome: 'refused' | 'crashed'; code?: string; message: string }
  | { outcome: 'hung' };

/** Runs inputs one at a time in a worker; restarts it after a hang. */
class FuzzRunner {
  private worker: Worker | undefined;
  private next = 0;

  async run(input: { name: string; bytes: Uint8Array; chunkSize: number }): Promise<Outcome> {
    this.worker ??= new Worker(WORKER);
    const worker = this.worker;
    const id = this.next++;
    return new Promise<Outcome>((done) => {
      const timer = setTimeout(() => {
        worker.off('message', onMessage);
        void worker.terminate();
        this.worker = undefined;
        done({ outcome: 'hung' });
      }, WATCHDOG_MS);
      const onMessage = ({ id: answered, ...outcome }: Outcome & { id: number }) => {
        if (answered !== id) return;
        clearTimeout(timer);
        worker.off('message', onMessage);
        done(outcome as Outcome);
      };
      worker.on('message', onMessage);
      worker.postMessage({
        id,
        ...input,
        columns: COLUMNS,
        requiredColumns: COLUMNS.slice(0, 4),
        limits: LIMITS,
      });
    });
  }

  async close() {
    await this.worker?.terminate();
  }
}

const SPECIAL = [
  '"',
  ',',
  '\t',
  '\n',
  '\r',
  '\r\n',
  '{',
  '}',
  '[',
  ']',
  ':',
  '\\',
  '\u0000',
  '\uFEFF',
].map((s) => Buffer.from(s));
const INVALID = [
  Buffer.from([0xff]),
  Buffer.from([0xc3]),
  Buffer.from([0xe2, 0x82]),
  Buffer.from([0xed, 0xa0, 0x80]),
];

/** One to four mutations of `base`, drawn from `random`. */
function mutate(base: Buffer, random: () => number): Buffer {
  let bytes = Buffer.from(base);
  const mutations = randomInt(random, 1, 4);
  for (let m = 0; m < mutations; m++) {
    const at = randomInt(random, 0, Math.max(0, bytes.length - 1));
    const span = randomInt(random, 1, Math.min(64, Math.max(1, bytes.length - at)));
    switch (randomInt(random, 0, 7)) {
      case 0: // flip bits of some bytes
        for (let i = 0; i < span && at + i < bytes.length; i++)
          bytes[at + i] = bytes[at + i]! ^ (1 << randomInt(random, 0, 7));
        break;
      case 1: // a structural character
        bytes = Buffer.concat([bytes.subarray(0, at), pick(SPECIAL, random), bytes.subarray(at)]);
        break;
      case 2: // bytes that are not UTF-8
        bytes = Buffer.concat([bytes.subarray(0, at), pick(INVALID, random), bytes.subarray(at)]);
        break;
      case 3: // cut a range
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + span)]);
        break;
      case 4: // repeat a range many times
        bytes = Buffer.concat([
          bytes.subarray(0, at + span),
          ...Array.from({ length: randomInt(random, 1, 200) }, () => bytes.subarray(at, at + span)),
          bytes.subarray(at + span),
        ]);
        break;
      case 5: // truncate
        bytes = bytes.subarray(0, at);
        break;
      case 6: {
        // move a range elsewhere
        const piece = bytes.subarray(at, at + span);
        const rest = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + span)]);
        const to = randomInt(random, 0, rest.length);
        bytes = Buffer.concat([rest.subarray(0, to), piece, rest.subarray(to)]);
        break;
      }
      default: // one random byte
        bytes = Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from([randomInt(random, 0, 255)]),
          bytes.subarray(at),
        ]);
    }
  }
  return bytes;
}

describe('readers over mutated inputs', () => {
  const runner = new FuzzRunner();
  const bases: Record<string, Buffer> = {};
  const summary: Record<string, Record<string, number>> = {};

  beforeAll(async () => {
    if (!existsSync(new URL('../../dist/src/formats/index.js', import.meta.url)))
      throw new Error('dist/ is missing: run `npm run build` first');
    const orders = sample.orders();
    const lines = [orders.header, ...orders.rows.slice(0, 12)];
    const records = orders.rows.slice(0, 12).map((row) => {
      const values = row.split(',');
      return Object.fromEntries(COLUMNS.map((c, i) => [c, values[i] === '' ? null : values[i]]));
    });
    bases['orders.csv'] = Buffer.from(`${lines.join('\n')}\n`);
    bases['orders.tsv'] = Buffer.from(`${lines.map((l) => l.replaceAll(',', '\t')).join('\n')}\n`);
    bases['orders.json'] = Buffer.from(JSON.stringify(records, null, 1));
    bases['orders.ndjson'] = Buffer.from(`${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const workbook = new ExcelJS.Workbook();
    const sheet = workbook.addWorksheet('orders');
    sheet.addRow(COLUMNS);
    for (const r of records) sheet.addRow(COLUMNS.map((c) => r[c]));
    bases['orders.xlsx'] = Buffer.from(await workbook.xlsx.writeBuffer());
    bases['orders.csv.gz'] = gzipSync(bases['orders.csv']);
    bases['orders.ndjson.gz'] = gzipSync(bases['orders.ndjson']);
  });
  afterAll(async () => {
    await runner.close();
    // The figures of the note: outcomes per format.
    process.stdout.write(`reader fuzz outcomes: ${JSON.stringify(summary)}\n`);
  });

  it('reads every unmutated sample without a problem', async () => {
    for (const [name, bytes] of Object.entries(bases)) {
      const result = await runner.run({ name, bytes, chunkSize: 7 });
      expect({ name, ...result }).toEqual({ name, outcome: 'read', rows: 12, problems: {} });
    }
  });

  it.each(Object.entries(CASES).map(([name, count], i) => [name, count, 1000 + i] as const))(
    '%s: %i mutated inputs (seed %i) each read or refused with a code, none crashing or hanging',
    async (name, count, seed) => {
      const random = seededRandom(seed);
      const failures: string[] = [];
      const outcomes: Record<string, number> = {};
      for (let c = 0; c < count; c++) {
        // Gzipped inputs: half damaged as gzip, half damaged text compressed whole.
        const plain = name.endsWith('.gz') ? bases[name.slice(0, -3)] : undefined;
        const bytes =
          plain && random() < 0.5 ? gzipSync(mutate(plain, random)) : mutate(bases[name]!, random);
        const chunkSize = randomInt(random, 1, 5000);
        const result = await runner.run({ name, bytes, chunkSize });
        const label =
          result.outcome === 'read'
            ? 'read'
            : result.outcome === 'refused'
              ? `refused:${result.code}`
              : result.outcome;
        outcomes[label] = (outcomes[label] ?? 0) + 1;
        const badRead =
          result.outcome === 'read' &&
          Object.keys(result.problems).some((code) => !code || code === 'internal_error');
        const badRefusal =
          result.outcome === 'refused' && (!result.code || result.code === 'internal_error');
        if (result.outcome === 'crashed' || result.outcome === 'hung' || badRead || badRefusal) {
          failures.push(
            `case ${c} (seed ${seed}, chunks of ${chunkSize}): ${JSON.stringify(result).slice(0, 600)}`,
          );
        }
      }
      summary[name] = outcomes;
      expect(failures).toEqual([]);
      // The mutations reach past the happy path: some inputs are refused, most get read.
      expect(Object.keys(outcomes).some((k) => k.startsWith('refused:'))).toBe(true);
    },
  );
});
