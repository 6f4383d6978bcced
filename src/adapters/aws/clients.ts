/**
 * One SDK client per service, configured from the storage config. Endpoint overrides
 * (AWS_ENDPOINT_URL_S3 / _DYNAMODB) point the same code at the local runtime or moto.
 *
 * Every client retries throttling, 5xx, timeouts and dropped connections a bounded number of
 * times with the SDK's exponential backoff and full jitter (adaptive mode also slows the client
 * down while it is being throttled), without the SDK's retry quota (retry-strategy.ts), and abandons a connection that does not open, or a request
 * that stays silent, after a bounded time: without that a half-open socket hangs a job forever.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { StorageConfig } from '../../config.js';
import { UnmeteredRetryStrategy } from './retry-strategy.js';

/** The config's variables a client is built from: endpoints, then retries and timeouts. */
const ENDPOINT_VARIABLES = [
  'AWS_REGION',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_DYNAMODB',
] as const;
const RETRY_VARIABLES = [
  'CARTPIPE_AWS_MAX_ATTEMPTS',
  'CARTPIPE_AWS_CONNECT_TIMEOUT_MS',
  'CARTPIPE_AWS_SOCKET_TIMEOUT_MS',
] as const;
type RetryVariable = (typeof RETRY_VARIABLES)[number];

/** The settings an SDK client is built from (a config holds more). */
export type ClientConfig = Pick<StorageConfig, (typeof ENDPOINT_VARIABLES)[number]> &
  Partial<Pick<StorageConfig, RetryVariable>>;

/** A client's settings out of a whole config (those it sets), e.g. to send to another thread. */
export function clientSettings(config: ClientConfig): ClientConfig {
  const picked = Object.fromEntries(
    [...ENDPOINT_VARIABLES, ...RETRY_VARIABLES].map((name) => [name, config[name]]),
  ) as ClientConfig;
  return definedOnly(picked) as ClientConfig;
}

/** Explicit credentials (local servers); omitted, the SDK's default provider chain applies. */
export type Credentials = { accessKeyId: string; secretAccessKey: string };

/** The config defaults (src/config.ts), for callers that build a client without the config. */
const DEFAULTS: Required<Pick<StorageConfig, RetryVariable>> = {
  CARTPIPE_AWS_MAX_ATTEMPTS: 6,
  CARTPIPE_AWS_CONNECT_TIMEOUT_MS: 5000,
  CARTPIPE_AWS_SOCKET_TIMEOUT_MS: 60_000,
};

/** The retry and timeout variables of the config (each optional: defaults apply). */
export type RetrySettings = Partial<Pick<StorageConfig, RetryVariable>>;

/**
 * Retry and timeout settings shared by every SDK client (S3, DynamoDB, SNS, ECS).
 * @example new SNSClient({ region, ...resilience(config) })
 */
export function resilience(config: RetrySettings = {}) {
  const settings = { ...DEFAULTS, ...definedOnly(config) };
  return {
    // The SDK reads maxAttempts for its amz-sdk-request header; the strategy enforces it.
    maxAttempts: settings.CARTPIPE_AWS_MAX_ATTEMPTS,
    retryStrategy: new UnmeteredRetryStrategy(settings.CARTPIPE_AWS_MAX_ATTEMPTS),
    // Options, not a handler instance: the SDK builds its NodeHttpHandler from them.
    requestHandler: {
      connectionTimeout: settings.CARTPIPE_AWS_CONNECT_TIMEOUT_MS,
      // Inactivity, not total time: a large multipart upload may take long but never stalls.
      socketTimeout: settings.CARTPIPE_AWS_SOCKET_TIMEOUT_MS,
    },
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function s3Client(config: ClientConfig, credentials?: Credentials): S3Client {
  const local = config.AWS_ENDPOINT_URL_S3 !== undefined;
  return new S3Client({
    region: config.AWS_REGION,
    ...(credentials ? { credentials } : {}),
    ...resilience(config),
    ...(local
      ? {
          endpoint: config.AWS_ENDPOINT_URL_S3,
          forcePathStyle: true,
          // Local S3 servers store streamed bodies with aws-chunked framing otherwise.
          requestChecksumCalculation: 'WHEN_REQUIRED' as const,
          responseChecksumValidation: 'WHEN_REQUIRED' as const,
        }
      : {}),
  });
}

export function dynamoDocumentClient(
  config: ClientConfig,
  credentials?: Credentials,
): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    region: config.AWS_REGION,
    ...(credentials ? { credentials } : {}),
    ...resilience(config),
    ...(config.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: config.AWS_ENDPOINT_URL_DYNAMODB } : {}),
  });
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
  });
}
