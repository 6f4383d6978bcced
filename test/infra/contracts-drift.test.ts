/**
 * terraform/ against the contracts in the code, so that neither can change alone: the
 * environment each component receives (src/config.ts), the manifest trigger and the bucket
 * layout (src/contracts/layout.ts), the EventBridge pattern and the task families the launcher
 * runs, the DynamoDB key schemas (src/adapters/aws/tables.ts) and the Glue columns against the
 * Parquet schemas the jobs write (profiles + src/stages/validate.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from '@cdktf/hcl2json';
import type { ECSClient, RunTaskCommandInput } from '@aws-sdk/client-ecs';
import { EcsTaskLauncher, ecsLauncherConfig } from '../../src/adapters/aws/ecs-launcher.js';
import { TABLE_KEYS } from '../../src/adapters/aws/tables.js';
import { JOB_ENV, ORCHESTRATOR_ENV, readConfig } from '../../src/config.js';
import {
  INCOMING_PREFIX,
  layout,
  MANIFEST_PREFIX,
  MANIFEST_SUFFIX,
  STAGES,
} from '../../src/contracts/layout.js';
import { getProfile, profileNames } from '../../src/profiles/registry.js';
import { clientTokenFor, parseEvent, startedByFor } from '../../src/orchestrator/events.js';
import { LINEAGE_COLUMNS } from '../../src/stages/context.js';
import { validatedSchema } from '../../src/stages/validate.js';
import { glueSchemas, type GlueSchemas } from './glue-schemas.js';
import {
  blocks,
  evaluateTemplate,
  expressionOf,
  loadTerraform,
  localValue,
  resolveLocal,
  resource,
  ROOT,
  TF_DIR,
  type Block,
  type TfModule,
} from './terraform.js';

/** Set by the platform, never by Terraform: the Lambda runtime's region, and local endpoint overrides. */
const PROVIDED_BY_LAMBDA = ['AWS_REGION'];
const PASSED_PER_RUN = ['RUN_ID']; // the orchestrator's container override
const isEndpointOverride = (name: string) => name.startsWith('AWS_ENDPOINT_URL');

let tf: TfModule;
let exampleValues: Record<string, unknown>;

beforeAll(async () => {
  tf = await loadTerraform();
  exampleValues = await parse(
    'example',
    readFileSync(join(TF_DIR, 'terraform.tfvars.example'), 'utf8'),
  );
});

/** A value a variable takes in the tests: its default, else the tfvars example's. */
function variableSample(name: string): unknown {
  const block = tf.variables[name];
  if (!block) throw new Error(`var.${name} is not declared`);
  if ('default' in block && block.default !== null) return block.default;
  if (name in exampleValues) return exampleValues[name];
  throw new Error(`var.${name} has neither a default nor an example value`);
}

/**
 * The values an environment entry can take with the defaults: one for plain references, both
 * branches of a conditional. Resource attributes become a placeholder (any non-empty string).
 */
function sampleValues(value: unknown): string[] {
  if (typeof value !== 'string') return [String(value)];
  const expr = expressionOf(value);
  if (!expr) return [evaluateTemplate(tf, value)];
  let m: RegExpExecArray | null;
  if ((m = /^(?:tostring\()?var\.([\w-]+)\)?$/.exec(expr))) return [String(variableSample(m[1]!))];
  if ((m = /^local\.([\w-]+)$/.exec(expr))) return sampleValues(localValue(tf, m[1]!));
  if ((m = /^join\("([^"]*)", var\.([\w-]+)\)$/.exec(expr)))
    return [(variableSample(m[2]!) as string[]).join(m[1])];
  if ((m = /^var\.[\w-]+ \? "([^"]*)" : "([^"]*)"$/.exec(expr))) return [m[1]!, m[2]!];
  if ((m = /^(aws_[\w-]+\.[\w-]+\.[\w-]+)$/.exec(expr))) return [`placeholder:${m[1]}`];
  throw new Error(`cannot sample environment value ${value}`);
}

/** Every environment the defaults can produce: the first samples, varying one entry at a time. */
function environments(env: Record<string, unknown>): Record<string, string>[] {
  const samples = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, sampleValues(v)]));
  const base = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v[0]!]));
  const out = [base];
  for (const [k, values] of Object.entries(samples))
    for (const v of values.slice(1)) out.push({ ...base, [k]: v });
  return out;
}

