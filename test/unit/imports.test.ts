import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { REPO } from '../helpers/paths.js';

/**
 * Who may import whom (issue 27): every relative import of the shipped code, checked against one
 * table. Each process's code stays its own — the front (src/), the threads (workers/), the CLI,
 * the dashboard client — and what more than one of them needs lives in src/shared/, which imports
 * only schemas/. A thread is reached through its client in src/rpc/ (a `new URL(…)` of its entry,
 * not an import). The CLI and the dashboard read the reply types of schemas/http/, as types only.
 * A new crossing fails here; so does a cycle between files, and a run-time import of schemas/ from
 * the CLI or the dashboard.
 */

/** Zone of a file: the first rule whose prefix it starts with. */
const ZONES: ReadonlyArray<[zone: string, prefix: string]> = [
  ['schemas', 'schemas/'],
  ['shared', 'src/shared/'],
  ['front', 'src/'],
  ['threads', 'workers/'],
  ['cli', 'cli/'],
  ['dashboard', 'dashboard/src/'],
];

/** What each zone may import (besides npm packages and node builtins). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  schemas: ['schemas'],
  shared: ['shared', 'schemas'],
  front: ['front', 'shared', 'schemas'],
  threads: ['threads', 'shared', 'schemas'],
  cli: ['cli', 'schemas'],
  dashboard: ['dashboard', 'shared', 'schemas'],
};

/**
 * Zones a zone may import types from only (`import type` / `export type`): the CLI and the
 * dashboard read the reply schemas' types, but loading TypeBox would cost the CLI's start-up and
 * the dashboard's bundle, and neither validates anything.
 */
const TYPES_ONLY: Readonly<Record<string, readonly string[]>> = {
  cli: ['schemas'],
  dashboard: ['schemas'],
};

/**
 * Crossings still to be removed (issue 27), listed exactly so the list can only shrink: a pair
 * here that no longer exists fails too. None today.
 */
const KNOWN: readonly string[] = [];

