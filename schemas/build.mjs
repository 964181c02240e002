/**
 * Replaces tsc's output for schemas/typebox.ts (a re-export of 'typebox' and 'typebox/compile')
 * with one esbuild bundle of the same exports, so a thread loads TypeBox as one module instead of
 * ~700 (see schemas/typebox.ts). Run by `npm run build` after tsc; a no-op when the bundle is
 * already there and newer than its source, this script and package-lock.json (`--force` rebuilds).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const SOURCE = path.join(HERE, 'typebox.ts');
const OUT = path.join(ROOT, 'dist', 'schemas', 'typebox.js');
const BANNER = '// TypeBox bundled by schemas/build.mjs: see schemas/typebox.ts';

function upToDate() {
  if (!fs.existsSync(OUT)) return false;
  const fd = fs.openSync(OUT, 'r');
  const head = Buffer.alloc(BANNER.length);
  fs.readSync(fd, head, 0, BANNER.length, 0);
  fs.closeSync(fd);
  if (head.toString() !== BANNER) return false; // tsc wrote its re-export again
  const built = fs.statSync(OUT).mtimeMs;
  return [SOURCE, fileURLToPath(import.meta.url), path.join(ROOT, 'package-lock.json')].every((f) => fs.statSync(f).mtimeMs <= built);
}

if (process.argv.includes('--force') || !upToDate()) {
  const result = await esbuild.build({
    entryPoints: [SOURCE],
    outfile: OUT,
    write: false,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    sourcesContent: false,
    banner: { js: BANNER },
    logLevel: 'warning',
  });
  // The map first (it replaces tsc's, which tsc -b looks for), then the module, each written
  // beside and renamed into place: a server starting meanwhile reads one whole file.
  const byPath = new Map(result.outputFiles.map((f) => [f.path, f.contents]));
  for (const file of [`${OUT}.map`, OUT]) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, byPath.get(file));
    fs.renameSync(tmp, file);
  }
}
