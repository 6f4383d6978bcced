/**
 * Lists the runs table, for `cartpipe status` and for the orchestrator's scheduled sweep
 * (src/orchestrator/sweep.ts). Kept apart from the runs store: the store's reads and writes are
 * by key, and only these two callers scan.
 */
import { paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { StorageError } from '../../errors.js';
import type { RunRecord, RunsLister } from '../../ports/runs-store.js';
import { fromItem } from './dynamodb-runs-store.js';

export class DynamoDbRunsLister implements RunsLister {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Most recent first. A Scan: the table holds one small item per batch. A table with many
   * thousands of runs would want indexes instead: a GSI (constant partition, createdAt sort key)
   * queried backwards for listing, and a sparse one holding only unfinished or unnotified runs
   * for the sweep, which today reads every run each time it looks.
   */
  async list(limit = 50): Promise<RunRecord[]> {
    const runs: RunRecord[] = [];
    try {
      for await (const page of paginateScan(
        { client: this.client },
        { TableName: this.table, ConsistentRead: true },
      ))
        runs.push(...(page.Items ?? []).map(fromItem));
    } catch (error) {
      throw new StorageError(`Scan ${this.table} failed`, { cause: error });
    }
    runs.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.runId.localeCompare(b.runId));
    return runs.slice(0, limit);
  }
}
