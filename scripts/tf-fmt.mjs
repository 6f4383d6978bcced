#!/usr/bin/env node
/**
 * `make tf-fmt`: formats terraform/*.tf (and terraform.tfvars.example) the way `terraform fmt`
 * does, with @cdktf/hcl-tools (the same formatter compiled to WASM), so no Terraform binary is
 * needed. `--check` lists the files that are not formatted and exits 1 instead of writing.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import hclTools from '@cdktf/hcl-tools';

const dir = process.argv.find((a, i) => i > 1 && !a.startsWith('--')) ?? 'terraform';
const check = process.argv.includes('--check');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.tf') || f.endsWith('.tfvars') || f.endsWith('.tfvars.example'))
  .sort();
const unformatted = [];
for (const file of files) {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  const formatted = await hclTools.format(text);
  if (formatted === text) continue;
  unformatted.push(path);
  if (!check) writeFileSync(path, formatted);
}
if (check && unformatted.length > 0) {
  process.stderr.write(`not formatted (run make tf-fmt):\n  ${unformatted.join('\n  ')}\n`);
  process.exit(1);
}
if (!check && unformatted.length > 0) process.stdout.write(`formatted ${unformatted.join(', ')}\n`);
