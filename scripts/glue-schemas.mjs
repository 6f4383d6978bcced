#!/usr/bin/env node
/**
 * `make glue-schemas`: writes terraform/glue-schemas.json, the Glue catalog columns of every
 * profile's validated/ and kpis/ Parquet, computed from the code by test/infra/glue-schemas.ts
 * (bundled here with esbuild, packages left to node_modules). `--check` exits 1 when the file
 * is not what the code gives. The infrastructure tests make the same comparison.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import * as prettier from 'prettier';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'terraform', 'glue-schemas.json');
const check = process.argv.includes('--check');

// Inside node_modules so the bundle's package imports resolve from the project.
const bundle = join(root, 'node_modules', '.cache', 'cartpipe', 'glue-schemas.mjs');
mkdirSync(dirname(bundle), { recursive: true });
await build({
  entryPoints: [join(root, 'test', 'infra', 'glue-schemas.ts')],
  outfile: bundle,
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
});
const { glueSchemas } = await import(pathToFileURL(bundle).href);
const options = (await prettier.resolveConfig(target)) ?? {};
const text = await prettier.format(JSON.stringify(glueSchemas()), { ...options, parser: 'json' });

let current = '';
try {
  current = readFileSync(target, 'utf8');
} catch {
  // first run
}
if (current === text) {
  process.stdout.write(`${target} is up to date\n`);
} else if (check) {
  process.stderr.write(`${target} is out of date: run make glue-schemas\n`);
  process.exit(1);
} else {
  writeFileSync(target, text);
  process.stdout.write(`wrote ${target}\n`);
}
