/**
 * One error type per failure kind. Every error keeps its `cause` so logs and stage reports can
 * show the whole chain; callers narrow with `instanceof` or {@link isCartpipeError}.
 */

/** Base class: `code` is the stable, machine-readable reason that reports and notifications use. */
export class CartpipeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An environment variable is missing or malformed. */
export class ConfigError extends CartpipeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('config_invalid', message, options);
  }
}

/** The manifest is not valid JSON, names an unknown dataset, or lists a missing/mismatched file. */
export class ManifestError extends CartpipeError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** An input file cannot be read at all (empty, not the declared format, binary garbage). */
export class InputFileError extends CartpipeError {
  readonly file: string;
  readonly line: number | undefined;
  constructor(
    code: string,
    file: string,
    message: string,
    options?: { cause?: unknown; line?: number },
  ) {
    super(
      code,
      `${file}${options?.line !== undefined ? `:${options.line}` : ''}: ${message}`,
      options,
    );
    this.file = file;
    this.line = options?.line;
  }
}

/** The batch broke a run-level rule (reject ratio above the threshold, nothing to load). */
export class DataQualityError extends CartpipeError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** An object or item that a stage needs is not where the contract says it is. */
export class NotFoundError extends CartpipeError {
  constructor(what: string, options?: { cause?: unknown }) {
    super('not_found', `${what} not found`, options);
  }
}

/** A storage backend (S3, DynamoDB) failed after its retries. */
export class StorageError extends CartpipeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage_failed', message, options);
  }
}

/** A conditional write lost: somebody else moved the state first. Expected under duplicates. */
export class ConflictError extends CartpipeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('conflict', message, options);
  }
}

/** A task launch or orchestration step failed. */
export class OrchestrationError extends CartpipeError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * The stage was stopped before it finished: SIGTERM (ECS stopping its task: `stage_stopped`) or
 * its own time limit (`stage_timeout`). Its report says so; readers see none of its outputs.
 */
export class StageStoppedError extends CartpipeError {
  constructor(code: 'stage_stopped' | 'stage_timeout', message: string) {
    super(code, message);
  }
}

/** Narrows an unknown thrown value. */
export function isCartpipeError(value: unknown): value is CartpipeError {
  return value instanceof CartpipeError;
}

/** Message of any thrown value, with the first cause appended when it adds something. */
export function describeError(value: unknown): string {
  if (value instanceof Error) {
    const cause = value.cause instanceof Error ? value.cause.message : undefined;
    return cause && !value.message.includes(cause)
      ? `${value.message} (cause: ${cause})`
      : value.message;
  }
  return String(value);
}

/** An error as it crosses a thread boundary: plain data a worker can post. */
export interface ErrorData {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  file?: string;
  line?: number;
  cause?: ErrorData;
}

const ERROR_CLASSES: Record<string, { prototype: Error }> = {
  CartpipeError,
  ConfigError,
  ManifestError,
  InputFileError,
  DataQualityError,
  NotFoundError,
  StorageError,
  ConflictError,
  OrchestrationError,
  StageStoppedError,
};

/** Plain data of a thrown value, its cause chain included ({@link errorFromData} undoes it). */
export function errorToData(value: unknown): ErrorData {
  if (!(value instanceof Error)) return { name: 'Error', message: String(value) };
  const fields = value as Error & { code?: unknown; file?: unknown; line?: unknown };
  return {
    name: value.name,
    message: value.message,
    ...(value.stack ? { stack: value.stack } : {}),
    ...(typeof fields.code === 'string' ? { code: fields.code } : {}),
    ...(typeof fields.file === 'string' ? { file: fields.file } : {}),
    ...(typeof fields.line === 'number' ? { line: fields.line } : {}),
    ...(value.cause !== undefined ? { cause: errorToData(value.cause) } : {}),
  };
}

/**
 * The error {@link errorToData} described, of the same class when it is one of ours, so callers
 * on this side of the thread boundary still narrow with `instanceof` and read `code`.
 */
export function errorFromData(data: ErrorData): Error {
  const error = Object.create((ERROR_CLASSES[data.name] ?? Error).prototype) as Error &
    Record<string, unknown>;
  Object.defineProperty(error, 'message', { value: data.message, writable: true });
  Object.defineProperty(error, 'stack', { value: data.stack ?? '', writable: true });
  error.name = data.name;
  if (data.code !== undefined) error.code = data.code;
  if (data.file !== undefined) error.file = data.file;
  if (data.line !== undefined || data.name === 'InputFileError') error.line = data.line;
  if (data.cause) Object.defineProperty(error, 'cause', { value: errorFromData(data.cause) });
  return error;
}
