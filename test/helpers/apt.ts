import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { REPO } from './paths.js';

/** A Debian package some tests need, and how to find its program once installed. */
export interface Needed {
  pkg: string;
  find: () => string | null;
}

/** Why the setup could not provide a package (gitignored test-output/setup/<pkg>.txt). */
const NOTES = path.join(REPO, 'test-output', 'setup');

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: Math.max(1, timeoutMs), killSignal: 'SIGTERM', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ ok: err === null, out: `${stdout}${stderr}${err && (err as { killed?: boolean }).killed ? '\n(timed out)' : ''}` });
    });
  });
}

const noteFile = (pkg: string): string => path.join(NOTES, `${pkg}.txt`);

/** Writes down why `pkg` could not be had for provided() (null: it is there, the note goes). */
export function note(pkg: string, why: string | null): void {
  fs.mkdirSync(NOTES, { recursive: true });
  const file = noteFile(pkg);
  if (why === null) fs.rmSync(file, { force: true });
  else fs.writeFileSync(file, `${why}\n`);
}

/**
 * Run once before the test files (`npm run test:setup`, test/setup/install.ts): installs every
 * package of `needed` that is absent with one apt-get update and one apt-get install (each package alone if that
 * fails, so one that cannot be had costs only its own tests), when this is root (bounded by
 * `budgetMs` together, waiting up to `lockWaitS` for a dpkg lock another apt run holds). What
 * could not be had is written down for provided(), so the tests that need it skip with the
 * reason. Returns the reason per package (null: there).
 */
export async function aptInstall(needed: readonly Needed[], budgetMs: number, lockWaitS = 60): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  const missing = needed.filter((n) => n.find() === null);
  for (const n of needed) out.set(n.pkg, null);
  if (missing.length > 0) {
    const names = missing.map((n) => n.pkg);
    let why: string | null = null;
    if (process.getuid?.() !== 0) why = 'is not installed and this is not root (cannot apt-get install it)';
    else if (!fs.existsSync('/usr/bin/apt-get')) why = 'is not installed and there is no apt-get';
    else {
      const until = Date.now() + budgetMs;
      const lock = `DPkg::Lock::Timeout=${lockWaitS}`;
      const update = await run('apt-get', ['update', '-qq', '-o', lock], until - Date.now());
      if (!update.ok) why = `could not be installed: apt-get update failed: ${update.out.trim().slice(-300)}`;
      else {
        const install = (pkgs: string[]) => run('apt-get', ['install', '-y', '-qq', '-o', lock, '--no-install-recommends', ...pkgs], until - Date.now());
        const all = await install(names);
        if (!all.ok) {
          // One package that cannot be had must not cost the others: each on its own, with its reason.
          for (const n of missing) {
            if (n.find() !== null) continue;
            const one = await install([n.pkg]);
            if (!one.ok) out.set(n.pkg, `${n.pkg} could not be installed: apt-get install failed: ${one.out.trim().slice(-300)}`);
          }
        }
      }
    }
    for (const n of missing) if (n.find() === null && out.get(n.pkg) === null) out.set(n.pkg, `${n.pkg} ${why ?? 'was not found after apt-get install'}`);
  }
  for (const [pkg, why] of out) note(pkg, why);
  return out;
}

/** The program of a needed package, or why the tests that need it skip (never a silent pass). */
export function provided(n: Needed): { path: string } | { skip: string } {
  const found = n.find();
  if (found) return { path: found };
  const file = noteFile(n.pkg);
  const why = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : `${n.pkg} is not installed ("npm run test:setup" installs it with apt-get as root)`;
  return { skip: why };
}
