/** KpiStore on DynamoDB: one partition per (dataset, kpi), sort key "<date>[#<group>]". */
import {
  BatchWriteCommand,
  QueryCommand,
  type DynamoDBDocumentClient,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
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

export class DynamoDbKpiStore implements KpiStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async replaceDate(set: KpiRowSet): Promise<void> {
    const pk = kpiPartition(set.dataset, set.kpi);
    const items = set.rows.map((row) => ({
      ...row,
      [PK]: pk,
      [SK]: kpiSortKey(set.date, set.groupBy, row),
    }));
    const keep = new Set(items.map((i) => i[SK]));
    const stale = (await this.query(pk, set.date)).filter((i) => !keep.has(i[SK] as string));
    await this.batchWrite([
      ...items.map((Item) => ({ PutRequest: { Item } })),
      ...stale.map((i) => ({ DeleteRequest: { Key: { [PK]: pk, [SK]: i[SK] } } })),
    ]);
  }

  async list(dataset: string, kpi: string): Promise<KpiRow[]> {
    const items = await this.query(kpiPartition(dataset, kpi));
    return items.map(
      (item) =>
        Object.fromEntries(Object.entries(item).filter(([k]) => !INTERNAL.has(k))) as KpiRow,
    );
  }

  private async query(pk: string, datePrefix?: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      let out: QueryCommandOutput;
      try {
        out = await this.client.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: datePrefix ? '#pk = :pk AND begins_with(#sk, :d)' : '#pk = :pk',
            ExpressionAttributeNames: datePrefix ? { '#pk': PK, '#sk': SK } : { '#pk': PK },
            ExpressionAttributeValues: datePrefix ? { ':pk': pk, ':d': datePrefix } : { ':pk': pk },
            ExclusiveStartKey: start,
            ConsistentRead: true,
          }),
        );
      } catch (error) {
        throw new StorageError(`Query ${this.table} ${pk} failed`, { cause: error });
      }
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
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
