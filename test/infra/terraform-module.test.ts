/**
 * terraform/ as a module, checked without a Terraform binary or provider: every file parses,
 * every reference resolves, every variable is typed and described, nothing declared goes unused,
 * and every file is formatted as `terraform fmt` would (the same formatter, as WASM).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { format } from '@cdktf/hcl-tools';
import { parse } from '@cdktf/hcl2json';
import { compileExpression, type HclValue } from './hcl-eval.js';
import {
  blocks,
  expressionOf,
  loadTerraform,
  referencesIn,
  strings,
  TF_DIR,
  type TfModule,
} from './terraform.js';

/** Resource types come from these providers (versions.tf must require each). */
const PROVIDER_OF_TYPE = /^([a-z0-9]+)_/;
/** Names that are not references to declarations. */
const BUILTIN_ROOTS = new Set(['each', 'count', 'self', 'path', 'terraform']);

let tf: TfModule;
beforeAll(async () => {
  tf = await loadTerraform();
});

/** Iterator names of dynamic blocks (`dynamic "columns"` -> columns.value), anywhere in the file. */
function dynamicIterators(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => dynamicIterators(v, into));
  else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === 'dynamic') {
        for (const [label, defs] of Object.entries(child as Record<string, unknown>)) {
          into.add(label);
          for (const def of defs as Record<string, unknown>[]) {
            if (typeof def.iterator === 'string') into.add(def.iterator);
          }
        }
      }
      dynamicIterators(child, into);
    }
  }
  return into;
}

/** Every reference in the module, with the file it is in. */
async function allReferences(): Promise<{ file: string; ref: string }[]> {
  const out: { file: string; ref: string }[] = [];
  for (const file of tf.files) {
    const iterators = dynamicIterators(file.json);
    for (const value of strings(file.json)) {
      for (const ref of await referencesIn(value)) {
        if (!iterators.has(ref.split('.')[0]!)) out.push({ file: file.name, ref });
      }
    }
  }
  return out;
}

describe('terraform module structure', () => {
  it('has the standard files and one file per concern', () => {
    const files = tf.files.map((f) => f.name);
    for (const expected of [
      'versions.tf',
      'variables.tf',
      'outputs.tf',
      'locals.tf',
      's3.tf',
      'lambda.tf',
      'ecr.tf',
      'ecs.tf',
      'events.tf',
      'dynamodb.tf',
      'sns.tf',
      'glue.tf',
      'iam.tf',
    ]) {
      expect(files).toContain(expected);
    }
    // Variables and outputs live in their own files only.
    for (const file of tf.files) {
      if (file.name !== 'variables.tf') expect(file.json.variable).toBeUndefined();
      if (file.name !== 'outputs.tf') expect(file.json.output).toBeUndefined();
    }
  });

  it('pins Terraform >= 1.6 and the AWS provider to one major version', () => {
    const settings = tf.settings[0]!;
    expect(settings.required_version).toMatch(/^>=\s*1\.(6|7|8|9|1\d)/);
    const providers = blocks(settings, 'required_providers')[0]!;
    const aws = providers.aws as { source: string; version: string };
    expect(aws.source).toBe('hashicorp/aws');
    expect(aws.version).toMatch(/^~>\s*[56]\.\d+$/);
  });

  it('requires a provider for every resource and data source type it uses', () => {
    const required = Object.keys(blocks(tf.settings[0]!, 'required_providers')[0]!);
    const types = [...Object.keys(tf.resources), ...Object.keys(tf.data)];
    for (const type of types) {
      const provider = PROVIDER_OF_TYPE.exec(type)?.[1] ?? type;
      expect({ type, provided: required.includes(provider) }).toEqual({ type, provided: true });
    }
  });
});

describe('terraform references', () => {
  it('resolves every reference to a declared resource, data source, variable, local or module', async () => {
    const unresolved: string[] = [];
    for (const { file, ref } of await allReferences()) {
      const [root, a, b] = ref.split('.');
      let ok: boolean;
      if (BUILTIN_ROOTS.has(root!)) ok = true;
      else if (root === 'var') ok = a! in tf.variables;
      else if (root === 'local') ok = a! in tf.locals;
      else if (root === 'module') ok = a! in tf.modules;
      else if (root === 'data') ok = Boolean(tf.data[a!]?.[b!]);
      else ok = Boolean(tf.resources[root!]?.[a!]);
      if (!ok) unresolved.push(`${file}: ${ref}`);
    }
    expect(unresolved).toEqual([]);
  });

  it('uses every variable, local and data source it declares', async () => {
    const used = new Set(
      (await allReferences()).map(({ ref }) => ref.split('.').slice(0, 3).join('.')),
    );
    const usedRoot = (prefix: string) =>
      [...used].some((r) => r === prefix || r.startsWith(`${prefix}.`));
    const unused = [
      ...Object.keys(tf.variables)
        .map((v) => `var.${v}`)
        .filter((v) => !usedRoot(v)),
      ...Object.keys(tf.locals)
        .map((l) => `local.${l}`)
        .filter((l) => !usedRoot(l)),
      ...Object.entries(tf.data)
        .flatMap(([type, named]) => Object.keys(named).map((n) => `data.${type}.${n}`))
        .filter((d) => !usedRoot(d)),
    ];
    expect(unused).toEqual([]);
  });
});

