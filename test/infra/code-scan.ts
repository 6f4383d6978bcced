/**
 * Finds, from the TypeScript sources, what AWS calls a deployed component makes: the files
 * reachable from its entry point (following relative and package "#" imports, type-only imports
 * excluded), the AWS SDK commands those files instantiate, and the IAM actions the commands need.
 * The IAM drift test compares that with the roles in terraform/iam.tf.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { ROOT } from './terraform.js';

/** Only the embedded local runtime uses these (local servers, never AWS): not part of any role. */
export const LOCAL_ONLY = [/^src\/adapters\/local\//];

export interface SdkCall {
  /** Repository-relative file that instantiates the command. */
  file: string;
  /** Package it comes from, e.g. @aws-sdk/client-s3. */
  module: string;
  /** Class or function name, e.g. GetObjectCommand, Upload, paginateListObjectsV2. */
  name: string;
}

interface ParsedFile {
  imports: string[];
  /** local name -> { module, imported name } for value imports from @aws-sdk/*. */
  sdkBindings: Map<string, { module: string; name: string }>;
  /** Identifiers used as `new X(...)` or called as `X(...)`. */
  instantiated: Set<string>;
  called: Set<string>;
  /** Property names read: `x.NAME`, `x['NAME']`, `const { NAME } = x`. */
  propertiesRead: Set<string>;
}

const cache = new Map<string, ParsedFile>();

function parseFile(path: string): ParsedFile {
  const hit = cache.get(path);
  if (hit) return hit;
  const text = readFileSync(path, 'utf8');
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const parsed: ParsedFile = {
    imports: [],
    sdkBindings: new Map(),
    instantiated: new Set(),
    called: new Set(),
    propertiesRead: new Set(),
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const spec = node.moduleSpecifier.text;
      const clause = node.importClause;
      if (!clause?.isTypeOnly) {
        const named = clause?.namedBindings;
        const valueNames =
          named && ts.isNamedImports(named) ? named.elements.filter((e) => !e.isTypeOnly) : [];
        // `import { type A } from './x.js'` loads nothing at run time.
        const onlyTypes =
          clause !== undefined &&
          clause.name === undefined &&
          named !== undefined &&
          ts.isNamedImports(named) &&
          valueNames.length === 0;
        if (!onlyTypes) parsed.imports.push(spec);
        if (spec.startsWith('@aws-sdk/')) {
          for (const element of valueNames) {
            parsed.sdkBindings.set(element.name.text, {
              module: spec,
              name: (element.propertyName ?? element.name).text,
            });
          }
        }
      }
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      if (!node.isTypeOnly) parsed.imports.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node)) {
      const [arg] = node.arguments;
      if (
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        arg &&
        ts.isStringLiteralLike(arg)
      ) {
        parsed.imports.push(arg.text);
      } else if (ts.isIdentifier(node.expression)) {
        parsed.called.add(node.expression.text);
      }
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression)) {
      parsed.instantiated.add(node.expression.text);
    } else if (ts.isPropertyAccessExpression(node)) {
      parsed.propertiesRead.add(node.name.text);
    } else if (
      ts.isElementAccessExpression(node) &&
      ts.isStringLiteralLike(node.argumentExpression)
    ) {
      parsed.propertiesRead.add(node.argumentExpression.text);
    } else if (ts.isBindingElement(node) && ts.isObjectBindingPattern(node.parent)) {
      const name = node.propertyName ?? node.name;
      if (ts.isIdentifier(name) || ts.isStringLiteral(name)) parsed.propertiesRead.add(name.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  cache.set(path, parsed);
  return parsed;
}

let packageImports: Record<string, string> | undefined;

/** Resolves an import to a repository .ts file, or undefined for a package import. */
function resolveImport(from: string, spec: string): string | undefined {
  let target: string | undefined;
  if (spec.startsWith('.')) {
    target = resolve(dirname(from), spec);
  } else if (spec.startsWith('#')) {
    packageImports ??= (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).imports ??
      {}) as Record<string, string>;
    for (const [pattern, mapped] of Object.entries(packageImports)) {
      const mappedPath = typeof mapped === 'string' ? mapped : undefined;
      if (!mappedPath) continue;
      if (pattern === spec) target = join(ROOT, mappedPath);
      else if (pattern.endsWith('*') && spec.startsWith(pattern.slice(0, -1))) {
        target = join(ROOT, mappedPath.replace('*', spec.slice(pattern.length - 1)));
      }
    }
    if (!target) throw new Error(`${from}: cannot resolve ${spec} with package.json "imports"`);
    // "#x/*": "./dist/x/*.js" style maps point at the build output: read the source instead.
    target = target.replace(/^(.*)\/dist\//, '$1/');
  } else {
    return undefined;
  }
  const base = target.replace(/\.(m?js|ts)$/, '');
  for (const candidate of [`${base}.ts`, `${base}.mts`, join(base, 'index.ts')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${relative(ROOT, from)}: import ${spec} does not resolve to a source file`);
}

/** Repository-relative files reachable from `entries` (repository-relative), local-only ones excluded. */
export function reachableFiles(entries: readonly string[]): string[] {
  const seen = new Set<string>();
  const stack = entries.map((e) => resolve(ROOT, e));
  while (stack.length > 0) {
    const file = stack.pop()!;
    const rel = relative(ROOT, file);
    if (seen.has(rel) || LOCAL_ONLY.some((re) => re.test(rel))) continue;
    seen.add(rel);
    for (const spec of parseFile(file).imports) {
      const next = resolveImport(file, spec);
      if (next) stack.push(next);
    }
  }
  return [...seen].sort();
}

/** Every AWS SDK command (or helper that sends commands) the files instantiate or call. */
export function sdkCalls(files: readonly string[]): SdkCall[] {
  const calls: SdkCall[] = [];
  for (const file of files) {
    const parsed = parseFile(resolve(ROOT, file));
    for (const [local, { module, name }] of parsed.sdkBindings) {
      const used =
        parsed.instantiated.has(local) ||
        (parsed.called.has(local) && /^(paginate|waitUntil|waitFor)[A-Z]/.test(name));
      if (!used) continue;
      // Clients and the document client's factory send nothing by themselves.
      if (/Client$/.test(name)) continue;
      calls.push({ file, module, name });
    }
  }
  return calls;
}

/** IAM prefix of each SDK package; an unknown package fails the test until it is added here. */
const SERVICE_PREFIX: Record<string, string> = {
  '@aws-sdk/client-s3': 's3',
  '@aws-sdk/lib-storage': 's3',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/lib-dynamodb': 'dynamodb',
  '@aws-sdk/client-ecs': 'ecs',
  '@aws-sdk/client-sns': 'sns',
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-cloudwatch-logs': 'logs',
  '@aws-sdk/client-eventbridge': 'events',
  '@aws-sdk/client-sts': 'sts',
};

/**
 * Operations whose IAM action is not named after them. S3 answers a GetObject or HeadObject of
 * a missing key with 403 instead of 404 unless the caller may list the bucket, and the adapters
 * treat 404 as "absent", so reading an object needs s3:ListBucket as well.
 */
const ACTIONS_OF_OPERATION: Record<string, string[]> = {
  's3:GetObject': ['s3:GetObject', 's3:ListBucket'],
  's3:HeadObject': ['s3:GetObject', 's3:ListBucket'],
  's3:ListObjectsV2': ['s3:ListBucket'],
  's3:ListObjects': ['s3:ListBucket'],
  's3:HeadBucket': ['s3:ListBucket'],
  's3:DeleteObjects': ['s3:DeleteObject'],
  's3:CopyObject': ['s3:GetObject', 's3:PutObject'],
  's3:CreateMultipartUpload': ['s3:PutObject'],
  's3:UploadPart': ['s3:PutObject'],
  's3:CompleteMultipartUpload': ['s3:PutObject'],
  's3:ListParts': ['s3:ListMultipartUploadParts'],
  's3:ListMultipartUploads': ['s3:ListBucketMultipartUploads'],
  // lib-storage's Upload: PutObject, or a multipart upload it aborts on failure.
  's3:Upload': ['s3:PutObject', 's3:AbortMultipartUpload'],
  // RunTask of a task definition with roles passes them to ECS.
  'ecs:RunTask': ['ecs:RunTask', 'iam:PassRole'],
  // IAM has no transaction actions: each item action in it is authorised as PutItem, DeleteItem,
  // ... (the KPI store's transactions put a date's rows and delete its stale ones).
  'dynamodb:TransactWriteItems': ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
  'dynamodb:TransactGetItems': ['dynamodb:GetItem'],
};

/** lib-dynamodb document commands -> the DynamoDB operations they send. */
const DOCUMENT_COMMANDS: Record<string, string> = {
  Get: 'GetItem',
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  Query: 'Query',
  Scan: 'Scan',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactGet: 'TransactGetItems',
  TransactWrite: 'TransactWriteItems',
};

const WAITER_OPERATIONS: Record<string, string> = {
  TableExists: 'DescribeTable',
  TableNotExists: 'DescribeTable',
  TasksRunning: 'DescribeTasks',
  TasksStopped: 'DescribeTasks',
  ObjectExists: 'HeadObject',
  ObjectNotExists: 'HeadObject',
};

/** The IAM actions one SDK call needs. Throws for a call it cannot map (add it above). */
export function actionsOf(call: SdkCall): string[] {
  const prefix = SERVICE_PREFIX[call.module];
  if (!prefix)
    throw new Error(
      `${call.file}: no IAM prefix known for ${call.module} (add it to code-scan.ts)`,
    );
  let operation: string;
  const paginator = /^paginate(\w+)$/.exec(call.name);
  const waiter = /^waitUntil(\w+)$|^waitFor(\w+)$/.exec(call.name);
  if (paginator) operation = paginator[1]!;
  else if (waiter) {
    const mapped = WAITER_OPERATIONS[waiter[1] ?? waiter[2]!];
    if (!mapped) throw new Error(`${call.file}: waiter ${call.name} is not mapped in code-scan.ts`);
    operation = mapped;
  } else if (call.module === '@aws-sdk/lib-storage') {
    if (call.name !== 'Upload')
      throw new Error(`${call.file}: ${call.name} from lib-storage is not mapped`);
    operation = 'Upload';
  } else if (/Command$/.test(call.name)) {
    operation = call.name.replace(/Command$/, '');
    if (call.module === '@aws-sdk/lib-dynamodb') {
      const mapped = DOCUMENT_COMMANDS[operation];
      if (!mapped)
        throw new Error(
          `${call.file}: document command ${call.name} is not mapped in code-scan.ts`,
        );
      operation = mapped;
    }
  } else {
    // e.g. `new S3()` (aggregated client): its method calls cannot be seen; use Client + Command.
    throw new Error(
      `${call.file}: new ${call.name}() from ${call.module} hides which operations are sent`,
    );
  }
  const action = `${prefix}:${operation}`;
  return ACTIONS_OF_OPERATION[action] ?? [action];
}

/** IAM action -> the calls that need it. */
export function requiredActions(calls: readonly SdkCall[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const call of calls) {
    for (const action of actionsOf(call)) {
      const sources = out.get(action) ?? [];
      sources.push(`${call.file}: ${call.name}`);
      out.set(action, sources);
    }
  }
  return out;
}

/**
 * Configuration properties (from `names`) the files read, as `config.NAME`, `config['NAME']` or
 * `const { NAME } = config`; src/config.ts, which declares every name, does not count, and
 * neither does a name that only appears in a message. A role may touch a table only if its
 * code reads the table's variable.
 */
export function variablesRead(files: readonly string[], names: readonly string[]): string[] {
  const found = new Set<string>();
  for (const file of files) {
    if (file === 'src/config.ts') continue;
    const { propertiesRead } = parseFile(resolve(ROOT, file));
    for (const name of names) if (propertiesRead.has(name)) found.add(name);
  }
  return [...found].sort();
}
