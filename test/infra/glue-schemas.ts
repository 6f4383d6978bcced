/**
 * The Glue catalog schemas the pipeline's Parquet needs, computed from the code: for every
 * registered profile, each entity's validated/ schema (its columns plus the lineage columns
 * validate appends) and each KPI's kpis/ schema, in Glue/Athena types. terraform/glue.tf reads
 * them from terraform/glue-schemas.json, which `make glue-schemas` writes from this module and
 * test/infra/contracts-drift.test.ts compares with it.
 */
import type { ColumnDef, ColumnType } from '../../src/formats/parquet.js';
import { getProfile, profileNames } from '../../src/profiles/registry.js';
import type { EntitySpec } from '../../src/profiles/types.js';
import { validatedSchema } from '../../src/stages/validate.js';

/** Parquet logical type (src/formats/parquet.ts) -> the Glue/Athena column type that reads it. */
export const GLUE_TYPE: Record<ColumnType, string> = {
  string: 'string',
  int: 'bigint',
  float: 'double',
  timestamp: 'timestamp',
  bool: 'boolean',
};

export interface GlueColumn {
  name: string;
  type: string;
}

export interface GlueSchemas {
  generated_by: string;
  datasets: Record<
    string,
    {
      entities: Record<string, { dated: boolean; columns: GlueColumn[] }>;
      kpis: Record<string, { columns: GlueColumn[] }>;
    }
  >;
}

/** Validated rows sit under date=<d>/ when the entity has a date column or takes its parent's. */
export function isDated(entity: EntitySpec): boolean {
  return entity.dateColumn !== undefined || (entity.parents ?? []).some((p) => p.datesFromParent);
}

function glueColumns(columns: readonly ColumnDef[]): GlueColumn[] {
  return columns.map((c) => ({ name: c.name, type: GLUE_TYPE[c.type] }));
}

/** The schemas of every registered profile (clickstream: its shipped default aggregations). */
export function glueSchemas(): GlueSchemas {
  const datasets: GlueSchemas['datasets'] = {};
  for (const name of [...profileNames()].sort()) {
    const profile = getProfile(name);
    datasets[name] = {
      entities: Object.fromEntries(
        [...profile.entities]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((e) => [e.name, { dated: isDated(e), columns: glueColumns(validatedSchema(e)) }]),
      ),
      kpis: Object.fromEntries(
        [...profile.kpis]
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((k) => [k.name, { columns: glueColumns(k.columns) }]),
      ),
    };
  }
  return { generated_by: 'make glue-schemas (scripts/glue-schemas.mjs); do not edit', datasets };
}
