/**
 * Evaluates the Terraform expressions of variable validations (a `condition` as hcl2json renders
 * it, "${...}") on the syntax tree @cdktf/hcl2json's getExpressionAst gives, so the tests can run
 * the module's own conditions on chosen values with no terraform binary. It covers what the
 * conditions use (literals, tuples, references into a scope, list `for` expressions, the
 * conditional, arithmetic, comparison and logic operators, and the functions below) and throws on
 * anything else, so a test never passes on a guess. Like Terraform before 1.12, `&&` and `||`
 * evaluate both sides: an error on either is an error, which only can() turns into false.
 */
import { isDeepStrictEqual } from 'node:util';
import { getExpressionAst, wrapTerraformExpression } from '@cdktf/hcl2json';

interface AstNode {
  type: string;
  meta?: Record<string, unknown> & { traversal?: ({ segment?: string } | object)[] };
  children?: AstNode[];
}

/** A value in the evaluation: Terraform's primitives, lists and maps as JSON-like values. */
export type HclValue = null | boolean | number | string | HclValue[] | { [key: string]: HclValue };

export class HclEvaluationError extends Error {}

/** A parsed expression, evaluated against a scope such as `{ var: { name: value } }`. */
export type HclExpression = (scope: Record<string, HclValue>) => HclValue;

/** Parses `value` ("${expr}") once; the result evaluates it against any scope. */
export async function compileExpression(value: string): Promise<HclExpression> {
  // A quoted template holds no line breaks; an expression's own are only spacing.
  const oneLine = value.replace(/\s*\n\s*/g, ' ');
  const quoted = oneLine.startsWith('"') ? oneLine : `"${oneLine}"`;
  const ast = (await getExpressionAst(
    'expression.tf',
    wrapTerraformExpression(quoted).wrap,
  )) as AstNode | null;
  const root = ast?.type === 'templateWrap' ? ast.children : undefined;
  if (!root || root.length !== 1) throw new HclEvaluationError(`not a single expression: ${value}`);
  return (scope) => evaluate(root[0]!, scope);
}

const fail = (message: string): never => {
  throw new HclEvaluationError(message);
};

function number(value: HclValue, what: string): number {
  return typeof value === 'number'
    ? value
    : fail(`${what}: ${JSON.stringify(value)} is not a number`);
}

function bool(value: HclValue, what: string): boolean {
  return typeof value === 'boolean'
    ? value
    : fail(`${what}: ${JSON.stringify(value)} is not a bool`);
}

function list(value: HclValue, what: string): HclValue[] {
  return Array.isArray(value) ? value : fail(`${what}: ${JSON.stringify(value)} is not a list`);
}

function map(value: HclValue, what: string): Record<string, HclValue> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? value
    : fail(`${what}: ${JSON.stringify(value)} is not a map`);
}

