/**
 * RunsStore on DynamoDB: one item per run keyed by run_id (TABLE_KEYS.runs). `create` is a
 * PutItem with attribute_not_exists; `transition` a PutItem conditional on the version, status,
 * stage and attempt the caller read, so a decision taken on stale state is never written.
 * These are the only calls the orchestrator Lambda makes on the table (GetItem, PutItem);
 * listing lives apart in dynamodb-runs-list.ts, for the CLI.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { StorageError } from '../../errors.js';
import type { RunRecord, RunsStore } from '../../ports/runs-store.js';
import { TABLE_KEYS } from './tables.js';

const KEY = TABLE_KEYS.runs.partitionKey;
/**
 * A random token stored with every write. When the answer to a conditional put is lost (the
 * connection dropped after DynamoDB applied it), the SDK's retry finds the condition false; the
 * token read back tells "my own earlier try won" from "somebody else moved the run".
 */
const WRITE_TOKEN = 'write_token';

function toItem(run: RunRecord, token: string): Record<string, unknown> {
  const { runId, ...rest } = run;
  return { [KEY]: runId, ...rest, [WRITE_TOKEN]: token };
}

export function fromItem(item: Record<string, unknown>): RunRecord {
  const { [KEY]: runId, ...rest } = item;
  delete rest[WRITE_TOKEN];
  return { runId: String(runId), ...(rest as Omit<RunRecord, 'runId'>) };
}

function lostCondition(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string }).name === 'ConditionalCheckFailedException'
  );
}

export class DynamoDbRunsStore implements RunsStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(runId: string): Promise<RunRecord | undefined> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.table, Key: { [KEY]: runId }, ConsistentRead: true }),
      );
      return out.Item ? fromItem(out.Item) : undefined;
    } catch (error) {
      throw new StorageError(`GetItem ${this.table} ${runId} failed`, { cause: error });
    }
  }

  async create(run: RunRecord): Promise<boolean> {
    return this.put(run, {
      ConditionExpression: 'attribute_not_exists(#key)',
      ExpressionAttributeNames: { '#key': KEY },
    });
  }

  async transition(expected: RunRecord, next: RunRecord): Promise<boolean> {
    if (next.runId !== expected.runId || next.version !== expected.version + 1) {
      throw new StorageError(
        `transition of ${expected.runId}: next must be the same run at version ${expected.version + 1}`,
      );
    }
    // The version alone would do; status, stage and attempt make the intent readable in traces
    // and keep a caller that forgot to bump the version from overwriting another's move.
    const stage = expected.stage === undefined ? 'attribute_not_exists(#stage)' : '#stage = :stage';
    return this.put(next, {
      ConditionExpression: `#version = :version AND #status = :status AND #attempt = :attempt AND ${stage}`,
      ExpressionAttributeNames: {
        '#version': 'version',
        '#status': 'status',
        '#attempt': 'attempt',
        '#stage': 'stage',
      },
      ExpressionAttributeValues: {
        ':version': expected.version,
        ':status': expected.status,
        ':attempt': expected.attempt,
        ...(expected.stage === undefined ? {} : { ':stage': expected.stage }),
      },
    });
  }

  private async put(
    run: RunRecord,
    condition: {
      ConditionExpression: string;
      ExpressionAttributeNames: Record<string, string>;
      ExpressionAttributeValues?: Record<string, unknown>;
    },
  ): Promise<boolean> {
    const token = randomUUID();
    try {
      await this.client.send(
        new PutCommand({ TableName: this.table, Item: toItem(run, token), ...condition }),
      );
      return true;
    } catch (error) {
      if (!lostCondition(error)) {
        throw new StorageError(`PutItem ${this.table} ${run.runId} failed`, { cause: error });
      }
    }
    return (await this.tokenOf(run.runId)) === token;
  }

  private async tokenOf(runId: string): Promise<unknown> {
    try {
      const out = await this.client.send(
        new GetCommand({ TableName: this.table, Key: { [KEY]: runId }, ConsistentRead: true }),
      );
      return out.Item?.[WRITE_TOKEN];
    } catch (error) {
      throw new StorageError(`GetItem ${this.table} ${runId} failed`, { cause: error });
    }
  }
}
