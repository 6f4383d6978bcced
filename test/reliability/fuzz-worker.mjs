/**
 * Reads one fuzzed input per message with the compiled readers (dist/, `npm run build`), in a
 * worker thread so that the test's watchdog can stop it even if a reader spins synchronously.
 * Answers { id, outcome: 'read' | 'refused' | 'crashed', ... } for each input.
 */
import { Readable } from 'node:stream';
import { URL } from 'node:url';
import { parentPort } from 'node:worker_threads';

const dist = new URL('../../dist/src/', import.meta.url);
const { fileTraits, readRecords } = await import(new URL('formats/index.js', dist).href);
const { isCartpipeError } = await import(new URL('errors.js', dist).href);

function* chunks(bytes, size) {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

parentPort.on('message', async (input) => {
  const { id, name, bytes, chunkSize, columns, requiredColumns, limits } = input;
  const problems = {};
  let rows = 0;
  try {
    const batches = readRecords(Readable.from(chunks(Buffer.from(bytes), chunkSize)), {
      file: name,
      traits: fileTraits(name),
      columns,
      requiredColumns,
      batchSize: 100,
      ...limits,
    });
    for await (const batch of batches) {
      rows += batch.length;
      for (const problem of batch.problems.values())
        problems[problem.code] = (problems[problem.code] ?? 0) + 1;
    }
    parentPort.postMessage({ id, outcome: 'read', rows, problems });
  } catch (error) {
    parentPort.postMessage({
      id,
      outcome: isCartpipeError(error) ? 'refused' : 'crashed',
      code: isCartpipeError(error) ? error.code : undefined,
      message: String(error?.stack ?? error),
    });
  }
});