/** HCL's string escapes in a quoted literal's source text. */
function unescape(source: string): string {
  return source.replace(/\\(["\\nrt])/g, (_, c: string) =>
    c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c,
  );
}

function literal(node: AstNode): HclValue {
  const { type, value } = node.meta as { type: string; value: string };
  if (type === 'number') return Number(value);
  if (type === 'bool') return value === 'true';
  if (type === 'string') return unescape(value);
  if (type === 'dynamic' && value === 'null') return null;
  return fail(`literal of type ${type}: ${value}`);
}

function traverse(node: AstNode, scope: Record<string, HclValue>): HclValue {
  const segments = (node.meta?.traversal ?? []).map((part) =>
    'segment' in part && typeof part.segment === 'string'
      ? part.segment
      : fail(`reference ${String(node.meta?.value)}: only names are supported`),
  );
  let value: HclValue | undefined = scope[segments[0]!];
  for (const segment of segments.slice(1)) {
    if (value === undefined) break;
    value = map(value, segments.join('.'))[segment];
  }
  return value === undefined ? fail(`unknown reference ${segments.join('.')}`) : value;
}

const BINARY: Record<string, (a: HclValue, b: HclValue) => HclValue> = {
  equal: (a, b) => isDeepStrictEqual(a, b),
  notEqual: (a, b) => !isDeepStrictEqual(a, b),
  lessThan: (a, b) => number(a, '<') < number(b, '<'),
  lessThanOrEqual: (a, b) => number(a, '<=') <= number(b, '<='),
  greaterThan: (a, b) => number(a, '>') > number(b, '>'),
  greaterThanOrEqual: (a, b) => number(a, '>=') >= number(b, '>='),
  add: (a, b) => number(a, '+') + number(b, '+'),
  subtract: (a, b) => number(a, '-') - number(b, '-'),
  multiply: (a, b) => number(a, '*') * number(b, '*'),
  divide: (a, b) => number(a, '/') / number(b, '/'),
  modulo: (a, b) => number(a, '%') % number(b, '%'),
  logicalAnd: (a, b) => bool(a, '&&') && bool(b, '&&'),
  logicalOr: (a, b) => bool(a, '||') || bool(b, '||'),
};

function regex(pattern: HclValue, text: HclValue): HclValue {
  if (typeof pattern !== 'string' || typeof text !== 'string')
    return fail(`regex(${JSON.stringify(pattern)}, ${JSON.stringify(text)}): strings only`);
  const match = new RegExp(pattern).exec(text);
  if (!match) return fail(`regex: ${JSON.stringify(text)} does not match ${pattern}`);
  return match.length > 1 ? match.slice(1).map((g) => g ?? null) : match[0];
}

const FUNCTIONS: Record<string, (...args: HclValue[]) => HclValue> = {
  regex,
  floor: (n) => Math.floor(number(n, 'floor')),
  length: (v) =>
    typeof v === 'string'
      ? [...v].length
      : Array.isArray(v)
        ? v.length
        : Object.keys(map(v, 'length')).length,
  contains: (collection, value) =>
    list(collection, 'contains').some((v) => isDeepStrictEqual(v, value)),
  alltrue: (values) => list(values, 'alltrue').every((v) => bool(v, 'alltrue')),
  keys: (m) => Object.keys(map(m, 'keys')).sort(),
  values: (m) =>
    Object.entries(map(m, 'values'))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, v]) => v),
  distinct: (values) =>
    list(values, 'distinct').filter(
      (v, i, all) => all.findIndex((w) => isDeepStrictEqual(v, w)) === i,
    ),
  setsubtract: (a, b) =>
    list(a, 'setsubtract').filter(
      (v) => !list(b, 'setsubtract').some((w) => isDeepStrictEqual(v, w)),
    ),
};

function evaluate(node: AstNode, scope: Record<string, HclValue>): HclValue {
  const children = node.children ?? [];
  const meta = node.meta ?? {};
  switch (node.type) {
    case 'literalValue':
      return literal(node);
    case 'template':
      return children.map((c) => String(evaluate(c, scope))).join('');
    case 'tuple':
      return children.map((c) => evaluate(c, scope));
    case 'scopeTraversal':
      return traverse(node, scope);
    case 'unaryOp': {
      const value = evaluate(children[0]!, scope);
      if (meta.operator === 'logicalNot') return !bool(value, '!');
      if (meta.operator === 'negate') return -number(value, '-');
      return fail(`unary operator ${String(meta.operator)}`);
    }
    case 'binaryOp': {
      const op = BINARY[String(meta.operator)] ?? fail(`operator ${String(meta.operator)}`);
      return op(evaluate(children[0]!, scope), evaluate(children[1]!, scope));
    }
    case 'conditional':
      return bool(evaluate(children[0]!, scope), 'condition')
        ? evaluate(children[1]!, scope)
        : evaluate(children[2]!, scope);
    case 'function': {
      const name = String(meta.name);
      if (name === 'can') {
        try {
          evaluate(children[0]!, scope);
          return true;
        } catch (error) {
          if (error instanceof HclEvaluationError) return false;
          throw error;
        }
      }
      const fn = FUNCTIONS[name] ?? fail(`function ${name}`);
      return fn(...children.map((c) => evaluate(c, scope)));
    }
    case 'for': {
      if (meta.keyVar || meta.groupedValue || String(meta.openRangeValue) !== '[')
        return fail(`only list for expressions: ${String(meta.value)}`);
      const [collection, valueExpr, condition] = children;
      const items = evaluate(collection!, scope);
      // A map is iterated in key order, as Terraform does.
      const values = Array.isArray(items) ? items : (FUNCTIONS.values!(items) as HclValue[]);
      const name = String(meta.valVar);
      return values.flatMap((item) => {
        const inner = { ...scope, [name]: item };
        if (condition && !bool(evaluate(condition, inner), 'for condition')) return [];
        return [evaluate(valueExpr!, inner)];
      });
    }
    case '':
      // hcl2json gives parentheses no type of their own: one child, no meta.
      if (children.length === 1 && node.meta === undefined) return evaluate(children[0]!, scope);
      return fail(`untyped expression with ${children.length} children`);
    default:
      return fail(`expression of type ${node.type}: ${String(meta.value)}`);
  }
}
