/**
 * Replaces tsc's output for the two start-up entries — the front (dist/src/main.js) and the writer
 * thread (dist/workers/writer/main.js) — with one esbuild bundle each of the compiled modules they
 * import, so a start loads two files instead of ~450 modules (tsc's stay beside them, for
 * the tests and the other threads). The packages they load at start-up (pino, prom-client) are
 * bundled too, CommonJS ones reaching Node's built-ins through `require` made by the banner; the
 * native ones (uWebSockets.js, better-sqlite3) and the ones loaded lazily (piscina, the MCP SDK,
 * postgres: cluster mode) stay imports. `import.meta.url` in a bundled
 * module is rewritten to that module's own compiled URL, so the paths it resolves (the workers,
 * the dashboard, package.json) do not change. Source maps chain to the .ts sources. Run by
 * `npm run build` after tsc and schemas/build.mjs (whose TypeBox bundle it takes in); a no-op
 * when each bundle is newer than every compiled module, this script and package-lock.json
 * (`--force` rebuilds).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const BANNER = '// bundled by src/build.mjs';
const ENTRIES = ['src/main.js', 'workers/writer/main.js'];
const EXTERNAL = ['uWebSockets.js', 'better-sqlite3', 'piscina', 'postgres', '@modelcontextprotocol/sdk', '@modelcontextprotocol/sdk/*'];
const BUNDLES = new Set(ENTRIES.map((e) => path.join(DIST, e)));

/** tsc's module for the bundle at `out`, kept as `<name>.tsc.js` so a rebuild bundles from it. */
const tscCopy = (out) => out.replace(/\.js$/, '.tsc.js');

function newestInput() {
  let newest = Math.max(...[fileURLToPath(import.meta.url), path.join(ROOT, 'package-lock.json')].map((f) => fs.statSync(f).mtimeMs));
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js') && !BUNDLES.has(p)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  for (const d of ['src', 'workers', 'schemas']) walk(path.join(DIST, d));
  return newest;
}

/** A bundle begins with the banner (after the entry's `#!` line, which esbuild keeps first). */
function isBundle(file) {
  if (!fs.existsSync(file)) return false;
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(256);
  const n = fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  return head.subarray(0, n).toString().split('\n', 2).some((line) => line === BANNER);
}

/** `import.meta.url` of each compiled module, as the URL of that module, relative to the bundle. */
function keepOwnUrl(outFile) {
  return {
    name: 'keep-own-url',
    setup(build) {
      build.onLoad({ filter: /\.js$/ }, async (args) => {
        let text = await fs.promises.readFile(args.path, 'utf8');
        if (text.includes('import.meta.url')) {
          const own = path.resolve(args.path) === path.resolve(tscCopy(outFile)) ? outFile : args.path;
          const rel = path.relative(path.dirname(outFile), own).split(path.sep).join('/');
          text = text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel.startsWith('.') ? rel : `./${rel}`)}, import.meta.url).href`);
        }
        return { contents: text, loader: 'js', resolveDir: path.dirname(args.path) };
      });
    },
  };
}

const force = process.argv.includes('--force');
// tsc writes main.js (and its map) again when the source changed: that is the new input. Every
// such copy is made before the inputs' newest time is taken and any bundle is written, so each
// bundle ends newer than every input (one entry's copy made after another's bundle made that
// bundle look stale to the next build, which then rebundled it: a start that should write nothing).
const fresh = new Set();
for (const entry of ENTRIES) {
  const out = path.join(DIST, entry);
  if (isBundle(out)) continue;
  const input = tscCopy(out);
  fs.renameSync(out, input);
  fs.renameSync(`${out}.map`, `${input}.map`);
  const text = fs.readFileSync(input, 'utf8').replace(/\/\/# sourceMappingURL=.*$/m, `//# sourceMappingURL=${path.basename(input)}.map`);
  fs.writeFileSync(input, text);
  fresh.add(entry);
}
const newest = force ? Infinity : newestInput();
for (const entry of ENTRIES) {
  const out = path.join(DIST, entry);
  const input = tscCopy(out);
  if (!fresh.has(entry) && fs.statSync(out).mtimeMs >= newest) continue;
  const result = await esbuild.build({
    entryPoints: [input],
    outfile: out,
    write: false,
    bundle: true,
    external: EXTERNAL,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    sourcesContent: false,
    banner: { js: `${BANNER}\nimport { createRequire as __koorRequire } from 'node:module';\nconst require = __koorRequire(import.meta.url);` },
    plugins: [keepOwnUrl(out)],
    logLevel: 'warning',
  });
  const byPath = new Map(result.outputFiles.map((f) => [f.path, f.contents]));
  for (const file of [`${out}.map`, out]) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, byPath.get(file));
    fs.renameSync(tmp, file);
  }
}
