/** KpiStore on DynamoDB: one partition per (dataset, kpi), sort key "<date>[#<group>]". */
import {
  BatchWriteCommand,
  DeleteCommand,
  PutCommand,
  paginateQuery,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { StorageError } from '../../errors.js';
import type { KpiRow, KpiRowSet, KpiStore } from '../../ports/kpi-store.js';
import { TABLE_KEYS } from './tables.js';

const { partitionKey: PK, sortKey: SK } = TABLE_KEYS.kpis;
const INTERNAL = new Set<string>([PK, SK]);

export function kpiPartition(dataset: string, kpi: string): string {
  return `${dataset}#${kpi}`;
}

export function kpiSortKey(date: string, groupBy: readonly string[], row: KpiRow): string {
  return [date, ...groupBy.map((g) => String(row[g] ?? ''))].join('#');
}

/** DynamoDB's limit of actions in one transaction. */
const TRANSACTION_LIMIT = 100;

export interface LeaseOptions {
  ttlMs: number;
  /** Longest wait for a lease held by another owner. */
  waitMs: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

const DEFAULT_LEASE: LeaseOptions = {
  ttlMs: 10 * 60_000,
  waitMs: 15 * 60_000,
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export class DynamoDbKpiStore implements KpiStore {
  private readonly lease: LeaseOptions;
  private transactions = true;
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
    lease: Partial<LeaseOptions> = {},
  ) {
    this.lease = { ...DEFAULT_LEASE, ...lease };
  }

  /**
   * Puts the new rows and deletes stale ones in one transaction when they fit (readers never see
   * half a date), in batches otherwise (a retry under the date's lease then finishes the job).
   */
  async replaceDate(set: KpiRowSet): Promise<void> {
    const pk = kpiPartition(set.dataset, set.kpi);
    const items = set.rows.map((row) => ({
      ...row,
      [PK]: pk,
      [SK]: kpiSortKey(set.date, set.groupBy, row),
    }));
    const keep = new Set(items.map((i) => i[SK]));
    const stale = (await this.query(pk, set.date)).filter((i) => !keep.has(i[SK] as string));
    if (items.length + stale.length === 0) return;
    if (items.length + stale.length <= TRANSACTION_LIMIT && this.transactions) {
      try {
        await this.client.send(
          new TransactWriteCommand({
            TransactItems: [
              ...items.map((Item) => ({ Put: { TableName: this.table, Item } })),
              ...stale.map((i) => ({
                Delete: { TableName: this.table, Key: { [PK]: pk, [SK]: i[SK] } },
              })),
            ],
          }),
        );
        return;
      } catch (error) {
        // dynalite (the local server) has no transactions: the batch path below does the same
        // writes, and the date's lease already keeps concurrent runs apart.
        if ((error as Error).name === 'UnknownOperationException') this.transactions = false;
        else
          throw new StorageError(`TransactWriteItems ${this.table} ${pk} ${set.date} failed`, {
            cause: error,
          });
      }
    }
    await this.batchWrite([
      ...items.map((Item) => ({ PutRequest: { Item } })),
      ...stale.map((i) => ({ DeleteRequest: { Key: { [PK]: pk, [SK]: i[SK] } } })),
    ]);
  }

  async withDateLease<T>(
    dataset: string,
    date: string,
    owner: string,
    work: () => Promise<T>,
  ): Promise<T> {
    const key = { [PK]: `lease#${dataset}`, [SK]: date };
    const deadline = this.lease.now() + this.lease.waitMs;
    for (let attempt = 0; ; attempt++) {
      const now = this.lease.now();
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.table,
            Item: { ...key, owner, expires_at: now + this.lease.ttlMs },
            ConditionExpression:
              'attribute_not_exists(#pk) OR expires_at < :now OR #owner = :owner',
            ExpressionAttributeNames: { '#pk': PK, '#owner': 'owner' },
            ExpressionAttributeValues: { ':now': now, ':owner': owner },
          }),
        );
        break;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) {
          throw new StorageError(`taking the KPI lease of ${dataset} ${date} failed`, {
            cause: error,
          });
        }
        if (now >= deadline) {
          throw new StorageError(
            `the KPI lease of ${dataset} ${date} stayed taken for ${this.lease.waitMs} ms`,
          );
        }
        await this.lease.sleep(
          Math.min(2000, 50 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()),
        );
      }
    }
    let result: T;
    try {
      result = await work();
    } catch (error) {
      await this.releaseLease(key, owner).catch(() => undefined);
      throw error;
    }
    await this.releaseLease(key, owner);
    return result;
  }

  private async releaseLease(key: Record<string, string>, owner: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.table,
          Key: key,
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      // Lost to expiry and taken by someone else: theirs to release.
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw new StorageError('releasing a KPI lease failed', { cause: error });
      }
    }
  }

  async list(dataset: string, kpi: string): Promise<KpiRow[]> {
    // Lease items live under their own partition keys ("lease#<dataset>"): never listed here.
    const items = await this.query(kpiPartition(dataset, kpi));
    return items.map(
      (item) =>
        Object.fromEntries(Object.entries(item).filter(([k]) => !INTERNAL.has(k))) as KpiRow,
    );
  }

  private async query(pk: string, datePrefix?: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    try {
      for await (const page of paginateQuery(
        { client: this.client },
        {
          TableName: this.table,
          KeyConditionExpression: datePrefix ? '#pk = :pk AND begins_with(#sk, :d)' : '#pk = :pk',
          ExpressionAttributeNames: datePrefix ? { '#pk': PK, '#sk': SK } : { '#pk': PK },
          ExpressionAttributeValues: datePrefix ? { ':pk': pk, ':d': datePrefix } : { ':pk': pk },
          ConsistentRead: true,
        },
      ))
        items.push(...(page.Items ?? []));
    } catch (error) {
      throw new StorageError(`Query ${this.table} ${pk} failed`, { cause: error });
    }
    return items;
  }

  private async batchWrite(requests: Record<string, unknown>[]): Promise<void> {
    for (let i = 0; i < requests.length; i += 25) {
      let pending = requests.slice(i, i + 25);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= 8)
          throw new StorageError(`BatchWriteItem ${this.table}: items left unprocessed`);
        if (attempt > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt * Math.random()));
        try {
          const out = await this.client.send(
            new BatchWriteCommand({ RequestItems: { [this.table]: pending as never } }),
          );
          pending = (out.UnprocessedItems?.[this.table] ?? []) as Record<string, unknown>[];
        } catch (error) {
          throw new StorageError(`BatchWriteItem ${this.table} failed`, { cause: error });
        }
      }
    }
  }
}
