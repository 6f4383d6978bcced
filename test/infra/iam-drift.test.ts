/**
 * The roles in terraform/iam.tf against the code that runs under them. For each deployed
 * component, the files reachable from its entry point are scanned for the AWS SDK commands they
 * send; the role must allow exactly the IAM actions those need (plus the few its platform needs:
 * logs, the failure queue, the image pull), and reach exactly the tables the code names.
 * Nothing here is a hand-kept list of what the code does: add a command, and this fails until
 * the role allows it; remove the last use of one, and this fails until the role drops it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { STAGES } from '../../src/contracts/layout.js';
import { reachableFiles, requiredActions, sdkCalls, variablesRead } from './code-scan.js';
import {
  allowedActions,
  expandResources,
  referencedResources,
  roleNameIn,
  roleStatements,
  type Statement,
} from './iam.js';
import {
  evaluateTemplate,
  expressionOf,
  loadTerraform,
  localValue,
  resource,
  ROOT,
  type TfModule,
} from './terraform.js';

const TABLE_VARIABLES = ['CARTPIPE_RUNS_TABLE', 'CARTPIPE_KPI_TABLE', 'CARTPIPE_HISTORY_TABLE'];

/**
 * Actions a role needs that no line of the component's code sends: the Lambda runtime writes
 * the function's logs and delivers failed asynchronous events to the on_failure queue with the
 * function's role; ECS pulls the image and ships the task logs with the execution role.
 */
const PLATFORM_ACTIONS: Record<string, string[]> = {
  lambda: ['logs:CreateLogStream', 'logs:PutLogEvents', 'sqs:SendMessage'],
  tasks: [],
  execution: [
    'ecr:BatchCheckLayerAvailability',
    'ecr:BatchGetImage',
    'ecr:GetAuthorizationToken',
    'ecr:GetDownloadUrlForLayer',
    'logs:CreateLogStream',
    'logs:PutLogEvents',
  ],
};

interface Component {
  name: 'lambda' | 'tasks';
  role: string;
  entries: string[];
  environment: string;
}

/** The orchestrator's entry point, as `make package` bundles it (scripts/package-lambda.mjs). */
const PACKAGE_SCRIPT = readFileSync(join(ROOT, 'scripts/package-lambda.mjs'), 'utf8');
const LAMBDA_ENTRY =
  /entry: \{ type: 'string', default: '([^']+)' \}/.exec(PACKAGE_SCRIPT)?.[1] ?? '';
const LAMBDA_BUNDLE =
  /name: \{ type: 'string', default: '([^']+)' \}/.exec(PACKAGE_SCRIPT)?.[1] ?? '';
/** Each stage's job entry point; the task definitions' commands are checked to run exactly these. */
const TASK_ENTRIES = STAGES.map((stage) => `jobs/${stage}.ts`);

/** Entry points not written yet: the component's checks are skipped (and reported), not faked. */
const MISSING = {
  lambda: [LAMBDA_ENTRY].filter((e) => !existsSync(join(ROOT, e))),
  tasks: TASK_ENTRIES.filter((e) => !existsSync(join(ROOT, e))),
};
for (const [name, missing] of Object.entries(MISSING)) {
  if (missing.length > 0)
    console.warn(`IAM drift (${name}) skipped: ${missing.join(', ')} not written yet`);
}

let tf: TfModule;
let components: Component[];

/**
 * jobs/<stage>.js script of each task definition, from its command: node, its flags, then
 * `dist/jobs/<stage>.js` (`concat(["node"], local.job_node_flags[each.key], ["<script>"])`).
 */
function taskCommandEntries(): string[] {
  const containers = String(resource(tf, 'aws_ecs_task_definition', 'stage').container_definitions);
  const command =
    /command\s*=\s*concat\(\["node"\],\s*local\.job_node_flags\[each\.key\],\s*\["([^"]+)"\]\)/.exec(
      containers,
    )?.[1];
  if (!command)
    throw new Error(
      'task definition command concat(["node"], local.job_node_flags[each.key], ["<script>"]) not found',
    );
  return STAGES.map((stage) =>
    evaluateTemplate(tf, command, { 'each.key': stage })
      .replace(/^dist\//, '')
      .replace(/\.js$/, '.ts'),
  );
}

beforeAll(async () => {
  tf = await loadTerraform();
  const taskDefinition = resource(tf, 'aws_ecs_task_definition', 'stage');
  components = [
    {
      name: 'lambda',
      role: roleNameIn(resource(tf, 'aws_lambda_function', 'orchestrator').role),
      entries: [LAMBDA_ENTRY],
      environment: 'lambda_environment',
    },
    {
      name: 'tasks',
      role: roleNameIn(taskDefinition.task_role_arn),
      entries: TASK_ENTRIES,
      environment: 'job_environment',
    },
  ];
});

