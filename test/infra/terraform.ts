/**
 * Reads terraform/ for the infrastructure tests: every .tf file parsed offline with
 * @cdktf/hcl2json (Terraform's own HCL parser compiled to WASM), merged into one view of the
 * module, plus the few evaluation helpers the drift tests need (string templates over variable
 * defaults, references inside expressions).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getExpressionAst, parse, wrapTerraformExpression } from '@cdktf/hcl2json';

export const ROOT = resolve(import.meta.dirname, '../..');
export const TF_DIR = join(ROOT, 'terraform');

/** One block as hcl2json renders it: attributes are JSON values, expressions "${...}" strings. */
export type Block = Record<string, unknown>;

export interface TfFile {
  name: string;
  text: string;
  json: Record<string, unknown>;
}

export interface TfModule {
  files: TfFile[];
  resources: Record<string, Record<string, Block>>;
  data: Record<string, Record<string, Block>>;
  variables: Record<string, Block>;
  locals: Record<string, unknown>;
  outputs: Record<string, Block>;
  modules: Record<string, Block>;
  /** terraform { ... } blocks. */
  settings: Block[];
}

let cached: Promise<TfModule> | undefined;

/** The module in terraform/, parsed once per test file. */
export function loadTerraform(): Promise<TfModule> {
  cached ??= readModule(TF_DIR);
  return cached;
}

function first(value: unknown): Block {
  return (Array.isArray(value) ? value[0] : value) as Block;
}

function mergeNamed(
  into: Record<string, Block>,
  blocks: unknown,
  file: string,
  kind: string,
): void {
  for (const [name, value] of Object.entries((blocks ?? {}) as Record<string, unknown>)) {
    if (into[name]) throw new Error(`${kind} ${name} declared twice (again in ${file})`);
    into[name] = first(value);
  }
}

async function readModule(dir: string): Promise<TfModule> {
  const module: TfModule = {
    files: [],
    resources: {},
    data: {},
    variables: {},
    locals: {},
    outputs: {},
    modules: {},
    settings: [],
  };
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .sort()) {
    const text = readFileSync(join(dir, name), 'utf8');
    const json = (await parse(name, text)) as Record<string, unknown>;
    module.files.push({ name, text, json });
    for (const [kind, target] of [
      ['resource', module.resources],
      ['data', module.data],
    ] as const) {
      for (const [type, named] of Object.entries((json[kind] ?? {}) as Record<string, unknown>)) {
        target[type] ??= {};
        mergeNamed(target[type], named, name, `${kind} ${type}`);
      }
    }
    mergeNamed(module.variables, json.variable, name, 'variable');
    mergeNamed(module.outputs, json.output, name, 'output');
    mergeNamed(module.modules, json.module, name, 'module');
    for (const block of (json.locals ?? []) as Record<string, unknown>[]) {
      for (const [key, value] of Object.entries(block)) {
        if (key in module.locals) throw new Error(`local ${key} declared twice (again in ${name})`);
        module.locals[key] = value;
      }
    }
    module.settings.push(...((json.terraform ?? []) as Block[]));
  }
  return module;
}

/** The resource `type.name`; throws when it is not declared. */
export function resource(tf: TfModule, type: string, name: string): Block {
  const block = tf.resources[type]?.[name];
  if (!block) throw new Error(`resource ${type}.${name} is not declared in terraform/`);
  return block;
}

/** The data source `data.type.name`; throws when it is not declared. */
export function dataSource(tf: TfModule, type: string, name: string): Block {
  const block = tf.data[type]?.[name];
  if (!block) throw new Error(`data ${type}.${name} is not declared in terraform/`);
  return block;
}

/** A nested block (hcl2json renders blocks as arrays). */
export function blocks(parent: Block, name: string): Block[] {
  const value = parent[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]) as Block[];
}

