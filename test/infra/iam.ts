/**
 * The IAM side of terraform/: which role each component runs as, and the statements of the
 * inline policies attached to it (all written as aws_iam_policy_document data sources).
 */
import {
  blocks,
  dataSource,
  expressionOf,
  referencesIn,
  resource,
  type Block,
  type TfModule,
} from './terraform.js';

export interface Statement {
  sid: string;
  effect: 'Allow' | 'Deny';
  actions: string[];
  /** Resource expressions as written ("${aws_s3_bucket.this.arn}", "*", ...). */
  resources: string[];
  conditions: { test: string; variable: string; values: string[] }[];
}

function list(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** Statements of one aws_iam_policy_document. */
export function statementsOf(document: Block): Statement[] {
  return blocks(document, 'statement').map((s) => ({
    sid: String(s.sid ?? ''),
    effect: (s.effect ?? 'Allow') as 'Allow' | 'Deny',
    actions: list(s.actions),
    resources: list(s.resources),
    conditions: blocks(s, 'condition').map((c) => ({
      test: String(c.test),
      variable: String(c.variable),
      values: list(c.values),
    })),
  }));
}

/** "aws_iam_role.lambda.arn" in an attribute -> "lambda". */
export function roleNameIn(value: unknown): string {
  const match = /^aws_iam_role\.([\w-]+)\.(arn|id|name)$/.exec(expressionOf(value) ?? '');
  if (!match)
    throw new Error(`expected a reference to an aws_iam_role, got ${JSON.stringify(value)}`);
  return match[1]!;
}

/** Statements of every inline policy attached to aws_iam_role.<role>. */
export function roleStatements(tf: TfModule, role: string): Statement[] {
  resource(tf, 'aws_iam_role', role);
  const out: Statement[] = [];
  for (const policy of Object.values(tf.resources.aws_iam_role_policy ?? {})) {
    if (roleNameIn(policy.role) !== role) continue;
    const doc = /^data\.aws_iam_policy_document\.([\w-]+)\.json$/.exec(
      expressionOf(policy.policy) ?? '',
    );
    if (!doc)
      throw new Error(
        `aws_iam_role_policy for ${role} must use data.aws_iam_policy_document.<x>.json`,
      );
    out.push(...statementsOf(dataSource(tf, 'aws_iam_policy_document', doc[1]!)));
  }
  return out;
}

/** Actions a role's Allow statements grant. */
export function allowedActions(statements: readonly Statement[]): string[] {
  return [
    ...new Set(statements.filter((s) => s.effect === 'Allow').flatMap((s) => s.actions)),
  ].sort();
}

/** Resources (as "type.name") that a statement's resource expressions reference. */
export async function referencedResources(statement: Statement): Promise<string[]> {
  const refs = new Set<string>();
  for (const r of statement.resources) {
    for (const ref of await referencesIn(r)) refs.add(ref.split('.').slice(0, 2).join('.'));
  }
  return [...refs].sort();
}

/**
 * Resource expressions with the stack's list locals expanded, so a test can read the prefixes:
 * "${local.x}", and `[for p in <list> : "<template>"]` where <list> is a literal local list or
 * concat() of literal lists and such locals. Anything else is returned as written.
 */
export function expandResources(tf: TfModule, resources: readonly string[]): string[] {
  const listOf = (expr: string): string[] | undefined => {
    const local = /^local\.([\w-]+)$/.exec(expr.trim());
    if (local) {
      const value = tf.locals[local[1]!];
      return Array.isArray(value) ? value.map(String) : undefined;
    }
    const concat = /^concat\(([\s\S]*)\)$/.exec(expr.trim());
    if (concat) {
      const parts = concat[1]!.split(/,(?![^[]*\])/).map((p) => p.trim());
      const lists = parts.map((p) => (p.startsWith('[') ? (JSON.parse(p) as string[]) : listOf(p)));
      return lists.every(Boolean) ? (lists.flat() as string[]) : undefined;
    }
    return undefined;
  };
  return resources.flatMap((r) => {
    const expr = expressionOf(r);
    if (!expr) return [r];
    const local = /^local\.([\w-]+)$/.exec(expr);
    if (local) {
      const value = tf.locals[local[1]!];
      return expandResources(tf, Array.isArray(value) ? value.map(String) : [String(value)]);
    }
    const loop = /^\[for (\w+) in (.+?) : "(.*)"\]$/s.exec(expr);
    const items = loop && listOf(loop[2]!);
    if (loop && items) return items.map((item) => loop[3]!.split(`\${${loop[1]}}`).join(item));
    return [r];
  });
}
