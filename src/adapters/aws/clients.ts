/**
 * One SDK client per service, configured from the storage config. Endpoint overrides
 * (AWS_ENDPOINT_URL_S3 / _DYNAMODB) point the same code at the local runtime or moto.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { StorageConfig } from '../../config.js';

type ClientConfig = Pick<
  StorageConfig,
  'AWS_REGION' | 'AWS_ENDPOINT_URL_S3' | 'AWS_ENDPOINT_URL_DYNAMODB'
>;
/** Explicit credentials (local servers); omitted, the SDK's default provider chain applies. */
export type Credentials = { accessKeyId: string; secretAccessKey: string };

const RETRY = { maxAttempts: 6, retryMode: 'adaptive' as const };

export function s3Client(config: ClientConfig, credentials?: Credentials): S3Client {
  const local = config.AWS_ENDPOINT_URL_S3 !== undefined;
  return new S3Client({
    region: config.AWS_REGION,
    ...(credentials ? { credentials } : {}),
    ...RETRY,
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
    ...RETRY,
    ...(config.AWS_ENDPOINT_URL_DYNAMODB ? { endpoint: config.AWS_ENDPOINT_URL_DYNAMODB } : {}),
  });
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
  });
}
