/**
 * JSON readers: a JSON array of records, or one record per line (NDJSON / JSON Lines). Both
 * stream: stream-json's tokenizer is fed decoded text chunk by chunk, so a large array is never
 * held whole, and its tokens carry numbers as their source text, so a 19-digit id survives exactly
 * (JSON.parse would round it to a double). Records are flat objects mapped to the entity's
 * columns by key; values become text like the CSV reader's (numbers as written, booleans as
 * true/false). In NDJSON a malformed line is a row problem (the row is rejected by validate with
 * its line number); in an array a syntax error stops the file, since nothing after it can be
 * trusted to be aligned.
 */
import { none } from 'stream-chain/core';
import { jsonParser } from 'stream-json/core/parser.js';
import type { Token } from 'stream-json/parser.js';
import { InputFileError } from '../errors.js';
import { assertColumns } from './csv.js';
import {
  DEFAULT_MAX_FIELD_LENGTH,
  DEFAULT_MAX_ROW_LENGTH,
  RecordBatchBuilder,
  type RecordBatch,
  type ReadOptions,
  type RowProblem,
} from './records.js';

/** Characters fed to the tokenizer at a time (the precision of the record length bound). */
const SLICE = 4096;

type Tokenize = (input: string | typeof none) => unknown;
const newTokenizer = (): Tokenize =>
  jsonParser({ packValues: true, streamValues: false }) as unknown as Tokenize;

/** Tokens of one parser call (stream-chain wraps several in a `many` object). */
function tokensOf(out: unknown): readonly Token[] {
  const values = (out as { values?: Token[] } | undefined)?.values;
  return Array.isArray(values) ? values : [];
}

/**
 * Builds rows from the token stream of records: keys map to column slots (after renames), values
 * become text, nested objects or arrays are skipped unless they sit in a declared column (then the
 * row gets a `nested_value` problem).
 */
class RecordAssembler {
  readonly keysSeen = new Set<string>();
  private readonly slot: Map<string, number>;
  private values: (string | null)[] = [];
  private problem: RowProblem | undefined;
  private key: string | undefined;
  /** Depth of nesting inside the current record's values (0 = at the record's own keys). */
  private nested = 0;

  constructor(private readonly options: ReadOptions) {
    this.slot = new Map(options.columns.map((c, i) => [c, i]));
  }

  start(): void {
    this.values = new Array<string | null>(this.options.columns.length).fill(null);
    this.problem = undefined;
    this.key = undefined;
    this.nested = 0;
  }

  /** Feeds one token inside the record; true when it closed the record. */
  accept(token: Token): boolean {
    if (this.nested > 0) {
      if (token.name === 'startObject' || token.name === 'startArray') this.nested += 1;
      else if (token.name === 'endObject' || token.name === 'endArray') this.nested -= 1;
      return false;
    }
    switch (token.name) {
      case 'endObject':
        return true;
      case 'keyValue': {
        const renamed = this.options.renames?.[token.value] ?? token.value;
        this.key = renamed;
        this.keysSeen.add(renamed);
        return false;
      }
      case 'stringValue':
      case 'numberValue':
        this.set(token.value);
        return false;
      case 'trueValue':
      case 'falseValue':
        this.set(String(token.value));
        return false;
      case 'nullValue':
        this.set(null);
        return false;
      case 'startObject':
      case 'startArray':
        this.nested = 1;
        if (this.key !== undefined && this.slot.has(this.key)) {
          this.set(null);
          this.problem ??= {
            code: 'nested_value',
            message: `${this.key} holds an object or array, not a value`,
          };
        }
        return false;
      default:
        return false;
    }
  }

  /** Marks the current record as unreadable (all values null). */
  fail(problem: RowProblem): void {
    this.values = new Array<string | null>(this.options.columns.length).fill(null);
    this.problem = problem;
  }

  push(builder: RecordBatchBuilder, sourceRow: number): void {
    builder.push(sourceRow, this.values, this.problem);
  }

