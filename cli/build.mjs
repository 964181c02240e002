/**
 * Compiles koor-cli into dist/cli-cjs as CommonJS (an ESM entry costs ~3 ms of start-up; see
 * cli/tsconfig.json, which only type-checks). Each file of cli/ becomes one module, compiled by
 * TypeScript with cli/tsconfig.json's options, as `tsc` emitted it before; the exception is the
 * runtime: cli/core.ts and the files of cli/core/ it re-exports become ONE module,
 * dist/cli-cjs/core.js (esbuild), so the split source costs the start path nothing (see
 * cli/core.ts). `import type` (the reply types of schemas/http/) leaves nothing behind: the CLI
 * loads only node builtins, ws and clipanion. Run by `npm run build` after tsc; a no-op when every
 * output is newer than its sources, this script, cli/tsconfig.json and package-lock.json
 * (`--force` rebuilds).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const OUT = path.join(ROOT, 'dist', 'cli-cjs');
const CORE = path.join(HERE, 'core');
const CORE_TS = path.join(HERE, 'core.ts');
const TSCONFIG = path.join(HERE, 'tsconfig.json');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return p === CORE ? [] : walk(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const outputOf = (src) => path.join(OUT, path.relative(HERE, src).replace(/\.ts$/, '.js'));
const mtime = (p) => (fs.existsSync(p) ? fs.statSync(p).mtimeMs : -Infinity);

/** Each module to write, with the sources it is made of. */
const modules = walk(HERE).map((src) => ({
  src,
  out: outputOf(src),
  inputs: src === CORE_TS ? [src, ...fs.readdirSync(CORE).map((n) => path.join(CORE, n))] : [src],
}));
const always = [fileURLToPath(import.meta.url), TSCONFIG, path.join(ROOT, 'package-lock.json')];

/** cli/tsconfig.json's compiler options, to emit with (it only type-checks itself). */
async function emitOptions(ts) {
  const read = ts.readConfigFile(TSCONFIG, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, HERE);
  return { ...parsed.options, noEmit: false, incremental: false, tsBuildInfoFile: undefined };
}

/** The runtime: cli/core.ts with every file of cli/core/ in it; the rest (node builtins) external. */
async function bundleCore(esbuild) {
  const result = await esbuild.build({
    entryPoints: [CORE_TS],
    bundle: true,
    write: false,
    outfile: outputOf(CORE_TS),
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // import('node:tls') (https only) becomes a require() when used, as tsc wrote it.
    supported: { 'dynamic-import': false },
    logLevel: 'warning',
  });
  return result.outputFiles[0].contents;
}

const stale = modules.filter((m) => process.argv.includes('--force') || [...m.inputs, ...always].some((i) => mtime(i) > mtime(m.out)));
if (stale.length > 0) {
  // Loaded only when there is something to compile: TypeScript alone takes ~0.3 s.
  const ts = (await import('typescript')).default;
  const options = await emitOptions(ts);
  for (const m of stale) {
    const code =
      m.src === CORE_TS
        ? await bundleCore(await import('esbuild'))
        : ts.transpileModule(fs.readFileSync(m.src, 'utf8'), { compilerOptions: options, fileName: m.src }).outputText;
    fs.mkdirSync(path.dirname(m.out), { recursive: true });
    // Written beside and renamed into place: a CLI starting meanwhile reads one whole file.
    const tmp = `${m.out}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, code);
    fs.renameSync(tmp, m.out);
  }
}

// Outputs whose source is gone (a deleted command) would still be loadable: remove them.
const wanted = new Set(modules.map((m) => m.out));
for (const f of fs.existsSync(OUT) ? fs.readdirSync(OUT, { recursive: true }) : []) {
  const p = path.join(OUT, f);
  if (p.endsWith('.js') && !wanted.has(p)) fs.rmSync(p);
}

// The package is "type": "module"; this directory is CommonJS.
const pkg = path.join(OUT, 'package.json');
const PKG = JSON.stringify({ type: 'commonjs' });
if (!fs.existsSync(pkg) || fs.readFileSync(pkg, 'utf8') !== PKG) fs.writeFileSync(pkg, PKG);

// koor-hook, the command hook that does not start Node (cli/koor-hook.sh), beside koor-cli.
const HOOK_SRC = path.join(HERE, 'koor-hook.sh');
const HOOK_OUT = path.join(OUT, 'koor-hook');
if (!fs.existsSync(HOOK_OUT) || fs.readFileSync(HOOK_OUT, 'utf8') !== fs.readFileSync(HOOK_SRC, 'utf8')) {
  fs.writeFileSync(`${HOOK_OUT}.${process.pid}.tmp`, fs.readFileSync(HOOK_SRC));
  fs.renameSync(`${HOOK_OUT}.${process.pid}.tmp`, HOOK_OUT);
}
fs.chmodSync(HOOK_OUT, 0o755);
