/**
 * Replaces tsc's output for schemas/typebox.ts (a re-export of 'typebox' and 'typebox/compile')
 * with one esbuild bundle of the same exports, so a thread loads TypeBox as one module instead of
 * ~700 (see schemas/typebox.ts). Run by `npm run build` after tsc; a no-op when the bundle is
 * already there and newer than its source and package-lock.json (`--force` rebuilds).
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
  return [SOURCE, path.join(ROOT, 'package-lock.json')].every((f) => fs.statSync(f).mtimeMs <= built);
}

if (process.argv.includes('--force') || !upToDate()) {
  // Written beside and renamed into place: a server starting meanwhile reads one whole file.
  const tmp = `${OUT}.${process.pid}.tmp`;
  await esbuild.build({
    entryPoints: [SOURCE],
    outfile: tmp,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    banner: { js: BANNER },
    logLevel: 'warning',
  });
  fs.renameSync(tmp, OUT);
  // tsc's map describes the re-export, not the bundle.
  fs.rmSync(`${OUT}.map`, { force: true });
}