/** EventBridge content matching for the parts the rule uses: exact values and { prefix }. */
function matchesPattern(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    const actual = event[key];
    if (Array.isArray(expected)) {
      return expected.some((option) =>
        option && typeof option === 'object' && 'prefix' in option
          ? typeof actual === 'string' &&
            actual.startsWith(String((option as { prefix: string }).prefix))
          : actual === option,
      );
    }
    return (
      actual !== null &&
      typeof actual === 'object' &&
      matchesPattern(expected as Record<string, unknown>, actual as Record<string, unknown>)
    );
  });
}

describe('environment: Terraform passes exactly the names src/config.ts reads', () => {
  it('the Lambda gets ORCHESTRATOR_ENV (AWS_REGION comes from the runtime; no endpoint overrides)', () => {
    const terraform = Object.keys(localValue(tf, 'lambda_environment') as object).sort();
    const config = Object.keys(ORCHESTRATOR_ENV)
      .filter((n) => !PROVIDED_BY_LAMBDA.includes(n) && !isEndpointOverride(n))
      .sort();
    expect(terraform).toEqual(config);
    expect(resource(tf, 'aws_lambda_function', 'orchestrator').environment).toEqual([
      { variables: '${local.lambda_environment}' },
    ]);
  });

  it('every task gets JOB_ENV (RUN_ID comes per run as a container override; no endpoint overrides)', () => {
    const terraform = Object.keys(localValue(tf, 'job_environment') as object).sort();
    const config = Object.keys(JOB_ENV)
      .filter((n) => !PASSED_PER_RUN.includes(n) && !isEndpointOverride(n))
      .sort();
    expect(terraform).toEqual(config);
    const containers = String(
      resource(tf, 'aws_ecs_task_definition', 'stage').container_definitions,
    );
    expect(containers).toMatch(
      /environment\s*=\s*\[for name, value in local\.job_environment : \{ name = name, value = value \}( if value != "")?\]/,
    );
  });

  it('sets no name the Lambda runtime reserves', () => {
    for (const name of Object.keys(localValue(tf, 'lambda_environment') as object)) {
      expect(name).not.toMatch(
        /^(AWS_|LAMBDA_|_HANDLER$|_X_AMZN|TZ$|LANG$|PATH$|LD_LIBRARY_PATH$|NODE_PATH$)/,
      );
    }
  });

  it('the values the Terraform defaults produce pass the config module validation', () => {
    for (const env of environments(
      localValue(tf, 'lambda_environment') as Record<string, unknown>,
    )) {
      expect(() => readConfig(ORCHESTRATOR_ENV, { ...env, AWS_REGION: 'eu-west-3' })).not.toThrow();
    }
    for (const env of environments(localValue(tf, 'job_environment') as Record<string, unknown>)) {
      expect(() => readConfig(JOB_ENV, { ...env, RUN_ID: 'run-1' })).not.toThrow();
    }
  });

  it('every log level the variable accepts, the config accepts', () => {
    const condition = String(blocks(tf.variables.log_level!, 'validation')[0]!.condition);
    const levels = JSON.parse(
      /contains\((\[[^\]]*\]), var\.log_level\)/.exec(condition)![1]!,
    ) as string[];
    expect(levels.length).toBeGreaterThan(0);
    for (const level of levels) {
      expect(
        readConfig(JOB_ENV, { CARTPIPE_BUCKET: 'b', RUN_ID: 'r', CARTPIPE_LOG_LEVEL: level })
          .CARTPIPE_LOG_LEVEL,
      ).toBe(level);
    }
  });

  it('the config defaults name the tables and families the default stack creates', () => {
    const tables = {
      runs: 'CARTPIPE_RUNS_TABLE',
      kpis: 'CARTPIPE_KPI_TABLE',
      history: 'CARTPIPE_HISTORY_TABLE',
    };
    const defaults = readConfig(ORCHESTRATOR_ENV, { CARTPIPE_BUCKET: 'b' });
    for (const [table, variable] of Object.entries(tables)) {
      const name = evaluateTemplate(tf, String(resource(tf, 'aws_dynamodb_table', table).name));
      expect(defaults[variable as keyof typeof defaults]).toBe(name);
      expect((localValue(tf, 'job_environment') as Record<string, string>)[variable]).toBe(
        `\${aws_dynamodb_table.${table}.name}`,
      );
      expect((localValue(tf, 'lambda_environment') as Record<string, string>)[variable]).toBe(
        `\${aws_dynamodb_table.${table}.name}`,
      );
    }
    expect(defaults.CARTPIPE_TASK_DEFINITION_PREFIX).toBe(variableSample('name_prefix'));
  });
});

