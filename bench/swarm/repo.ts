/**
 * The swarm's git side: one bare origin on local disk, a clone per session, and at the
 * end the audit of what reached the origin — every task's marker in each of its files exactly once.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { marker, templateFiles, type SwarmTask } from './backlog.js';

const execFileAsync = promisify(execFile);

/** Identity and settings every clone's commits carry; no global git config is read or written. */
export function gitEnv(name: string): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: name,
    GIT_AUTHOR_EMAIL: `${name}@swarm.invalid`,
    GIT_COMMITTER_NAME: name,
    GIT_COMMITTER_EMAIL: `${name}@swarm.invalid`,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
  };
}

function git(cwd: string, args: string[], env: Record<string, string> = gitEnv('harness')): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A bare origin `<dir>/<owner>/shop.git` whose main branch holds the template files plus `extra`
 * (path → content), and the harness's own clone (`<dir>/<owner>/harness`) to push later changes
 * with. Koor knows the repository by its origin remote (a local path's last two
 * components), so its clones' project is `<owner>.shop` whatever their folders are called, and
 * two origins of other owners are two projects though every clone's folder is `shop`.
 */
export function makeOrigin(dir: string, extra: Record<string, string>, owner = 'acme'): { origin: string; harness: string } {
  const home = path.join(dir, owner);
  fs.mkdirSync(home, { recursive: true });
  const origin = path.join(home, 'shop.git');
  const seed = path.join(home, 'harness');
  git(home, ['init', '-q', '--bare', '-b', 'main', origin]);
  git(home, ['init', '-q', '-b', 'main', seed]);
  for (const [file, content] of Object.entries({ ...templateFiles(), ...extra })) {
    fs.mkdirSync(path.dirname(path.join(seed, file)), { recursive: true });
    fs.writeFileSync(path.join(seed, file), content);
  }
  git(seed, ['add', '-A']);
  git(seed, ['commit', '-qm', 'seed the shop']);
  git(seed, ['remote', 'add', 'origin', origin]);
  git(seed, ['push', '-q', '-u', 'origin', 'main']);
  return { origin, harness: seed };
}

/**
 * A clone of `origin` at `<dir>/<name>/shop` (every clone's folder, of every origin, is named
 * `shop`: the folder cannot tell repositories apart, their origin remotes do), rebasing on pull,
 * with Koor's and the client's per-clone files kept out of git (a disciplined agent stages only
 * its task's files anyway).
 */
export function makeClone(origin: string, dir: string, name: string): string {
  const parent = path.join(dir, name);
  fs.mkdirSync(parent, { recursive: true });
  const root = path.join(parent, 'shop');
  git(parent, ['clone', '-q', origin, root]);
  git(root, ['config', 'pull.rebase', 'true']);
  git(root, ['config', 'rebase.autoStash', 'false']);
  fs.appendFileSync(path.join(root, '.git', 'info', 'exclude'), '\n# swarm bench: per-clone files\n/settings.json\n/.claude/\n/.mcp.json\n/.cursor/\n/AGENTS.md\n');
  return fs.realpathSync(root);
}

/**
 * The harness edits a file in its clone and pushes it (retrying on a rejected push: the agents push
 * meanwhile). Returns when the origin has it.
 */
export async function harnessPush(harness: string, file: string, edit: (text: string) => string, message: string): Promise<void> {
  const env = { ...process.env, ...gitEnv('harness') };
  const run = (args: string[]) => execFileAsync('git', args, { cwd: harness, env, timeout: 30_000 });
  for (let attempt = 0; attempt < 20; attempt++) {
    await run(['fetch', '-q', 'origin']);
    await run(['reset', '-q', '--hard', 'origin/main']);
    const p = path.join(harness, file);
    fs.writeFileSync(p, edit(fs.readFileSync(p, 'utf8')));
    await run(['commit', '-qam', message]);
    try {
      await run(['push', '-q', 'origin', 'HEAD:main']);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100 + attempt * 50));
    }
  }
  throw new Error(`harness could not push ${file} (20 rejected pushes)`);
}

export interface MarkerAudit {
  /** Tasks whose marker is in every one of their files exactly once. */
  exact: string[];
  /** Task files where the marker is missing: `T07 src/x.ts`. */
  lost: string[];
  /** Task files where it is more than once: `T07 package.json ×2`. */
  doubled: string[];
  /** Markers found in a file that is not the task's. */
  stray: string[];
  /** Merge-conflict markers left in any file of main. */
  conflictMarkersIn: string[];
  /** Commits on main (the seed excluded). */
  commits: number;
}

/**
 * What reached the origin's main branch: for each task, its marker counted in each of its files
 * (and anywhere else). Only tasks in `expectDone` must have their markers; the others must have
 * none.
 */
export function auditOrigin(origin: string, tasks: readonly SwarmTask[], expectDone: ReadonlySet<string>): MarkerAudit {
  const files = git(origin, ['ls-tree', '-r', '--name-only', 'main']).split('\n').filter((f) => f !== '');
  const text = new Map<string, string>();
  for (const f of files) text.set(f, git(origin, ['show', `main:${f}`]));
  const count = (s: string, m: string): number => {
    // A marker is followed by a non-digit: T1 must not count T10's lines.
    const re = new RegExp(`${m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?!\\d)`, 'g');
    return (s.match(re) ?? []).length;
  };
  const out: MarkerAudit = { exact: [], lost: [], doubled: [], stray: [], conflictMarkersIn: [], commits: 0 };
  for (const t of tasks) {
    const m = marker(t.key);
    let exact = true;
    for (const f of t.files) {
      const n = count(text.get(f) ?? '', m);
      const want = expectDone.has(t.key) ? 1 : 0;
      if (n === want) {
        if (want === 0) exact = false;
        continue;
      }
      exact = false;
      if (n < want) out.lost.push(`${t.key} ${f}`);
      else if (want === 1) out.doubled.push(`${t.key} ${f} x${n}`);
      else out.stray.push(`${t.key} ${f} x${n} (task not done)`);
    }
    for (const [f, s] of text) if (!t.files.includes(f) && f !== 'tasks.json' && count(s, m) > 0) out.stray.push(`${t.key} in ${f}`);
    if (exact) out.exact.push(t.key);
  }
  for (const [f, s] of text) if (/^(<<<<<<<|>>>>>>>) /m.test(s)) out.conflictMarkersIn.push(f);
  out.commits = Number(git(origin, ['rev-list', '--count', 'main']).trim()) - 1;
  return out;
}

/** The markers of several origins as one audit; with `several` teams, a file with conflict markers is named with its team's. */
export function mergeAudits(teams: ReadonlyArray<{ name: string; audit: MarkerAudit }>, several: boolean): MarkerAudit {
  const audit: MarkerAudit = { exact: [], lost: [], doubled: [], stray: [], conflictMarkersIn: [], commits: 0 };
  for (const t of teams) {
    audit.exact.push(...t.audit.exact);
    audit.lost.push(...t.audit.lost);
    audit.doubled.push(...t.audit.doubled);
    audit.stray.push(...t.audit.stray);
    audit.conflictMarkersIn.push(...t.audit.conflictMarkersIn.map((f) => (several ? `${t.name}:${f}` : f)));
    audit.commits += t.audit.commits;
  }
  return audit;
}
