/**
 * Compiles the test suite (every .ts under test/) into dist/test with esbuild, file by file, so
 * tap runs plain JavaScript against the server, workers and CLI that `tsc -b` has just compiled
 * into dist/. Nothing is compiled at run time, in the test processes or in the worker threads
 * their servers start (that was most of the suite's time). Type-stripping only, as the TypeScript
 * loader tap used before did (transpile-only): the tests' types are not checked.
 *
 * A relative import keeps pointing at what it named in the source tree: `../../src/x.js` from
 * dist/test/<dir>/ is dist/src/x.js (tsc's output, same layout); `../../cli/x.js` becomes
 * dist/cli-cjs/x.js (the CLI is compiled there); anything outside the compiled trees
 * (dashboard/build.mjs) is imported from where it is. Source maps point stack traces at
 * test/*.ts when the files run with KOOR_TEST_SOURCE_MAPS=1 (test/setup/unhook.cjs).
 *
 * Run by `npm run build:test` (and so by `npm test`), after `npm run build`: about a second, and
 * only files changed since their last build (or all, when this script changed) are compiled again;
 * outputs of deleted tests are removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const DIST = path.join(ROOT, 'dist');
const OUT = path.join(DIST, 'test');
/** Source directory → where its compiled JavaScript is (tsconfig.json's outDir, cli/tsconfig.json's). */
const COMPILED = { schemas: 'schemas', src: 'src', workers: 'workers', bench: 'bench', test: 'test', cli: 'cli-cjs' };

function walk(dir, keep) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, keep));
    else if (keep(e.name)) out.push(p);
  }
  return out;
}

/** Where `spec`, imported by the source file `from`, is in the compiled tree, relative to `outFile`. */
function rewrite(spec, from, outFile) {
  const target = path.resolve(path.dirname(from), spec);
  const [top, ...rest] = path.relative(ROOT, target).split(path.sep);
  const placed = top in COMPILED ? path.join(DIST, COMPILED[top], ...rest) : target;
  const rel = path.relative(path.dirname(outFile), placed).split(path.sep).join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

function write(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

const IMPORT = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.\.?\/[^'"]+)\2/g;

const sources = walk(HERE, (n) => n.endsWith('.ts') && !n.endsWith('.d.ts'));
/** An output older than its source or than this script is compiled again. */
const SELF = fs.statSync(fileURLToPath(import.meta.url)).mtimeMs;
const written = new Set();
await Promise.all(
  sources.map(async (src) => {
    const outFile = path.join(OUT, path.relative(HERE, src)).replace(/\.ts$/, '.js');
    written.add(outFile).add(`${outFile}.map`);
    // Unchanged since its last build: left as it is (a run of tap may be reading it).
    if (fs.existsSync(outFile) && fs.statSync(outFile).mtimeMs >= Math.max(fs.statSync(src).mtimeMs, SELF)) return;
    const r = await esbuild.transform(fs.readFileSync(src, 'utf8'), {
      loader: 'ts',
      format: 'esm',
      target: 'node20',
      platform: 'node',
      sourcemap: 'external',
      sourcefile: path.relative(path.dirname(outFile), src),
      sourcesContent: false,
    });
    const code = r.code.replace(IMPORT, (_, lead, q, spec) => `${lead}${q}${rewrite(spec, src, outFile)}${q}`);
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    // The map, then the module, each written beside and renamed into place: an interrupted build
    // leaves no half-written file that looks current.
    write(`${outFile}.map`, r.map);
    write(outFile, `${code}//# sourceMappingURL=${path.basename(outFile)}.map\n`);
  }),
);
// A test deleted or renamed in test/ must not keep running from an old output.
for (const f of walk(OUT, () => true)) if (!written.has(f)) fs.rmSync(f);