describe('trigger: the bucket notification is the manifest contract', () => {
  it('fires the orchestrator for ObjectCreated under MANIFEST_PREFIX with MANIFEST_SUFFIX', () => {
    expect(Object.keys(tf.resources.aws_s3_bucket_notification ?? {})).toEqual(['this']);
    const notification = resource(tf, 'aws_s3_bucket_notification', 'this');
    const [target, ...others] = blocks(notification, 'lambda_function');
    expect(others).toEqual([]);
    expect(resolveLocal(tf, target!.filter_prefix)).toBe(MANIFEST_PREFIX);
    expect(resolveLocal(tf, target!.filter_suffix)).toBe(MANIFEST_SUFFIX);
    expect(target!.events).toEqual(['s3:ObjectCreated:*']);
    expect(target!.lambda_function_arn).toBe('${aws_lambda_function.orchestrator.arn}');
    expect(layout.isManifestKey(layout.manifestKey('2025-04-01-a'))).toBe(true);
  });

  it('is created after the invoke permission, which S3 of this account and bucket holds', () => {
    const notification = resource(tf, 'aws_s3_bucket_notification', 'this');
    expect(notification.depends_on).toEqual(['${aws_lambda_permission.s3}']);
    const permission = resource(tf, 'aws_lambda_permission', 's3');
    expect(permission).toMatchObject({
      action: 'lambda:InvokeFunction',
      function_name: '${aws_lambda_function.orchestrator.function_name}',
      principal: 's3.amazonaws.com',
      source_arn: '${aws_s3_bucket.this.arn}',
      source_account: '${local.account_id}',
    });
  });
});

