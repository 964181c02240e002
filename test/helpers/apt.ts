import fs from 'node:fs';
import { execFile } from 'node:child_process';

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: Math.max(1, timeoutMs), killSignal: 'SIGTERM', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ ok: err === null, out: `${stdout}${stderr}${err && (err as { killed?: boolean }).killed ? '\n(timed out)' : ''}` });
    });
  });
}

/**
 * A program the tests need from Debian: `find()`'s path, else `pkg` installed with apt-get when
 * this is root (update + install bounded by `budgetMs` together, waiting for a dpkg lock held by
 * another apt run up to `lockWaitS`), else why not — for a skip with the reason.
 */
export async function aptProvide(pkg: string, find: () => string | null, budgetMs: number, lockWaitS = 20): Promise<{ path: string } | { skip: string }> {
  const found = find();
  if (found) return { path: found };
  if (process.getuid?.() !== 0) return { skip: `${pkg} is not installed and this is not root (cannot apt-get install ${pkg})` };
  if (!fs.existsSync('/usr/bin/apt-get')) return { skip: `${pkg} is not installed and there is no apt-get` };
  const until = Date.now() + budgetMs;
  const lock = `DPkg::Lock::Timeout=${lockWaitS}`;
  const update = await run('apt-get', ['update', '-qq', '-o', lock], until - Date.now());
  if (!update.ok) return { skip: `apt-get update failed: ${update.out.trim().slice(-300)}` };
  const install = await run('apt-get', ['install', '-y', '-qq', '-o', lock, '--no-install-recommends', pkg], until - Date.now());
  const p = find();
  return p ? { path: p } : { skip: `apt-get install ${pkg} failed: ${install.out.trim().slice(-300)}` };
}
