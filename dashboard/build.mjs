/**
 * Builds the dashboard client (dashboard/src) into dist/dashboard with esbuild: hashed,
 * minified ES modules and CSS under assets/, an index.html naming them, and a `.br` and a `.gz`
 * of every text file worth compressing, so koor-server serves them as they are (no build and no
 * compression at request time). Run by `npm run build` (a no-op when dist/dashboard is newer than
 * its sources; `--force` rebuilds); `node dashboard/build.mjs` alone works too.
 *
 * Writes into a fresh temporary directory and swaps it in at the end, so a server starting
 * meanwhile reads either the old build or the new one, never half of one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import * as esbuild from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const OUT = path.join(ROOT, 'dist', 'dashboard');
/** Below this a compressed copy saves less than its headers cost. */
const COMPRESS_MIN_BYTES = 512;
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.json', '.svg', '.txt']);

/** What the bundle is made of: the client, the server module it shares, the locked dependencies. */
const SOURCES = [path.join(HERE), path.join(ROOT, 'src', 'shared', 'glob.ts'), path.join(ROOT, 'src', 'shared', 'limits.ts'), path.join(ROOT, 'src', 'shared', 'limits-features.ts'), path.join(ROOT, 'src', 'shared', 'workspace.ts'), path.join(ROOT, 'package-lock.json')];

function newest(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = st.mtimeMs;
  for (const name of fs.readdirSync(p)) t = Math.max(t, newest(path.join(p, name)));
  return t;
}

/** The build in dist/dashboard is newer than every source: nothing to do. */
export function upToDate() {
  const index = path.join(OUT, 'index.html');
  if (!fs.existsSync(index)) return false;
  const built = fs.statSync(index).mtimeMs;
  return SOURCES.every((p) => !fs.existsSync(p) || newest(p) <= built);
}

export async function build({ quiet = false } = {}) {
  fs.mkdirSync(path.join(ROOT, 'dist'), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(ROOT, 'dist', '.dashboard-'));
  try {
    const result = await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: { app: 'dashboard/src/main.ts' },
      bundle: true,
      splitting: true,
      format: 'esm',
      minify: true,
      target: ['chrome111', 'firefox115', 'safari16.4'],
      outdir: path.join(tmp, 'assets'),
      entryNames: '[name]-[hash]',
      chunkNames: 'chunk-[hash]',
      assetNames: '[name]-[hash]',
      metafile: true,
      legalComments: 'linked',
      logLevel: 'warning',
      tsconfig: 'dashboard/tsconfig.json',
    });
    const outputs = Object.entries(result.metafile.outputs);
    const entry = outputs.find(([, o]) => o.entryPoint === 'dashboard/src/main.ts');
    if (!entry) throw new Error('esbuild produced no entry file');
    const js = path.basename(entry[0]);
    const css = entry[1].cssBundle ? path.basename(entry[1].cssBundle) : null;
    const page = fs
      .readFileSync(path.join(HERE, 'index.html'), 'utf8')
      .replace('%APP_JS%', `/assets/${js}`)
      .replace('%APP_CSS%', css ? `<link rel="stylesheet" href="/assets/${css}">` : '');
    fs.writeFileSync(path.join(tmp, 'index.html'), page);

    const sizes = [];
    for (const file of [path.join(tmp, 'index.html'), ...fs.readdirSync(path.join(tmp, 'assets')).map((f) => path.join(tmp, 'assets', f))]) {
      if (!COMPRESSIBLE.has(path.extname(file))) continue;
      const body = fs.readFileSync(file);
      const gz = zlib.gzipSync(body, { level: 9 });
      if (body.length >= COMPRESS_MIN_BYTES) {
        const br = zlib.brotliCompressSync(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length } });
        if (gz.length < body.length) fs.writeFileSync(`${file}.gz`, gz);
        if (br.length < body.length) fs.writeFileSync(`${file}.br`, br);
      }
      sizes.push({ file: path.relative(tmp, file), bytes: body.length, gzip: gz.length });
    }
    // mkdtemp made it private; the server may run as another user than the build (the Dockerfile).
    fs.chmodSync(tmp, 0o755);
    fs.rmSync(OUT, { recursive: true, force: true });
    fs.renameSync(tmp, OUT);
    if (!quiet) {
      const total = sizes.reduce((a, s) => a + s.gzip, 0);
      process.stdout.write(`dashboard: ${sizes.map((s) => `${s.file} ${(s.bytes / 1024).toFixed(1)} KiB`).join(', ')}; ${(total / 1024).toFixed(1)} KiB gzipped in all\n`);
    }
    return sizes;
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Like tsc -b, only when something changed (npm start builds first); --force rebuilds anyway.
  if (!process.argv.includes('--force') && upToDate()) process.exit(0);
  build().catch((e) => {
    process.stderr.write(`dashboard build failed: ${e?.message ?? e}\n`);
    process.exit(1);
  });
}