describe('terraform variables and outputs', () => {
  it('gives every variable a type and a description', () => {
    const problems = Object.entries(tf.variables).flatMap(([name, v]) => [
      ...(typeof v.type === 'string' && v.type.length > 0 ? [] : [`${name}: no type`]),
      ...(typeof v.description === 'string' && v.description.trim().length > 10
        ? []
        : [`${name}: no description`]),
    ]);
    expect(problems).toEqual([]);
  });

  it('validates every variable whose values can be wrong', () => {
    const unvalidated = Object.entries(tf.variables)
      .filter(([, v]) => !/^\$\{(bool|map\(string\))\}$/.test(String(v.type)))
      .filter(([, v]) => blocks(v, 'validation').length === 0)
      .map(([name]) => name);
    expect(unvalidated).toEqual([]);
  });

  it("passes its own validations with every variable's default or example value", async () => {
    const example = (await parse(
      'terraform.tfvars.example',
      readFileSync(join(TF_DIR, 'terraform.tfvars.example'), 'utf8'),
    )) as Record<string, HclValue>;
    const failing: string[] = [];
    const checked: string[] = [];
    for (const [name, v] of Object.entries(tf.variables)) {
      const value = ('default' in v ? v.default : example[name]) as HclValue | undefined;
      if (value === undefined) continue;
      for (const validation of blocks(v, 'validation')) {
        const holds = (await compileExpression(String(validation.condition)))({
          var: { [name]: value },
        });
        checked.push(name);
        if (holds !== true) failing.push(`${name}: ${String(validation.condition)}`);
      }
    }
    expect(failing).toEqual([]);
    // Every validated variable but image_tag (set by make) has a value to check.
    const validated = Object.entries(tf.variables).filter(
      ([, v]) => blocks(v, 'validation').length,
    );
    expect(new Set(checked)).toEqual(
      new Set(validated.map(([name]) => name).filter((name) => name !== 'image_tag')),
    );
  });

  it('accepts exactly the task sizes Fargate supports, one for each stage', async () => {
    // AWS's table (ECS developer guide, task CPU and memory): memory MiB by CPU units.
    const steps = (from: number, to: number, step: number) =>
      Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);
    const fargate: Record<number, number[]> = {
      256: [512, 1024, 2048],
      512: steps(1024, 4096, 1024),
      1024: steps(2048, 8192, 1024),
      2048: steps(4096, 16384, 1024),
      4096: steps(8192, 30720, 1024),
      8192: steps(16384, 61440, 4096),
      16384: steps(32768, 122880, 8192),
    };
    const conditions = await Promise.all(
      blocks(tf.variables.task_sizes!, 'validation').map((b) =>
        compileExpression(String(b.condition)),
      ),
    );
    const accepts = (sizes: Record<string, HclValue>) =>
      conditions.every((holds) => holds({ var: { task_sizes: sizes } }) === true);
    const wrong: string[] = [];
    for (const cpu of [128, 256, 384, 512, 1024, 2048, 3072, 4096, 8192, 16384, 32768])
      for (let memory = 256; memory <= 131072; memory += 256) {
        const size = { cpu, memory };
        const expected = fargate[cpu]?.includes(memory) ?? false;
        // One stage at a time, the others at the default: any stage's bad size is refused.
        for (const stage of ['upload', 'validate', 'compute-kpi'])
          if (
            accepts({ ...(tf.variables.task_sizes!.default as object), [stage]: size }) !== expected
          )
            wrong.push(`${stage} ${cpu}/${memory}: expected ${expected ? 'accepted' : 'refused'}`);
      }
    expect(wrong).toEqual([]);
    const size = { cpu: 1024, memory: 2048 };
    expect(accepts({ upload: size, validate: size, 'compute-kpi': size })).toBe(true);
    expect(accepts({ upload: size, validate: size })).toBe(false);
    expect(accepts({ upload: size, validate: size, 'compute-kpi': size, extra: size })).toBe(false);
  });

  it('shows every variable without a default in terraform.tfvars.example (image_tag comes from make)', async () => {
    const example = readFileSync(join(TF_DIR, 'terraform.tfvars.example'), 'utf8');
    const values = await parse('terraform.tfvars.example', example);
    const required = Object.entries(tf.variables)
      .filter(([, v]) => !('default' in v))
      .map(([name]) => name);
    expect(required.length).toBeGreaterThan(0);
    for (const name of required) {
      if (name === 'image_tag') expect(example).toMatch(/^# image_tag = /m);
      else expect(Object.keys(values)).toContain(name);
    }
    for (const name of Object.keys(values)) expect(Object.keys(tf.variables)).toContain(name);
  });

  it('describes every output and prefixes it with the kind of resource it comes from', () => {
    const prefixes = /^(s3|lambda|sqs|ecr|ecs|dynamodb|sns|glue)_/;
    for (const [name, output] of Object.entries(tf.outputs)) {
      expect({ name, prefixed: prefixes.test(name) }).toEqual({ name, prefixed: true });
      expect(typeof output.description).toBe('string');
      expect(expressionOf(output.value) ?? output.value).toBeTruthy();
    }
  });
});

describe('terraform formatting', () => {
  const files = readdirSync(TF_DIR).filter(
    (f) => f.endsWith('.tf') || f.endsWith('.tfvars.example'),
  );

  it.each(files)('%s is formatted as terraform fmt would', async (file) => {
    const text = readFileSync(join(TF_DIR, file), 'utf8');
    expect(await format(text)).toBe(text);
  });
});
