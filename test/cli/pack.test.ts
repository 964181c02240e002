import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { REPO, repoPath } from '../helpers/paths.js';

/**
 * What `npm pack` puts in the package (package.json "files"): what a user runs and nothing else.
 * The runtime is found the way node finds it: from the two Node bins and the worker threads, following
 * every relative import, require, import() and worker URL of the built files, so a module a new
 * import needs and `files` lacks fails here, not on another machine after `npm install -g`; and
 * every .js packed must be reached, so `files` does not keep what nothing loads any more. No
 * network, no build: `npm pack --dry-run --ignore-scripts` lists what `npm pack` would pack.
 */

const pkg = JSON.parse(fs.readFileSync(repoPath('package.json'), 'utf8')) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
};

/** The worker threads the server starts (src/rpc/*-client.ts, workers/writer/sqlite/driver.ts). */
const WORKERS = ['dist/workers/writer/main.js', 'dist/workers/writer/sqlite/checkpointer.js', 'dist/workers/pool/main.js', 'dist/workers/delivery/main.js', 'dist/workers/backup/main.js'];

const P = path.posix;
const Q = `(['"\`])`;
/** `new URL("a", new URL("b", import.meta.url).href)`: a bundle's worker URL, `b` being the module it was written in (src/build.mjs). */
const NESTED_URL = new RegExp(`new URL\\(\\s*${Q}([^'"\`]+)\\1\\s*,\\s*new URL\\(\\s*${Q}([^'"\`]+)\\3\\s*,\\s*import\\.meta\\.url\\s*\\)\\.href\\s*\\)`, 'g');
/** `new URL("./x.js", import.meta.url)` in a module tsc wrote (in a bundle it only names the module it came from). */
const OWN_URL = new RegExp(`new URL\\(\\s*${Q}(\\.{1,2}/[^'"\`]+)\\1\\s*,\\s*import\\.meta\\.url\\s*\\)`, 'g');
const SPECIFIERS = [
  new RegExp(`^\\s*(?:import|export)\\s[^;()]*?\\bfrom\\s*${Q}([^'"\`]+)\\1`, 'gm'),
  new RegExp(`^\\s*import\\s*${Q}([^'"\`]+)\\1`, 'gm'),
  new RegExp(`\\bimport\\(\\s*${Q}([^'"\`]+)\\1\\s*\\)`, 'g'),
  new RegExp(`\\brequire\\(\\s*${Q}([^'"\`]+)\\1\\s*\\)`, 'g'),
];
const BANNER = '// bundled by src/build.mjs';

/** A package's name from a bare specifier (`@scope/name/sub.js` → `@scope/name`). */
const packageName = (spec: string): string => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');

interface Walk {
  files: Set<string>;
  /** `from -> to` for a relative target that does not exist. */
  missing: string[];
  /** Bare specifiers, by the file naming them. */
  packages: Map<string, string>;
}

/** Every file `entries` load, as paths relative to the repository (with the package.json that makes a directory CommonJS). */
function walk(entries: readonly string[]): Walk {
  const out: Walk = { files: new Set(), missing: [], packages: new Map() };
  const queue = [...entries];
  const reach = (from: string, to: string) => {
    const file = fs.existsSync(repoPath(to)) ? to : fs.existsSync(repoPath(`${to}.js`)) ? `${to}.js` : null;
    if (file === null || fs.statSync(repoPath(file)).isDirectory()) out.missing.push(`${from} -> ${to}`);
    else queue.push(file);
  };
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (out.files.has(file)) continue;
    out.files.add(file);
    if (!file.endsWith('.js')) continue;
    // The package.json node reads for the module type of this file: the nearest one above it.
    for (let dir = P.dirname(file); dir !== '.'; dir = P.dirname(dir)) {
      if (fs.existsSync(repoPath(dir, 'package.json'))) {
        out.files.add(P.join(dir, 'package.json'));
        break;
      }
    }
    let text = fs.readFileSync(repoPath(file), 'utf8');
    const bundle = text.split('\n', 3).includes(BANNER);
    const here = P.dirname(file);
    text = text.replace(NESTED_URL, (_m, _q, to: string, _q2, own: string) => {
      reach(file, P.join(P.dirname(P.join(here, own)), to));
      return '';
    });
    if (!bundle) for (const m of text.matchAll(OWN_URL)) reach(file, P.join(here, m[2]!));
    for (const re of SPECIFIERS) {
      for (const m of text.matchAll(re)) {
        const spec = m[2]!;
        if (spec.startsWith('./') || spec.startsWith('../')) reach(file, P.join(here, spec));
        else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) out.packages.set(spec, file);
      }
    }
  }
  return out;
}

