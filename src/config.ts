/**
 * The one place that reads the environment. Every variable the jobs, the orchestrator and the
 * CLI use is declared here with its type, default and description; `.env.example`, the Terraform
 * task definitions and the Lambda environment are checked against these declarations by tests.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';

const nonEmpty = z.string().trim().min(1);
const positiveInt = z.coerce.number().int().positive();

/**
 * Raw Parquet bytes per validate key bucket: about 650k order_items rows, whose keys fit a key
 * table of 2^20 slots (16 MB of a thread's memory) while their bucket is validated. 48 MiB
 * (~0.9M rows) took the next size, 2^21 slots (32 MB): 20M rows on two cores 396 -> 364 MB.
 */
export const DEFAULT_VALIDATE_BUCKET_BYTES = 32 * 1024 * 1024;
const url = z.url();
const timeZone = nonEmpty.refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not an IANA time zone (e.g. UTC, Europe/London)' },
);

/** Read by the jobs (their own time limit) and the orchestrator (its sweep of lost tasks). */
const stageTimeout = positiveInt
  .default(7200)
  .describe(
    'a stage still running after this long reports FAILED (stage_timeout) and exits, failing its run; the sweep fails a task silent past it',
  );

/** Variables shared by every component that touches storage. */
export const STORAGE_ENV = {
  AWS_REGION: nonEmpty.default('us-east-1').describe('AWS region of the bucket and tables'),
  CARTPIPE_BUCKET: nonEmpty.describe('the pipeline bucket (incoming/, metadata/, outputs)'),
  CARTPIPE_RUNS_TABLE: nonEmpty.default('cartpipe-runs').describe('DynamoDB table of runs'),
  CARTPIPE_KPI_TABLE: nonEmpty.default('cartpipe-kpis').describe('DynamoDB table of KPI rows'),
  CARTPIPE_HISTORY_TABLE: nonEmpty
    .default('cartpipe-history')
    .describe('DynamoDB table of purchase histories (online-retail)'),
  AWS_ENDPOINT_URL_S3: url.optional().describe('S3 endpoint override (local runtime, moto)'),
  AWS_ENDPOINT_URL_DYNAMODB: url.optional().describe('DynamoDB endpoint override'),
  CARTPIPE_LOG_LEVEL: z
    .enum(['debug', 'info', 'warn', 'error'])
    .default('info')
    .describe('log level'),
  CARTPIPE_AWS_MAX_ATTEMPTS: positiveInt
    .default(6)
    .describe(
      'tries of one S3/DynamoDB/SNS/ECS call on throttling, 5xx, timeouts and dropped connections (SDK backoff with jitter)',
    ),
  CARTPIPE_AWS_CONNECT_TIMEOUT_MS: positiveInt
    .default(5000)
    .describe('an AWS connection not established in this long is abandoned and retried (ms)'),
  CARTPIPE_AWS_SOCKET_TIMEOUT_MS: positiveInt
    .default(60_000)
    .describe(
      'an AWS request that sends or receives nothing for this long is abandoned and retried (ms)',
    ),
} as const;

/** Variables of the data-set profiles: read by the jobs and by the CLI (`cartpipe kpis`). */
export const PROFILE_ENV = {
  CARTPIPE_AGGREGATIONS_FILE: nonEmpty
    .optional()
    .describe(
      'clickstream aggregation spec, JSON or INI (default: config/clickstream.aggregations.json in the project)',
    ),
} as const;

/** Variables the stage jobs read (the task definitions pass exactly these). */
export const JOB_ENV = {
  ...STORAGE_ENV,
  ...PROFILE_ENV,
  RUN_ID: nonEmpty.regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ -').describe('run to work on'),
  CARTPIPE_TIME_ZONE: timeZone.default('UTC').describe('zone of naive timestamps and KPI dates'),
  CARTPIPE_REJECT_THRESHOLD: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.2)
    .describe('validate fails the run when rejected/rows-in exceeds this fraction'),
  CARTPIPE_ROWS_PER_PART: positiveInt.default(1_000_000).describe('rows per Parquet part file'),
  CARTPIPE_MAX_FILE_BYTES: positiveInt
    .default(5 * 1024 ** 3)
    .describe('largest input file accepted (bytes, after decompression)'),
  CARTPIPE_MAX_FIELD_CHARS: positiveInt
    .default(100_000)
    .describe('longest value accepted in an input field (characters); longer rejects the row'),
  CARTPIPE_MAX_ROW_CHARS: positiveInt
    .default(1_000_000)
    .describe(
      'longest input row, record or line (characters); longer fails the file (row_too_long) or rejects the row',
    ),
  CARTPIPE_STAGE_TIMEOUT_SECONDS: stageTimeout,
  CARTPIPE_WORKERS: z.coerce
    .number()
    .int()
    .min(0)
    .default(0)
    .describe(
      "worker threads of a stage (upload: an input file each; validate: key buckets each; compute-kpi: a KPI period each); 0 = one per CPU the task may use (validate: no more than one per 4 MiB of the batch's raw Parquet)",
    ),
  CARTPIPE_VALIDATE_BUCKET_BYTES: positiveInt
    .default(DEFAULT_VALIDATE_BUCKET_BYTES)
    .describe(
      "raw Parquet bytes per validate key bucket: validate holds one bucket's keys per thread at a time, so this bounds its memory whatever the batch's size",
    ),
} as const;

