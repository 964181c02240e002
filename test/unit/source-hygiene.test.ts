import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { REPO } from '../helpers/paths.js';

/**
 * What a reader of the code can count on, kept from coming back: no hand-written source file
 * past 400 lines (a file that long holds two things; split it where they meet), no doc comment
 * stacked on another (one of them describes something else, or nothing), and no `export *`
 * (an importer is told where each name comes from). Each failure lists file:line.
 */

const ROOTS = ['src', 'workers', 'schemas', 'cli', 'dashboard/src', 'bench'];
const SKIP_DIRS = new Set(['node_modules', 'dist', '.tap', 'results']);
const MAX_LINES = 400;
/** Generated, not written: the API's types (npm run docs). */
const GENERATED = new Set(['schemas/http/api.ts']);
/** The CLI's runtime, bundled as one module on purpose: a barrel of cli/core/ (see its comment). */
const BARRELS = new Set(['cli/core.ts']);

function sources(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(path.join(REPO, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) sources(rel, out);
    } else if (/\.(ts|mjs|c)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const files = ROOTS.flatMap((r) => sources(r));

t.test(`no hand-written source file is longer than ${MAX_LINES} lines`, async (t) => {
  t.ok(files.length > 300, `read ${files.length} files`);
  const long = files.filter((f) => !GENERATED.has(f)).map((f) => [f, fs.readFileSync(path.join(REPO, f), 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > MAX_LINES);
  t.same(long.map(([f, n]) => `${f}: ${n} lines`), []);
});

t.test('no doc comment is stacked on another (the product, the benchmarks)', async (t) => {
  const stacked: string[] = [];
  for (const f of files) {
    const lines = fs.readFileSync(path.join(REPO, f), 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i++) if (lines[i]!.trim().endsWith('*/') && lines[i + 1]!.trim().startsWith('/**')) stacked.push(`${f}:${i + 2}`);
  }
  t.same(stacked, []);
});

t.test('no export * outside the CLI runtime bundle', async (t) => {
  const star: string[] = [];
  for (const f of files) {
    if (BARRELS.has(f)) continue;
    fs.readFileSync(path.join(REPO, f), 'utf8')
      .split('\n')
      .forEach((l, i) => {
        if (/^export \* from /.test(l)) star.push(`${f}:${i + 1}`);
      });
  }
  t.same(star, []);
});

t.test('the checks see what they look for', async (t) => {
  const probe = ['/** one */', '/** two */', 'export * from "./x.js";'];
  t.ok(probe[0]!.trim().endsWith('*/') && probe[1]!.trim().startsWith('/**'), 'a stacked pair matches');
  t.ok(/^export \* from /.test(probe[2]!), 'export * matches');
});