async function packList(): Promise<{ files: string[]; entryCount: number; size: number; unpackedSize: number }> {
  // Not the npm settings of whoever runs the suite (npx/npm run export npm_config_*).
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_')) env[k] = v;
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, env, maxBuffer: 64 << 20 });
  const [r] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }>; entryCount: number; size: number; unpackedSize: number }>;
  return { ...r!, files: r!.files.map((f) => f.path) };
}

t.test('npm pack holds the bins, every file they and the workers load, the dashboard, and nothing else', async (t) => {
  const pack = await packList();
  const packed = new Set(pack.files);
  t.comment(`npm pack: ${pack.entryCount} files, ${pack.size} bytes packed, ${pack.unpackedSize} unpacked`);

  const allBins = Object.values(pkg.bin).map((b) => P.normalize(b));
  t.same(allBins.sort(), ['dist/cli-cjs/koor-hook', 'dist/cli-cjs/main.js', 'dist/src/main.js'], 'the three bins');
  // koor-hook is a bash script (cli/koor-hook.sh): packed, and it loads no module.
  t.ok(packed.has('dist/cli-cjs/koor-hook'), 'koor-hook is packed');
  t.match(fs.readFileSync(repoPath('dist', 'cli-cjs', 'koor-hook'), 'utf8'), /^#!\/usr\/bin\/env bash\n/, 'koor-hook is a bash script');
  const bins = allBins.filter((b) => b.endsWith('.js'));
  for (const w of WORKERS) t.ok(fs.existsSync(repoPath(w)), `${w} is built`);
  const fromBins = walk(bins);
  t.same(
    WORKERS.filter((w) => !fromBins.files.has(w)),
    [],
    'the server reaches every worker entry from its own URLs (a renamed worker shows here)',
  );
  const run = walk([...bins, ...WORKERS]);
  t.same(run.missing, [], 'every relative import resolves');
  t.ok(run.files.has('dist/cli-cjs/package.json'), "dist/cli-cjs/package.json (type: commonjs) is loaded with the CLI's modules");
  t.ok(run.files.has('package.json'), 'package.json (its version) is read at run time');
  t.same(
    [...run.files].filter((f) => !packed.has(f)).sort(),
    [],
    'every file the bins and workers load is packed',
  );

  // Bare imports: packages of "dependencies" (a devDependency is not installed with the package).
  t.comment(`packages imported: ${[...new Set([...run.packages.keys()].map(packageName))].sort().join(', ')}`);
  const undeclared = [...run.packages].filter(([spec]) => !Object.hasOwn(pkg.dependencies, packageName(spec))).map(([spec, file]) => `${file} -> ${spec}`);
  t.same(undeclared, [], 'every package the runtime imports is a dependency');

  // The dashboard's built files (src/dashboard/static.ts serves the directory as it is).
  const dashboard = fs.readdirSync(repoPath('dist', 'dashboard'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  const dashFiles = dashboard.map((e) => P.join(P.relative(REPO, e.parentPath).split(path.sep).join('/'), e.name));
  t.ok(dashFiles.includes('dist/dashboard/index.html'), 'the dashboard is built');
  t.same(
    dashFiles.filter((f) => !packed.has(f)),
    [],
    'every dashboard file is packed',
  );
  const html = fs.readFileSync(repoPath('dist', 'dashboard', 'index.html'), 'utf8');
  for (const m of html.matchAll(/(?:src|href)="\/?(assets\/[^"]+)"/g)) t.ok(packed.has(`dist/dashboard/${m[1]}`), `index.html's ${m[1]} is packed`);

  // A module of types only (cli/hooks/clients/adapter.ts) compiles to its prologue: nothing loads it, and it holds nothing to run.
  const typesOnly = (f: string) =>
    fs
      .readFileSync(repoPath(f), 'utf8')
      .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
      .replace(/"use strict";|Object\.defineProperty\(exports, "__esModule", \{ value: true \}\);|export \{\};/g, '')
      .trim() === '';
  t.same(
    pack.files.filter((f) => f.startsWith('dist/') && f.endsWith('.js') && !f.startsWith('dist/dashboard/') && !run.files.has(f) && !typesOnly(f)),
    [],
    'no .js that nothing loads (files lists what is run, not whole build directories)',
  );
  t.same(
    pack.files.filter((f) => /^(test|bench|dist\/test|dist\/bench)\//.test(f) || /\.(tsbuildinfo|map|ts)$/.test(f) || f.endsWith('.tsc.js')),
    [],
    'no tests, benchmarks, sources, source maps or build info',
  );
  t.ok(packed.has('deploy/koor.service') && packed.has('deploy/README.md'), "the systemd unit and the deploy README it links to (Documentation=) are packed");
});