/** Every string in a parsed value, depth first. */
export function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** "${expr}" -> "expr" when the whole string is one interpolation; undefined otherwise. */
export function expressionOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^\$\{([\s\S]*)\}$/.exec(value);
  if (!match) return undefined;
  // "${a}-${b}" also starts with ${ and ends with }: a single expression has balanced braces.
  let depth = 0;
  const body = match[1]!;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '{') depth++;
    if (body[i] === '}' && --depth < 0) return undefined;
  }
  return body.trim();
}

interface AstNode {
  type: string;
  meta?: { traversal?: ({ segment: string } | object)[]; keyVar?: string; valVar?: string };
  children?: AstNode[];
}

/**
 * References (var.x, local.y, aws_z.w.attr, data.a.b.attr, ...) in one parsed string, found on
 * the expression's syntax tree. The names a `for` expression binds are skipped inside it, and
 * unlike hcl2json's own getReferencesInExpression the key, value and filter parts of a `for`
 * are searched too. Single names (type keywords such as `string`) are not references.
 */
export async function referencesIn(value: string): Promise<string[]> {
  if (!value.includes('${')) return [];
  const quoted = value.startsWith('"') ? value : `"${value}"`;
  const ast = (await getExpressionAst(
    'expression.tf',
    wrapTerraformExpression(quoted).wrap,
  )) as AstNode | null;
  const found: string[] = [];
  const walk = (node: AstNode | undefined, bound: readonly string[]): void => {
    if (!node) return;
    if (node.type === 'scopeTraversal') {
      const segments: string[] = [];
      for (const part of node.meta?.traversal ?? []) {
        if (!('segment' in part)) break;
        segments.push(part.segment);
      }
      if (segments.length > 1 && !bound.includes(segments[0]!)) found.push(segments.join('.'));
      return;
    }
    const inner =
      node.type === 'for'
        ? [
            ...bound,
            ...[node.meta?.keyVar, node.meta?.valVar].filter((v): v is string => Boolean(v)),
          ]
        : bound;
    for (const child of node.children ?? []) walk(child, inner);
  };
  walk(ast ?? undefined, []);
  return found;
}

/**
 * Evaluates a string template whose interpolations are only simple references: `var.NAME`
 * (the variable's default), `local.NAME` (a string local, recursively) and names in `scope`
 * (e.g. each.key). Throws on anything else, so a test never compares against a guess.
 */
export function evaluateTemplate(
  tf: TfModule,
  template: string,
  scope: Record<string, string> = {},
): string {
  return template.replace(/\$\{([^{}]+)\}/g, (_, inner: string) => {
    const ref = inner.trim();
    if (ref in scope) return scope[ref]!;
    const variable = /^var\.([\w-]+)$/.exec(ref);
    if (variable) {
      const block = tf.variables[variable[1]!];
      if (!block || !('default' in block))
        throw new Error(`var.${variable[1]} has no default to evaluate`);
      return String(block.default);
    }
    const local = /^local\.([\w-]+)$/.exec(ref);
    if (local && typeof tf.locals[local[1]!] === 'string') {
      return evaluateTemplate(tf, tf.locals[local[1]!] as string, scope);
    }
    throw new Error(`cannot evaluate \${${ref}} in ${JSON.stringify(template)}`);
  });
}

/** A local's value; throws when absent. */
export function localValue(tf: TfModule, name: string): unknown {
  if (!(name in tf.locals)) throw new Error(`local.${name} is not declared in terraform/`);
  return tf.locals[name];
}

/** Resolves "${local.x}" to the local's literal value (one level), other values unchanged. */
export function resolveLocal(tf: TfModule, value: unknown): unknown {
  const expr = expressionOf(value);
  const local = expr && /^local\.([\w-]+)$/.exec(expr);
  return local ? localValue(tf, local[1]!) : value;
}

/** The resource a reference names: "aws_iam_role.task.arn" -> "aws_iam_role.task". */
export function resourceOf(reference: string): string {
  const parts = reference.split('.');
  return parts[0] === 'data' ? parts.slice(0, 3).join('.') : parts.slice(0, 2).join('.');
}