const ROOTS = ['schemas', 'src', 'workers', 'cli', 'dashboard/src'];
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(REPO, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (/\.(ts|tsx)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** The repository path an import of `spec` from `file` names (a .js specifier is its .ts source). */
function target(file: string, spec: string): string {
  const rel = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
  for (const candidate of [rel.replace(/\.js$/, '.ts'), rel.replace(/\.js$/, '.tsx'), rel]) if (fs.existsSync(path.join(REPO, candidate))) return candidate;
  return rel;
}

function zoneOf(file: string): string | null {
  return ZONES.find(([, prefix]) => file.startsWith(prefix))?.[0] ?? null;
}

/** An import that leaves nothing at run time: `import type {…} from` or `export type {…} from`. */
const isTypeOnly = (statement: string): boolean => /^\s*(?:import|export)\s+type\s/.test(statement);

const files = ROOTS.flatMap(sources);
const graph = new Map<string, string[]>();
/** Per file, the targets it imports at run time (not type-only). */
const valueGraph = new Map<string, string[]>();
for (const file of files) {
  const text = fs.readFileSync(path.join(REPO, file), 'utf8');
  const found = [...text.matchAll(IMPORT)].map((m) => ({ dep: target(file, (m[1] ?? m[2] ?? m[3])!), typeOnly: isTypeOnly(m[0]) }));
  graph.set(file, found.map((f) => f.dep));
  valueGraph.set(file, found.filter((f) => !f.typeOnly).map((f) => f.dep));
}

/** Every import that leaves what its file's zone may import, as `file -> target`, sorted. */
function crossingsOf(g: ReadonlyMap<string, readonly string[]>): string[] {
  const out = new Set<string>();
  for (const [file, deps] of g) {
    const from = zoneOf(file)!;
    for (const dep of deps) {
      const to = zoneOf(dep);
      if (to === null || !ALLOWED[from]!.includes(to)) out.add(`${file} -> ${dep}`);
    }
  }
  return [...out].sort();
}

/** Every run-time import of a zone that TYPES_ONLY restricts to types, as `file -> target`, sorted. */
function valueImportsOf(g: ReadonlyMap<string, readonly string[]>): string[] {
  const out = new Set<string>();
  for (const [file, deps] of g) {
    const typesOnly = TYPES_ONLY[zoneOf(file)!] ?? [];
    for (const dep of deps) if (typesOnly.includes(zoneOf(dep) ?? '')) out.add(`${file} -> ${dep}`);
  }
  return [...out].sort();
}

/** The import cycles of `g` (Tarjan's strongly connected components of more than one file). */
function cyclesOf(g: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

t.test('every import stays within what its zone may import', async (t) => {
  t.ok(files.length > 150, `${files.length} source files read`);
  const found = crossingsOf(graph);
  t.same(found.filter((c) => !KNOWN.includes(c)), [], 'no crossing outside the table');
  t.same(KNOWN.filter((c) => !found.includes(c)), [], 'every listed crossing still exists (remove it from KNOWN once it is gone)');
});

t.test('the CLI and the dashboard import schemas/ with `import type` only', async (t) => {
  t.same(valueImportsOf(valueGraph), [], 'no run-time import of schemas/ from cli/ or dashboard/src/');
});

t.test('no import cycle between files', async (t) => {
  t.same(cyclesOf(graph), [], 'no cycles');
});

t.test('the checker sees what it checks: a made-up crossing and cycle are caught', async (t) => {
  t.equal(target('src/x/y.ts', '../../workers/writer/sql.js'), 'workers/writer/sql.ts', 'a .js specifier names its .ts source');
  const sample = "import a from './a.js';\nimport type { B } from '../b.js';\nexport { c } from './c.js';\nconst d = await import('./d.js');\nimport './e.js';\nimport x from 'pkg';";
  t.same([...sample.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3]), ['./a.js', '../b.js', './c.js', './d.js', './e.js'], 'static, type-only, re-export, dynamic and bare imports are read; packages are not');
  const made = new Map<string, string[]>([
    ['workers/pool/main.ts', ['src/server.ts', 'src/shared/glob.ts', 'schemas/errors.ts']],
    ['src/shared/glob.ts', ['src/shared/limits.ts', 'src/log.ts']],
    ['src/shared/limits.ts', ['src/shared/glob.ts']],
    ['src/server.ts', ['workers/writer/db.ts', 'src/shared/glob.ts']],
    ['cli/main.ts', ['src/errors.ts']],
    ['dashboard/src/ui.ts', ['src/shared/glob.ts', 'bench/lib.ts']],
    ['schemas/errors.ts', []],
  ]);
  t.same(
    crossingsOf(made),
    ['cli/main.ts -> src/errors.ts', 'dashboard/src/ui.ts -> bench/lib.ts', 'src/server.ts -> workers/writer/db.ts', 'src/shared/glob.ts -> src/log.ts', 'workers/pool/main.ts -> src/server.ts'],
    'a thread importing the front, the front a thread, shared code the front, the CLI the server, the dashboard outside any zone',
  );
  t.same(
    ['import type { A } from "./a.js"', 'export type { B } from "./b.js"', 'import { type C } from "./c.js"', 'import d from "./d.js"', 'export { e } from "./e.js"'].map(isTypeOnly),
    [true, true, false, false, false],
    'type-only: `import type` and `export type`, not an inline `type` (which may leave an import behind)',
  );
  t.same(
    valueImportsOf(new Map([['cli/x.ts', ['schemas/http/coord.ts', 'cli/core.ts']], ['dashboard/src/y.ts', ['schemas/errors.ts']], ['src/z.ts', ['schemas/errors.ts']]])),
    ['cli/x.ts -> schemas/http/coord.ts', 'dashboard/src/y.ts -> schemas/errors.ts'],
    'a run-time import of schemas/ from the CLI or the dashboard is caught; the front may',
  );
  t.same(cyclesOf(made), [['src/shared/glob.ts', 'src/shared/limits.ts']], 'a two-file cycle');
});