function component(name: Component['name']): Component {
  return components.find((c) => c.name === name)!;
}

function diff(
  allowed: readonly string[],
  needed: Map<string, string[]>,
  platform: readonly string[],
) {
  const missing = [...needed.keys()]
    .filter((a) => !allowed.includes(a))
    .map((a) => `${a} (needed by ${needed.get(a)!.join(', ')})`);
  const unused = allowed.filter((a) => !needed.has(a) && !platform.includes(a));
  return { missing: missing.sort(), unused };
}

describe('entry points of the deployed components', () => {
  it('the Lambda handler is the bundle make package builds from the orchestrator entry point', () => {
    const handler = String(resource(tf, 'aws_lambda_function', 'orchestrator').handler);
    expect(LAMBDA_ENTRY).toBe('lambdas/orchestrator.ts');
    expect(handler).toBe(`${LAMBDA_BUNDLE}.handler`);
  });

  it('each task definition runs its stage job', () => {
    expect(taskCommandEntries()).toEqual(TASK_ENTRIES);
  });
});

describe('code scanner', () => {
  it('finds the commands the S3 and DynamoDB adapters send and maps them to IAM actions', () => {
    const files = reachableFiles([
      'src/adapters/aws/s3-object-store.ts',
      'src/adapters/aws/dynamodb-kpi-store.ts',
    ]);
    const actions = requiredActions(sdkCalls(files));
    expect([...actions.keys()].sort()).toEqual([
      'dynamodb:BatchWriteItem',
      'dynamodb:DeleteItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
    ]);
    expect(actions.get('s3:ListBucket')).toContain(
      'src/adapters/aws/s3-object-store.ts: ListObjectsV2Command',
    );
  });

  it('follows imports from an entry point and leaves out type-only imports and the local runtime', () => {
    const files = reachableFiles(['src/stages/job.ts']);
    expect(files).toContain('src/adapters/aws/s3-object-store.ts');
    expect(files).toContain('src/config.ts');
    expect(files.some((f) => f.startsWith('src/adapters/local/'))).toBe(false);
    // src/ports/kpi-store.ts is only imported as a type by the KPI adapter.
    expect(reachableFiles(['src/adapters/aws/dynamodb-kpi-store.ts'])).not.toContain(
      'src/ports/kpi-store.ts',
    );
  });
});

describe.each(['lambda', 'tasks'] as const)('IAM drift: %s', (name) => {
  const itWritten = MISSING[name].length === 0 ? it : it.skip;

  itWritten('role allows exactly the actions its code sends (plus its platform needs)', () => {
    const { role, entries } = component(name);
    const needed = requiredActions(sdkCalls(reachableFiles(entries)));
    const allowed = allowedActions(roleStatements(tf, role));
    const platform = PLATFORM_ACTIONS[name]!;
    expect(diff(allowed, needed, platform)).toEqual({ missing: [], unused: [] });
    for (const action of platform) expect(allowed).toContain(action);
  });

  itWritten('role reaches exactly the DynamoDB tables its code reads the names of', async () => {
    const { role, entries, environment } = component(name);
    const env = localValue(tf, environment) as Record<string, string>;
    const expected = variablesRead(reachableFiles(entries), TABLE_VARIABLES)
      .map(
        (variable) =>
          /^(aws_dynamodb_table\.[\w-]+)\.name$/.exec(expressionOf(env[variable]) ?? '')?.[1],
      )
      .sort();
    const granted = new Set<string>();
    for (const statement of roleStatements(tf, role)) {
      if (!statement.actions.some((a) => a.startsWith('dynamodb:'))) continue;
      for (const r of await referencedResources(statement)) granted.add(r);
    }
    expect([...granted].sort()).toEqual(expected);
  });
});

