import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { REPO } from '../helpers/paths.js';

/**
 * Who may import whom: every relative import of the shipped code, checked against one
 * table. Each process's code stays its own — the front (src/), the threads (workers/), the CLI,
 * the dashboard client — and what more than one of them needs lives in src/shared/, which imports
 * only schemas/. A thread is reached through its client in src/rpc/ (a `new URL(…)` of its entry,
 * not an import). The CLI and the dashboard read the reply types of schemas/http/, as types only.
 * A new crossing fails here; so does a cycle between files, and a run-time import of schemas/ from
 * the CLI or the dashboard. Within the front (src/), its layers (LAYERS below) are checked for an
 * upward arrow, its domains for a cycle, and their services for an import of HTTP.
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
 * Crossings still to be removed, listed exactly so the list can only shrink: a pair
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

/**
 * The front's layers, lowest first: a file of src/ imports files of its own layer or
 * lower ones, never a higher one (no upward arrow): the backend knows no domain (each brings its
 * reader: src/domains/readers.ts), the HTTP and WebSocket edge (what a route or socket handler
 * uses) no domain, the domains neither the MCP surface nor the front's own machinery (router,
 * listeners, auth) that mounts them. The first rule whose prefix a file starts with gives its layer.
 */
const LAYER_ORDER = ['base', 'infra', 'edge', 'domains', 'surfaces', 'front', 'root'] as const;
const LAYERS: ReadonlyArray<[layer: (typeof LAYER_ORDER)[number], prefixes: readonly string[]]> = [
  ['root', ['src/server', 'src/shutdown.ts', 'src/supervisor.ts', 'src/main.ts']],
  ['front', ['src/front/', 'src/dashboard/']],
  ['surfaces', ['src/mcp/']],
  ['domains', ['src/domains/']],
  ['edge', ['src/http/', 'src/ws/']],
  ['infra', ['src/backend/', 'src/cluster/', 'src/rpc/', 'src/bus/', 'src/metrics/']],
  // Config, errors, logging, identity, names: what every layer may use (src/shared/ and schemas/ are zones of their own, below).
  ['base', ['src/']],
];
/** Files filed lower than their folder (none now: awaitable.ts, the last, moved to src/shared/). */
const LAYER_EXCEPTIONS: Readonly<Record<string, (typeof LAYER_ORDER)[number]>> = {};

function layerOf(file: string): (typeof LAYER_ORDER)[number] | null {
  if (!file.startsWith('src/') || file.startsWith('src/shared/')) return null;
  return LAYER_EXCEPTIONS[file] ?? LAYERS.find(([, prefixes]) => prefixes.some((p) => file.startsWith(p)))?.[0] ?? null;
}

/** Every import of a layer from a higher one, as `file -> target`, sorted. */
function upwardOf(g: ReadonlyMap<string, readonly string[]>): string[] {
  const out = new Set<string>();
  for (const [file, deps] of g) {
    const from = layerOf(file);
    if (from === null) continue;
    for (const dep of deps) {
      const to = layerOf(dep);
      if (to !== null && LAYER_ORDER.indexOf(to) > LAYER_ORDER.indexOf(from)) out.add(`${file} -> ${dep}`);
    }
  }
  return [...out].sort();
}

/** The domain a file belongs to (`src/domains/<d>/…`), else null. */
const domainOf = (file: string): string | null => /^src\/domains\/([^/]+)\//.exec(file)?.[1] ?? null;

/** Which domain imports which (a domain's own files and the files of src/domains/ itself left out). */
function domainGraph(g: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const [file, deps] of g) {
    const from = domainOf(file);
    if (from === null) continue;
    for (const dep of deps) {
      const to = domainOf(dep);
      if (to !== null && to !== from) (out.get(from) ?? out.set(from, new Set()).get(from)!).add(to);
    }
  }
  return new Map([...out].map(([k, v]) => [k, [...v]]));
}

/**
 * A domain's services and readers know nothing of HTTP: only its routes.ts and its WebSocket
 * mounts (the files that import src/ws/upgrade.ts) import src/http/ or src/ws/. What a caller is
 * comes from src/identity.ts, names are checked by src/names.ts.
 */
