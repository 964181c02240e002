import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './paths.js';
// @ts-expect-error: a plain ES module without types (the build script)
import { build, upToDate } from '../../dashboard/build.mjs';

const LOCK = path.join(REPO, 'dist', '.dashboard-build.lock');
/** A lock older than this was left by a killed run. */
const LOCK_STALE_MS = 120_000;
const LOCK_WAIT_MS = 90_000;

/**
 * The built dashboard the server under test serves: `npm test` builds it first; a single test file
 * run after editing dashboard/ gets a fresh build here (esbuild, about a second). Test files run
 * in parallel, so one builds while the others wait on a lock file (bounded), then look again.
 */
export async function ensureDashboardBuilt(): Promise<void> {
  if (upToDate()) return;
  fs.mkdirSync(path.dirname(LOCK), { recursive: true });
  const until = Date.now() + LOCK_WAIT_MS;
  let fd: number | null = null;
  while (fd === null) {
    try {
      fd = fs.openSync(LOCK, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - fs.statSync(LOCK).mtimeMs > LOCK_STALE_MS) fs.rmSync(LOCK, { force: true });
      } catch {
        // Removed by its owner meanwhile: try again.
      }
      if (Date.now() > until) throw new Error(`waited ${LOCK_WAIT_MS} ms for another test's dashboard build (${LOCK})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    if (!upToDate()) await build({ quiet: true });
  } finally {
    fs.closeSync(fd);
    fs.rmSync(LOCK, { force: true });
  }
}