/** Variables the orchestrator Lambda reads. */
export const ORCHESTRATOR_ENV = {
  ...STORAGE_ENV,
  CARTPIPE_TOPIC_ARN: nonEmpty.optional().describe('SNS topic for run notifications'),
  CARTPIPE_ECS_CLUSTER: nonEmpty.optional().describe('ECS cluster that runs the stage tasks'),
  CARTPIPE_TASK_DEFINITION_PREFIX: nonEmpty
    .default('cartpipe')
    .describe('task definition family prefix: <prefix>-<stage>'),
  CARTPIPE_SUBNETS: nonEmpty.optional().describe('comma-separated subnet ids for the tasks'),
  CARTPIPE_SECURITY_GROUPS: nonEmpty.optional().describe('comma-separated security group ids'),
  CARTPIPE_ASSIGN_PUBLIC_IP: z
    .enum(['ENABLED', 'DISABLED'])
    .default('DISABLED')
    .describe('task ENI'),
  CARTPIPE_MAX_LAUNCH_ATTEMPTS: positiveInt
    .default(3)
    .describe('launches of a task that never starts'),
  CARTPIPE_LAUNCH_BACKOFF_MS: positiveInt
    .default(2000)
    .describe(
      'first relaunch of a task that never started waits up to this (ms, random); doubles per attempt',
    ),
  CARTPIPE_LAUNCH_BACKOFF_MAX_MS: positiveInt
    .default(15_000)
    .describe('cap of one relaunch wait (ms); keep (attempts - 1) x cap under the Lambda timeout'),
  CARTPIPE_MAX_MANIFEST_BYTES: positiveInt
    .default(1024 * 1024)
    .describe('largest manifest accepted (bytes); a larger one fails its run (manifest_too_large)'),
  CARTPIPE_MAX_MANIFEST_FILES: positiveInt
    .default(1000)
    .describe(
      'most files one manifest (or its batch folder) may name; more fails the run (manifest_too_many_files)',
    ),
  CARTPIPE_STAGE_TIMEOUT_SECONDS: stageTimeout,
  CARTPIPE_RECOVERY_AFTER_SECONDS: positiveInt
    .default(90)
    .describe(
      'a launch or notification left unfinished this long is redone by the next event of its run; keep above the Lambda timeout',
    ),
} as const;

/** Variables of the embedded local runtime (`cartpipe run|up|demo`); never set on AWS. */
export const LOCAL_ENV = {
  CARTPIPE_DATA_DIR: nonEmpty.default('.cartpipe').describe('local runtime data folder'),
  CARTPIPE_LOCAL_S3_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(0)
    .describe('0 = random'),
  CARTPIPE_LOCAL_DYNAMODB_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(0)
    .describe('0 = random'),
  CARTPIPE_BUCKET: nonEmpty.default('cartpipe-local').describe('local bucket name'),
  CARTPIPE_RUNS_TABLE: STORAGE_ENV.CARTPIPE_RUNS_TABLE,
  CARTPIPE_KPI_TABLE: STORAGE_ENV.CARTPIPE_KPI_TABLE,
  CARTPIPE_HISTORY_TABLE: STORAGE_ENV.CARTPIPE_HISTORY_TABLE,
  AWS_REGION: STORAGE_ENV.AWS_REGION,
  ...PROFILE_ENV,
} as const;

type Shape = Record<string, z.ZodType>;
export type Env<S extends Shape> = { [K in keyof S]: z.output<S[K]> };

/**
 * Reads and validates the variables of `shape` from `env` (process.env by default).
 * Throws a {@link ConfigError} naming every missing or malformed variable.
 *
 * @example
 * const config = readConfig(JOB_ENV); // config.RUN_ID, config.CARTPIPE_BUCKET, ...
 */
export function readConfig<S extends Shape>(
  shape: S,
  env: Record<string, string | undefined> = process.env,
): Env<S> {
  const input: Record<string, string | undefined> = {};
  for (const name of Object.keys(shape)) {
    const value = env[name];
    input[name] = value === undefined || value.trim() === '' ? undefined : value;
  }
  const parsed = z.object(shape).safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      const got = input[name] === undefined ? 'missing' : `got ${JSON.stringify(input[name])}`;
      const wanted = shape[name]?.description;
      return `${name}: ${input[name] === undefined ? 'required' : issue.message} (${got}${wanted ? `; ${wanted}` : ''})`;
    });
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data as Env<S>;
}

export type StorageConfig = Env<typeof STORAGE_ENV>;
export type JobConfig = Env<typeof JOB_ENV>;
export type OrchestratorConfig = Env<typeof ORCHESTRATOR_ENV>;
export type LocalConfig = Env<typeof LOCAL_ENV>;

/** Loads `.env` from the working directory when present (local use only; never overrides). */
export async function loadDotenv(): Promise<void> {
  const { config } = await import('dotenv');
  config({ quiet: true });
}