function httpInServicesOf(g: ReadonlyMap<string, readonly string[]>): string[] {
  const out: string[] = [];
  for (const [file, deps] of g) {
    if (domainOf(file) === null || file.endsWith('/routes.ts') || deps.includes('src/ws/upgrade.ts')) continue;
    if (deps.some((d) => d.startsWith('src/http/') || d.startsWith('src/front/') || d.startsWith('src/ws/'))) out.push(file);
  }
  return out.sort();
}
/**
 * Services still reaching into src/http/, listed exactly so the list can only shrink. None since
 * The scope checks live in src/access.ts, the restore takes its upload from its route,
 * the denial recorder reads a caller and a rule's action, the transaction handler is a route.
 */
const KNOWN_HTTP_IN_SERVICES: readonly string[] = [];

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

t.test('no upward arrow between the layers of src/', async (t) => {
  t.same(upwardOf(graph), [], 'no import of a higher layer');
  t.ok([...graph.keys()].filter((f) => f.startsWith('src/') && !f.startsWith('src/shared/')).every((f) => layerOf(f) !== null), 'every file of src/ has a layer');
});

t.test('the domains import one another without a cycle', async (t) => {
  const domains = domainGraph(graph);
  t.ok(domains.size >= 5, `${domains.size} domains import another`);
  t.same(cyclesOf(domains), [], 'no cycle between domains');
});

t.test("a domain's services and readers import nothing of HTTP", async (t) => {
  const found = httpInServicesOf(graph);
  t.same(found.filter((f) => !KNOWN_HTTP_IN_SERVICES.includes(f)), [], 'only routes.ts and WebSocket mounts import src/http/ or src/ws/');
  t.same(KNOWN_HTTP_IN_SERVICES.filter((f) => !found.includes(f)), [], 'every listed exception still exists (remove it once it is gone)');
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
    ['dashboard/src/ui.ts', ['src/shared/glob.ts', 'bench/lib/format.ts']],
    ['schemas/errors.ts', []],
  ]);
  t.same(
    crossingsOf(made),
    ['cli/main.ts -> src/errors.ts', 'dashboard/src/ui.ts -> bench/lib/format.ts', 'src/server.ts -> workers/writer/db.ts', 'src/shared/glob.ts -> src/log.ts', 'workers/pool/main.ts -> src/server.ts'],
    'a thread importing the front, the front a thread, shared code the front, the CLI the server, the dashboard outside any zone',
  );
  t.same(
    ['import type { A } from "./a.js"', 'export type { B } from "./b.js"', 'import { type C } from "./c.js"', 'import d from "./d.js"', 'export { e } from "./e.js"'].map(isTypeOnly),
    [true, true, false, false, false],
    'type-only: `import type` and `export type`, not an inline `type` (which may leave an import behind)',
  );
  t.same(
    valueImportsOf(new Map([['cli/x.ts', ['schemas/http/leases.ts', 'cli/core.ts']], ['dashboard/src/y.ts', ['schemas/errors.ts']], ['src/z.ts', ['schemas/errors.ts']]])),
    ['cli/x.ts -> schemas/http/leases.ts', 'dashboard/src/y.ts -> schemas/errors.ts'],
    'a run-time import of schemas/ from the CLI or the dashboard is caught; the front may',
  );
  t.same(cyclesOf(made), [['src/shared/glob.ts', 'src/shared/limits.ts']], 'a two-file cycle');
  const layered = new Map<string, string[]>([
    ['src/backend/sqlite.ts', ['src/domains/events/service.ts', 'src/shared/awaitable.ts', 'src/config.ts']],
    ['src/ws/upgrade.ts', ['src/front/auth.ts', 'src/http/context.ts']],
    ['src/store.ts', ['src/shared/awaitable.ts']],
    ['src/domains/a/service.ts', ['src/domains/b/service.ts', 'src/http/context.ts', 'src/identity.ts']],
    ['src/domains/b/service.ts', ['src/domains/a/reader.ts']],
    ['src/domains/b/routes.ts', ['src/http/reply.ts']],
    ['src/domains/b/push.ts', ['src/ws/upgrade.ts', 'src/http/slots.ts']],
  ]);
  t.same(upwardOf(layered), ['src/backend/sqlite.ts -> src/domains/events/service.ts', 'src/ws/upgrade.ts -> src/front/auth.ts'], 'the backend importing a domain, the edge the front: upward; src/shared and the config below all');
  t.same(cyclesOf(domainGraph(layered)), [['a', 'b']], 'two domains importing each other');
  t.same(httpInServicesOf(layered), ['src/domains/a/service.ts'], 'a service importing the request context; routes and a socket mount may');
});