describe('bucket layout: what Terraform lets the jobs write and what it expires', () => {
  /** Top-level prefixes the layout module builds keys under. */
  function layoutPrefixes(): string[] {
    const source = readFileSync(join(ROOT, 'src/contracts/layout.ts'), 'utf8');
    const areas = /export type OutputArea\s*=\s*([^;]+);/.exec(source)![1]!.match(/'([a-z-]+)'/g)!;
    const literals = [...source.matchAll(/`([a-z-]+)\//g)].map((m) => m[1]!);
    return [...new Set([...areas.map((a) => a.replace(/'/g, '')), ...literals])]
      .map((p) => `${p}/`)
      .sort();
  }

  it('output prefixes are every prefix the layout writes, and never incoming/ or metadata/', () => {
    const outputs = (localValue(tf, 'output_prefixes') as string[]).slice().sort();
    expect(outputs).toEqual(
      layoutPrefixes().filter((p) => p !== INCOMING_PREFIX && p !== MANIFEST_PREFIX),
    );
    expect(outputs).not.toContain(INCOMING_PREFIX);
    expect(outputs).not.toContain(MANIFEST_PREFIX);
    expect(localValue(tf, 'manifest_prefix')).toBe(MANIFEST_PREFIX);
  });

  it('expires incoming/ and raw/, and keeps validated/, kpis/ and runs/', () => {
    const rules = blocks(resource(tf, 'aws_s3_bucket_lifecycle_configuration', 'this'), 'rule');
    const expiring = rules
      .filter((r) => blocks(r, 'expiration').some((e) => 'days' in e))
      .map((r) => blocks(r, 'filter')[0]?.prefix);
    expect(expiring.sort()).toEqual([INCOMING_PREFIX, 'raw/']);
    expect(layout.runOutputPrefix('raw', 'd', 'e', 'r')).toMatch(/^raw\//);
  });

  it('encrypts, versions, blocks public access and denies plain HTTP', () => {
    const sse = blocks(
      resource(tf, 'aws_s3_bucket_server_side_encryption_configuration', 'this'),
      'rule',
    )[0]!;
    expect(JSON.stringify(sse)).toMatch(/"sse_algorithm":"(AES256|aws:kms)"/);
    expect(resource(tf, 'aws_s3_bucket_versioning', 'this').versioning_configuration).toEqual([
      { status: 'Enabled' },
    ]);
    expect(resource(tf, 'aws_s3_bucket_public_access_block', 'this')).toMatchObject({
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    const policy = JSON.stringify(tf.data.aws_iam_policy_document!.bucket);
    expect(policy).toContain('"variable":"aws:SecureTransport"');
    expect(policy).toContain('"effect":"Deny"');
  });
});

describe('EventBridge: the STOPPED events of the tasks the launcher starts', () => {
  const pattern = () => localValue(tf, 'task_stopped_pattern') as Record<string, unknown>;

  it('matches ECS Task State Change, lastStatus STOPPED, on the stack cluster', () => {
    expect(resource(tf, 'aws_cloudwatch_event_rule', 'task_stopped').event_pattern).toBe(
      '${jsonencode(local.task_stopped_pattern)}',
    );
    expect(pattern()).toMatchObject({
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: { lastStatus: ['STOPPED'], clusterArn: ['${aws_ecs_cluster.this.arn}'] },
    });
    // The orchestrator runs its tasks on that same cluster.
    expect(
      (localValue(tf, 'lambda_environment') as Record<string, string>).CARTPIPE_ECS_CLUSTER,
    ).toMatch(/^\$\{aws_ecs_cluster\.this\.(name|arn)\}$/);
  });

  it('matches every revision of exactly the stage task definitions, and only them', () => {
    const families = String((pattern().detail as Record<string, unknown>).taskDefinitionArn);
    // One prefix "<family ARN>:" per task definition: cartpipe-upload: never matches cartpipe-upload-x.
    expect(families).toBe(
      '${[for td in aws_ecs_task_definition.stage : { prefix = "${td.arn_without_revision}:" }]}',
    );
    const taskDefinition = resource(tf, 'aws_ecs_task_definition', 'stage');
    expect(taskDefinition.for_each).toBe('${toset(local.stages)}');
    expect(localValue(tf, 'stages')).toEqual([...STAGES]);
  });

  it('names the families "<CARTPIPE_TASK_DEFINITION_PREFIX>-<stage>" as the orchestrator is told', () => {
    const family = String(resource(tf, 'aws_ecs_task_definition', 'stage').family);
    const prefix = (localValue(tf, 'lambda_environment') as Record<string, string>)
      .CARTPIPE_TASK_DEFINITION_PREFIX!;
    for (const stage of STAGES) {
      expect(evaluateTemplate(tf, family, { 'each.key': stage })).toBe(
        `${evaluateTemplate(tf, prefix)}-${stage}`,
      );
    }
  });

  it('targets the orchestrator, with retries and a dead-letter queue, and lets EventBridge invoke it', () => {
    const target = resource(tf, 'aws_cloudwatch_event_target', 'orchestrator');
    expect(target.arn).toBe('${aws_lambda_function.orchestrator.arn}');
    expect(target.rule).toBe('${aws_cloudwatch_event_rule.task_stopped.name}');
    expect(blocks(target, 'dead_letter_config')).toHaveLength(1);
    expect(resource(tf, 'aws_lambda_permission', 'events')).toMatchObject({
      principal: 'events.amazonaws.com',
      source_arn: '${aws_cloudwatch_event_rule.task_stopped.arn}',
    });
  });

  it('a task the ECS launcher starts emits a STOPPED event the rule matches and the orchestrator reads', async () => {
    // The stack as the defaults configure it.
    const region = String(variableSample('aws_region'));
    const account = '123456789012';
    const env = readConfig(ORCHESTRATOR_ENV, {
      ...environments(localValue(tf, 'lambda_environment') as Record<string, unknown>)[0],
      CARTPIPE_ECS_CLUSTER: evaluateTemplate(
        tf,
        String(resource(tf, 'aws_ecs_cluster', 'this').name),
      ),
      AWS_REGION: region,
    });
    const clusterArn = `arn:aws:ecs:${region}:${account}:cluster/${env.CARTPIPE_ECS_CLUSTER}`;
    const familyTemplate = String(resource(tf, 'aws_ecs_task_definition', 'stage').family);
    const familyArn = (stage: string) =>
      `arn:aws:ecs:${region}:${account}:task-definition/${evaluateTemplate(tf, familyTemplate, { 'each.key': stage })}`;
    // local.task_stopped_pattern with its references resolved (its shape is checked above).
    const rule = {
      source: ['aws.ecs'],
      'detail-type': ['ECS Task State Change'],
      detail: {
        lastStatus: ['STOPPED'],
        clusterArn: [clusterArn],
        taskDefinitionArn: STAGES.map((s) => ({ prefix: `${familyArn(s)}:` })),
      },
    };

    for (const stage of STAGES) {
      let sent: RunTaskCommandInput | undefined;
      const client = {
        send: async (command: { input: RunTaskCommandInput }) => {
          sent = command.input;
          return {
            tasks: [{ taskArn: `arn:aws:ecs:${region}:${account}:task/x/${stage}` }],
            failures: [],
          };
        },
      };
      const launcher = new EcsTaskLauncher(client as unknown as ECSClient, ecsLauncherConfig(env));
      const launched = await launcher.launch({
        runId: 'run-1',
        stage,
        attempt: 2,
        clientToken: clientTokenFor('run-1', stage, 2),
        startedBy: startedByFor(stage, 2),
      });
      expect(launched.started).toBe(true);
      // RunTask names the task definition family Terraform creates and the container it defines.
      expect(`arn:aws:ecs:${region}:${account}:task-definition/${sent!.taskDefinition}`).toBe(
        familyArn(stage),
      );
      const overrides = sent!.overrides!.containerOverrides!;
      expect(overrides.map((o) => o.name)).toEqual([localValue(tf, 'container_name')]);
      expect(overrides[0]!.environment!.map((e) => e.name)).toEqual(PASSED_PER_RUN);

      // The event ECS emits when that task stops.
      const event = {
        source: 'aws.ecs',
        'detail-type': 'ECS Task State Change',
        detail: {
          clusterArn,
          taskArn: `arn:aws:ecs:${region}:${account}:task/x/${stage}`,
          taskDefinitionArn: `${familyArn(stage)}:7`,
          group: `family:${sent!.taskDefinition}`,
          startedBy: sent!.startedBy,
          lastStatus: 'STOPPED',
          overrides: sent!.overrides,
          containers: [{ name: overrides[0]!.name, exitCode: 0 }],
        },
      };
      expect(matchesPattern(rule, event)).toBe(true);
      expect(parseEvent(event, env.CARTPIPE_TASK_DEFINITION_PREFIX)).toEqual([
        expect.objectContaining({
          kind: 'task-stopped',
          runId: 'run-1',
          stage,
          attempt: 2,
          exitCode: 0,
        }),
      ]);
      // Neighbours the rule must not match: another cluster, a family that only starts alike, RUNNING.
      const other = (detail: Record<string, unknown>) => ({
        ...event,
        detail: { ...event.detail, ...detail },
      });
      expect(matchesPattern(rule, other({ clusterArn: `${clusterArn}-b` }))).toBe(false);
      expect(matchesPattern(rule, other({ taskDefinitionArn: `${familyArn(stage)}-x:1` }))).toBe(
        false,
      );
      expect(matchesPattern(rule, other({ lastStatus: 'RUNNING' }))).toBe(false);
    }
  });

  it('names the container local.container_name in every task definition', () => {
    const containers = String(
      resource(tf, 'aws_ecs_task_definition', 'stage').container_definitions,
    );
    expect(containers).toMatch(/^\$\{jsonencode\(\[\s*\{\s*name\s*=\s*local\.container_name\n/);
    expect(localValue(tf, 'container_name')).toBe('job');
  });
});

describe('DynamoDB: tables as src/adapters/aws/tables.ts keys them', () => {
  it.each(Object.entries(TABLE_KEYS))(
    '%s: keys, on demand, point-in-time recovery, encryption',
    (name, keys) => {
      const table = resource(tf, 'aws_dynamodb_table', name);
      expect(table.hash_key).toBe(keys.partitionKey);
      expect(table.range_key).toBe('sortKey' in keys ? keys.sortKey : undefined);
      const attributes = blocks(table, 'attribute').map((a) => `${a.name}:${a.type}`);
      const expected = [keys.partitionKey, ...('sortKey' in keys ? [keys.sortKey] : [])].map(
        (k) => `${k}:S`,
      );
      expect(attributes.sort()).toEqual(expected.sort());
      expect(table.billing_mode).toBe('PAY_PER_REQUEST');
      expect(table.point_in_time_recovery).toEqual([{ enabled: true }]);
      expect(table.server_side_encryption).toEqual([{ enabled: true }]);
    },
  );

  it('declares no table the code does not key', () => {
    expect(Object.keys(tf.resources.aws_dynamodb_table ?? {}).sort()).toEqual(
      Object.keys(TABLE_KEYS).sort(),
    );
  });
});

describe('Glue: catalog columns are the Parquet schemas the jobs write', () => {
  const schemasFile = () =>
    JSON.parse(readFileSync(join(TF_DIR, 'glue-schemas.json'), 'utf8')) as GlueSchemas;

  it('glue.tf reads its tables from terraform/glue-schemas.json', () => {
    expect(localValue(tf, 'glue_datasets')).toBe(
      '${jsondecode(file("${path.module}/glue-schemas.json")).datasets}',
    );
    expect(resource(tf, 'aws_glue_catalog_table', 'this').for_each).toBe('${local.glue_tables}');
  });

  it('glue-schemas.json is what the code gives (else: make glue-schemas)', () => {
    expect(schemasFile()).toEqual(glueSchemas());
  });

  it('covers every registered profile, each entity (with its lineage columns) and each KPI', () => {
    const { datasets } = schemasFile();
    expect(Object.keys(datasets).sort()).toEqual([...profileNames()].sort());
    for (const name of profileNames()) {
      const profile = getProfile(name);
      expect(Object.keys(datasets[name]!.entities).sort()).toEqual(
        profile.entities.map((e) => e.name).sort(),
      );
      expect(Object.keys(datasets[name]!.kpis).sort()).toEqual(
        profile.kpis.map((k) => k.name).sort(),
      );
      for (const entity of profile.entities) {
        const table = datasets[name]!.entities[entity.name]!;
        expect(table.columns.map((c) => c.name)).toEqual(
          validatedSchema(entity).map((c) => c.name),
        );
        expect(table.columns.map((c) => c.name)).toEqual(
          expect.arrayContaining(LINEAGE_COLUMNS.map((c) => c.name)),
        );
      }
    }
    // thelook, spelled out once: what an Athena user sees.
    expect(datasets.thelook!.entities.orders).toEqual({
      dated: true,
      columns: [
        { name: 'order_id', type: 'bigint' },
        { name: 'user_id', type: 'bigint' },
        { name: 'status', type: 'string' },
        { name: 'created_at', type: 'timestamp' },
        { name: 'returned_at', type: 'timestamp' },
        { name: 'shipped_at', type: 'timestamp' },
        { name: 'delivered_at', type: 'timestamp' },
        { name: 'num_of_item', type: 'bigint' },
        { name: '_run_id', type: 'string' },
        { name: '_loaded_at', type: 'timestamp' },
        { name: '_source_file', type: 'string' },
        { name: '_source_row', type: 'bigint' },
      ],
    });
    expect(datasets.thelook!.entities.products!.dated).toBe(false);
    expect(datasets.thelook!.entities.order_items!.dated).toBe(true); // dated by its order
  });

  it('uses names Athena accepts as they are: lowercase letters, digits and underscores', () => {
    for (const [dataset, d] of Object.entries(schemasFile().datasets)) {
      for (const table of [...Object.values(d.entities), ...Object.values(d.kpis)]) {
        for (const column of table.columns)
          expect({ dataset, column: column.name }).toEqual({
            dataset,
            column: expect.stringMatching(/^[a-z_][a-z0-9_]*$/),
          });
      }
      for (const name of [...Object.keys(d.entities), ...Object.keys(d.kpis)]) {
        // Table names: replace("<dataset>_<name>", "-", "_") must give a valid identifier.
        expect(`${dataset}_${name}`.replace(/-/g, '_')).toMatch(/^[a-z][a-z0-9_]*$/);
      }
    }
    expect(String(localValue(tf, 'glue_tables'))).toContain(
      'replace("${dataset}_${entity}", "-", "_")',
    );
  });

  it('locates tables and date partitions where the layout puts them', () => {
    const tables = String(localValue(tf, 'glue_tables'));
    const [validated, kpis] = [...tables.matchAll(/prefix\s*=\s*"([^"]+)"/g)].map((m) => m[1]!);
    const scope = { dataset: 'thelook', entity: 'orders', kpi: 'daily' };
    expect(evaluateTemplate(tf, validated!, scope)).toBe(
      layout.entityPrefix('validated', 'thelook', 'orders'),
    );
    expect(evaluateTemplate(tf, kpis!, scope)).toBe(layout.kpiPrefix('thelook', 'daily'));
    // Partition folders: <prefix>date=<yyyy-MM-dd>/ (validated rows then sit in run=<id>/ below it).
    const parameters = String(resource(tf, 'aws_glue_catalog_table', 'this').parameters);
    expect(parameters).toContain(
      '"storage.location.template" = "s3://${aws_s3_bucket.this.bucket}/${each.value.prefix}date=$${dt}/"',
    );
    expect(layout.datePrefix('thelook', 'orders', '2025-04-01')).toBe(
      `${layout.entityPrefix('validated', 'thelook', 'orders')}date=2025-04-01/`,
    );
    expect(layout.kpiPartKey('thelook', 'daily', '2025-04-01')).toMatch(
      new RegExp(`^${layout.kpiPrefix('thelook', 'daily')}date=2025-04-01/[^/]+\\.parquet$`),
    );
  });

  it('projects the dt partition as a date, so Athena needs no partition repair', () => {
    expect(localValue(tf, 'glue_projection_parameters')).toMatchObject({
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.interval.unit': 'DAYS',
    });
    const table = resource(tf, 'aws_glue_catalog_table', 'this') as Block;
    const partitions = (table.dynamic as Record<string, Block[]>).partition_keys![0]!;
    expect(partitions.for_each).toBe('${each.value.dated ? ["dt"] : []}');
    const storage = blocks(table, 'storage_descriptor')[0]!;
    expect(storage.input_format).toBe(
      'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
    );
    expect(blocks(storage, 'ser_de_info')[0]!.serialization_library).toBe(
      'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
    );
  });
});

describe('notifications and the Lambda', () => {
  it('encrypts the topic and subscribes each address of notification_emails', () => {
    expect(resource(tf, 'aws_sns_topic', 'this').kms_master_key_id).toBe('alias/aws/sns');
    expect(resource(tf, 'aws_sns_topic_subscription', 'email')).toMatchObject({
      for_each: '${toset(var.notification_emails)}',
      protocol: 'email',
      endpoint: '${each.value}',
    });
    expect(tf.variables.notification_emails!.type).toBe('${list(string)}');
  });

  it('runs the bundle on nodejs22.x with bounded async retries and a failure destination', () => {
    const lambda = resource(tf, 'aws_lambda_function', 'orchestrator');
    expect(lambda.runtime).toBe('nodejs22.x');
    expect(lambda.source_code_hash).toBe('${filebase64sha256(local.lambda_zip_path)}');
    const zip = /^dist\/lambda\/[\w-]+\.zip$/;
    const deployMk = readFileSync(join(ROOT, 'mk/deploy.mk'), 'utf8');
    const packaged = /^LAMBDA_ZIP := (.+)$/m.exec(deployMk)![1]!;
    expect(packaged).toMatch(zip);
    expect(String(localValue(tf, 'lambda_zip_path'))).toContain(`\${path.module}/../${packaged}`);
    const invoke = resource(tf, 'aws_lambda_function_event_invoke_config', 'orchestrator');
    expect(invoke.maximum_retry_attempts).toBe('${var.lambda_async_max_retries}');
    expect(JSON.stringify(blocks(invoke, 'destination_config'))).toContain('on_failure');
    expect(resource(tf, 'aws_cloudwatch_log_group', 'orchestrator').retention_in_days).toBe(
      '${var.log_retention_days}',
    );
  });

  const handlerPath = join(ROOT, 'lambdas/orchestrator.ts');
  (existsSync(handlerPath) ? it : it.skip)(
    'lambdas/orchestrator.ts exports the handler Terraform names',
    () => {
      const handler = String(resource(tf, 'aws_lambda_function', 'orchestrator').handler).split(
        '.',
      )[1]!;
      expect(readFileSync(handlerPath, 'utf8')).toMatch(
        new RegExp(
          `export (async function ${handler}\\b|function ${handler}\\b|const ${handler}\\b|\\{[^}]*\\b${handler}\\b)`,
        ),
      );
    },
  );
});
