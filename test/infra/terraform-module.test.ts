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