  private set(value: string | null): void {
    const at = this.key === undefined ? undefined : this.slot.get(this.key);
    if (at === undefined) return;
    const max = this.options.maxFieldLength ?? DEFAULT_MAX_FIELD_LENGTH;
    if (value !== null && value.length > max) {
      this.problem ??= {
        code: 'field_too_long',
        message: `a field is longer than ${max} characters`,
      };
      this.values[at] = null;
      return;
    }
    this.values[at] = value === '' ? null : value;
  }
}

/**
 * Yields the builder's batch once full; the first batch checks that the keys seen so far
 * include every required column (a file whose records never name a column is the wrong file).
 */
class Batcher {
  private checked = false;
  constructor(
    private readonly builder: RecordBatchBuilder,
    private readonly assembler: RecordAssembler,
    private readonly options: ReadOptions,
  ) {}
  full(): boolean {
    return this.builder.length >= (this.options.batchSize ?? 50_000);
  }
  take(): RecordBatch {
    if (!this.checked) {
      this.checked = true;
      assertColumns([...this.assembler.keysSeen], this.options);
    }
    return this.builder.take();
  }
  get length(): number {
    return this.builder.length;
  }
}

/** First non-whitespace character of the text, reading as few chunks as needed. */
async function peekStart(
  text: AsyncIterator<string>,
): Promise<{ first: string | undefined; buffered: string }> {
  let buffered = '';
  for (;;) {
    const next = await text.next();
    if (next.done) return { first: undefined, buffered };
    buffered += next.value;
    const match = /\S/.exec(buffered);
    if (match) return { first: match[0], buffered };
  }
}