describe('IAM: platform-only roles and least privilege', () => {
  const allStatements = (): { role: string; statement: Statement }[] =>
    Object.keys(tf.resources.aws_iam_role ?? {}).flatMap((role) =>
      roleStatements(tf, role).map((statement) => ({ role, statement })),
    );

  it('the task execution role only pulls the image and writes the task logs', async () => {
    const role = roleNameIn(resource(tf, 'aws_ecs_task_definition', 'stage').execution_role_arn);
    const statements = roleStatements(tf, role);
    expect(allowedActions(statements)).toEqual(PLATFORM_ACTIONS.execution);
    const logs = statements.find((s) => s.actions.includes('logs:PutLogEvents'))!;
    expect(await referencedResources(logs)).toEqual(['aws_cloudwatch_log_group.task']);
    const pull = statements.find((s) => s.actions.includes('ecr:BatchGetImage'))!;
    expect(await referencedResources(pull)).toEqual(['aws_ecr_repository.this']);
  });

  it('the Lambda role writes its own log group and sends only to its failure queue', async () => {
    const statements = roleStatements(tf, component('lambda').role);
    const logs = statements.find((s) => s.actions.includes('logs:PutLogEvents'))!;
    expect(await referencedResources(logs)).toEqual(['aws_cloudwatch_log_group.orchestrator']);
    const queue = statements.find((s) => s.actions.includes('sqs:SendMessage'))!;
    expect(await referencedResources(queue)).toEqual(['aws_sqs_queue.orchestrator_failures']);
    const destination = resource(tf, 'aws_lambda_function_event_invoke_config', 'orchestrator');
    expect(JSON.stringify(destination)).toContain('${aws_sqs_queue.orchestrator_failures.arn}');
  });

  it('attaches policies only as inline aws_iam_policy_document policies', () => {
    expect(tf.resources.aws_iam_role_policy_attachment).toBeUndefined();
    expect(tf.resources.aws_iam_policy).toBeUndefined();
    for (const role of Object.values(tf.resources.aws_iam_role ?? {})) {
      expect(role.managed_policy_arns).toBeUndefined();
      expect(role.inline_policy).toBeUndefined();
      expect(expressionOf(role.assume_role_policy)).toMatch(
        /^data\.aws_iam_policy_document\.[\w-]+\.json$/,
      );
    }
  });

  it('names every statement and grants no wildcard action, and "*" only where IAM has no resources', () => {
    for (const { role, statement } of allStatements()) {
      expect({ role, sid: statement.sid }).toEqual({
        role,
        sid: expect.stringMatching(/^[A-Za-z0-9]+$/),
      });
      for (const action of statement.actions) expect(action).not.toMatch(/\*/);
      if (statement.resources.includes('*')) {
        expect({ role, actions: statement.actions }).toEqual({
          role,
          actions: ['ecr:GetAuthorizationToken'],
        });
      }
    }
  });

  it('passes only the two task roles, only to ECS tasks', async () => {
    const pass = allStatements().filter(({ statement }) =>
      statement.actions.includes('iam:PassRole'),
    );
    for (const { role, statement } of pass) {
      expect(role).toBe(component('lambda').role);
      expect(statement.actions).toEqual(['iam:PassRole']);
      const taskDefinition = resource(tf, 'aws_ecs_task_definition', 'stage');
      const roles = [
        roleNameIn(taskDefinition.task_role_arn),
        roleNameIn(taskDefinition.execution_role_arn),
      ];
      expect(await referencedResources(statement)).toEqual(
        roles.map((r) => `aws_iam_role.${r}`).sort(),
      );
      expect(statement.conditions).toEqual([
        {
          test: 'StringEquals',
          variable: 'iam:PassedToService',
          values: ['ecs-tasks.amazonaws.com'],
        },
      ]);
    }
  });

  it('runs only the stage task definitions, only on the stack cluster', async () => {
    const run = allStatements().filter(({ statement }) =>
      statement.actions.includes('ecs:RunTask'),
    );
    expect(run.length).toBeGreaterThan(0);
    for (const { statement } of run) {
      expect(await referencedResources(statement)).toEqual(['aws_ecs_task_definition.stage']);
      expect(statement.resources.join()).toMatch(/arn_without_revision\}:\*/);
      expect(statement.conditions).toEqual([
        { test: 'ArnEquals', variable: 'ecs:cluster', values: ['${aws_ecs_cluster.this.arn}'] },
      ]);
    }
  });

  it('never lets a component write under incoming/ or metadata/ (no trigger loops)', () => {
    let writes = 0;
    for (const { statement } of allStatements()) {
      if (
        !statement.actions.some((a) => /^s3:(PutObject|DeleteObject|AbortMultipartUpload)$/.test(a))
      )
        continue;
      for (const r of expandResources(tf, statement.resources)) {
        writes++;
        expect(r).toMatch(/^\$\{aws_s3_bucket\.this\.arn\}\/[a-z-]+\/\*$/); // one top-level prefix
        expect(r).not.toMatch(/\/(incoming|metadata)\//);
      }
    }
    expect(writes).toBeGreaterThan(0);
  });
});
