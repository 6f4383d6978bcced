/**
 * Key schemas of the DynamoDB tables. The local runtime creates tables from these, and the
 * infrastructure tests check that terraform/dynamodb.tf declares the same keys.
 */
export interface TableKeys {
  partitionKey: string;
  sortKey?: string;
}

export const TABLE_KEYS = {
  /** One item per run: status, stage, attempts, report keys. */
  runs: { partitionKey: 'run_id' },
  /** KPI rows: kpi = "<dataset>#<kpi name>", sk = "<date>" or "<date>#<group values>". */
  kpis: { partitionKey: 'kpi', sortKey: 'sk' },
  /** Purchase histories: pk = "customer#<id>" or "invoice#<no>", sk orders lines. */
  history: { partitionKey: 'pk', sortKey: 'sk' },
} as const satisfies Record<string, TableKeys>;
