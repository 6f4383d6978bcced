#!/usr/bin/env node
/**
 * `make package`: bundles the orchestrator Lambda with esbuild (one ESM file, every dependency
 * inlined, target Node 22) and zips it. The zip is byte-for-byte reproducible (fixed timestamps,
 * fixed order, no extra fields), so Terraform's source_code_hash only changes when the code does.
 * No zip library: node's zlib has deflate and CRC-32, which is all a zip needs.
 *
 * Usage: node scripts/package-lambda.mjs [--entry lambdas/orchestrator.ts] [--outdir dist/lambda]
 *        [--name orchestrator]   ->  <outdir>/<name>.mjs and <outdir>/<name>.zip
 */
import { Buffer } from 'node:buffer';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { crc32, deflateRawSync } from 'node:zlib';

const { values: args } = parseArgs({
  options: {
    entry: { type: 'string', default: 'lambdas/orchestrator.ts' },
    outdir: { type: 'string', default: 'dist/lambda' },
    name: { type: 'string', default: 'orchestrator' },
  },
});

/** DOS date 1980-01-01 00:00:00, the earliest a zip can hold: the same bytes on every build. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const UTF8_NAMES = 0x0800;

/**
 * Builds a zip archive of `entries` (name -> bytes), deflated, in the given order.
 * @example writeFileSync('a.zip', zip([['a.txt', Buffer.from('hi')]]));
 */
export function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const compressed = deflateRawSync(data, { level: 9 });
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
    local.writeUInt16LE(UTF8_NAMES, 6);
    local.writeUInt16LE(8, 8); // method: deflate
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, nameBytes, compressed);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, 2.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(UTF8_NAMES, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + compressed.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

async function main() {
  const entry = resolve(args.entry);
  if (!existsSync(entry)) {
    process.stderr.write(
      `package: ${args.entry} not found: the orchestrator handler is its entry point\n`,
    );
    process.exit(1);
  }
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    process.stderr.write('package: esbuild is not installed: run `make install` (npm ci) first\n');
    process.exit(1);
  }
  const outdir = resolve(args.outdir);
  mkdirSync(outdir, { recursive: true });
  const bundle = join(outdir, `${args.name}.mjs`);
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    // Bundled CommonJS dependencies still call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __cartpipeCreateRequire } from 'node:module'; const require = __cartpipeCreateRequire(import.meta.url);",
    },
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  const zipPath = join(outdir, `${args.name}.zip`);
  writeFileSync(zipPath, zip([[basename(bundle), readFileSync(bundle)]]));
  const inputs = Object.keys(result.metafile.inputs).length;
  const size = readFileSync(zipPath).length;
  process.stdout.write(
    `package: ${args.entry} (${inputs} modules) -> ${zipPath} (${(size / 1024).toFixed(0)} KiB)\n`,
  );
}

// Run when executed (node scripts/package-lambda.mjs), not when a test imports zip().
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
