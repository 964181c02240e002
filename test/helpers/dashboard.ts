import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT = new URL('../../', import.meta.url).pathname;
export const DASHBOARD_DIST = path.join(ROOT, 'dist', 'dashboard');

function newest(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/**
 * The built dashboard the server under test serves: `npm test` builds it first; a single test file
 * run after editing dashboard/ gets a fresh build here (esbuild, well under a second).
 */
export function ensureDashboardBuilt(): void {
  const index = path.join(DASHBOARD_DIST, 'index.html');
  const sources = Math.max(newest(path.join(ROOT, 'dashboard')), fs.statSync(path.join(ROOT, 'src', 'bus', 'glob.ts')).mtimeMs);
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= sources) return;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dashboard', 'build.mjs')], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`dashboard build failed: ${r.stderr || r.error?.message}`);
}