async function* prepend(head: string, rest: AsyncIterator<string>): AsyncGenerator<string> {
  if (head) yield head;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

/**
 * Reads a `.json` file: an array of records, streamed; a file starting with `{` is read as one
 * record per line (many `.json` exports are NDJSON).
 * @throws InputFileError `empty_file`, `invalid_json`, `not_an_array`, `missing_columns`.
 */
export async function* readJson(
  text: AsyncIterable<string>,
  options: ReadOptions,
): AsyncGenerator<RecordBatch> {
  const iterator = text[Symbol.asyncIterator]();
  const { first, buffered } = await peekStart(iterator);
  if (first === undefined)
    throw new InputFileError('empty_file', options.file, 'the file is empty');
  if (first === '{') {
    yield* readNdjson(prepend(buffered, iterator), options);
    return;
  }
  if (first !== '[') {
    throw new InputFileError(
      'not_an_array',
      options.file,
      'a JSON file must hold an array of records, or one record per line',
      { line: 1 },
    );
  }
  const builder = new RecordBatchBuilder(options.columns);
  const assembler = new RecordAssembler(options);
  const batcher = new Batcher(builder, assembler, options);
  const tokenize = newTokenizer();
  let record = 0;
  let inRecord = false;
  let depth = 0; // 1 = inside the top-level array
  let skipping = 0; // nesting of a non-object array element being skipped

  const consume = function* (tokens: readonly Token[]): Generator<RecordBatch> {
    for (const token of tokens) {
      if (inRecord) {
        if (assembler.accept(token)) {
          inRecord = false;
          assembler.push(builder, record);
          if (batcher.full()) yield batcher.take();
        }
        continue;
      }
      if (skipping > 0) {
        if (token.name === 'startObject' || token.name === 'startArray') skipping += 1;
        else if (token.name === 'endObject' || token.name === 'endArray') skipping -= 1;
        continue;
      }
      if (depth === 0) {
        if (token.name === 'startArray') depth = 1;
        continue;
      }
      if (token.name === 'endArray') {
        depth = 0;
        continue;
      }
      // An element of the top-level array.
      record += 1;
      if (token.name === 'startObject') {
        inRecord = true;
        assembler.start();
        continue;
      }
      assembler.start();
      assembler.fail({ code: 'not_an_object', message: 'the array element is not an object' });
      assembler.push(builder, record);
      if (token.name === 'startArray') skipping = 1;
      if (batcher.full()) yield batcher.take();
    }
  };

  const feed = (chunk: string | typeof none): readonly Token[] => {
    try {
      return tokensOf(tokenize(chunk));
    } catch (cause) {
      throw new InputFileError(
        'invalid_json',
        options.file,
        `${(cause as Error).message} (in or after record ${record + (inRecord ? 0 : 1)})`,
        { cause },
      );
    }
  };
  // The tokenizer holds a value until it ends: bound the text one array element may span, so a
  // record (or string) that never ends cannot take the memory of the whole file.
  const maxRow = options.maxRowLength ?? DEFAULT_MAX_ROW_LENGTH;
  let since = 0;
  for await (const text of prepend(buffered, iterator)) {
    // Fed in slices, so that "what is still open began in this slice" is a close estimate.
    for (let at = 0; at < text.length; at += SLICE) {
      const slice = text.slice(at, at + SLICE);
      const before = record;
      yield* consume(feed(slice));
      since = record !== before ? slice.length : since + slice.length;
      if (since > maxRow) {
        throw new InputFileError(
          'row_too_long',
          options.file,
          `record ${record + (inRecord ? 0 : 1)} runs past ${maxRow} characters`,
        );
      }
    }
  }
  yield* consume(feed(none));
  if (record === 0)
    throw new InputFileError('empty_file', options.file, 'the array holds no records');
  if (batcher.length > 0) yield batcher.take();
}

/**
 * Reads NDJSON: one JSON object per line, blank lines skipped; rows are numbered by line.
 * @throws InputFileError `empty_file`, `line_too_long`, `missing_columns`.
 */
export async function* readNdjson(
  text: AsyncIterable<string>,
  options: ReadOptions,
): AsyncGenerator<RecordBatch> {
  const builder = new RecordBatchBuilder(options.columns);
  const assembler = new RecordAssembler(options);
  const batcher = new Batcher(builder, assembler, options);
  let lineNumber = 0;
  let records = 0;
  let pending = '';
  const maxLine = options.maxRowLength ?? DEFAULT_MAX_ROW_LENGTH;

  const parseLine = (line: string): void => {
    lineNumber += 1;
    if (line.length > maxLine) {
      throw new InputFileError(
        'line_too_long',
        options.file,
        `line longer than ${maxLine} characters: not one record per line`,
        { line: lineNumber },
      );
    }
    if (!/\S/.test(line)) return;
    records += 1;
    assembler.start();
    const tokenize = newTokenizer();
    let tokens: Token[];
    try {
      tokens = [...tokensOf(tokenize(line)), ...tokensOf(tokenize(none))];
    } catch (cause) {
      assembler.fail({ code: 'invalid_json', message: (cause as Error).message });
      assembler.push(builder, lineNumber);
      return;
    }
    if (tokens[0]?.name !== 'startObject') {
      assembler.fail({ code: 'not_an_object', message: 'the line is not a JSON object' });
      assembler.push(builder, lineNumber);
      return;
    }
    for (let i = 1; i < tokens.length; i++) if (assembler.accept(tokens[i]!)) break;
    assembler.push(builder, lineNumber);
  };

  for await (const chunk of text) {
    pending += chunk;
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
      parseLine(pending.slice(start, nl));
      start = nl + 1;
      if (batcher.full()) yield batcher.take();
    }
    pending = pending.slice(start);
    if (pending.length > maxLine) {
      throw new InputFileError(
        'line_too_long',
        options.file,
        `line longer than ${maxLine} characters: not one record per line`,
        { line: lineNumber + 1 },
      );
    }
  }
  if (pending) parseLine(pending);
  if (records === 0) throw new InputFileError('empty_file', options.file, 'the file is empty');
  if (batcher.length > 0) yield batcher.take();
}
