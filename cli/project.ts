/**
 * The project of a directory, as the hooks, `init`, `status` and the lease commands name it: the
 * repository the directory is in, known by its `origin` remote, so that every clone of a
 * repository has the same project whatever its folder is called and two repositories never share
 * one because their folders have the same name. `KOOR_PROJECT` overrides it; a repository without
 * an origin remote is known by its folder's name, a directory outside any repository by its own.
 *
 * Hooks run this on every call, so it costs a few file reads: the repository is found by walking
 * up to its `.git` (a directory, or a file pointing elsewhere: worktrees, submodules) and its config
 * file is read directly. Only a config whose origin may come from an included file makes it ask
 * `git` (loaded then, not before: node:child_process alone is milliseconds of start-up).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface RepoProject {
  /** The project: one path segment of [A-Za-z0-9._-], at most PROJECT_MAX_BYTES. */
  project: string;
  /** Why this one, for people: `from KOOR_PROJECT`, `from the origin remote <url>`, `folder name: no origin remote`… */
  why: string;
}

/** A derived project is at most this long (a longer one keeps its head and a hash of the whole). */
const PROJECT_MAX_BYTES = 128;

/** `s` as one path segment: characters outside [A-Za-z0-9._-] become `-`; '' for nothing usable (empty, `.` or `..`). */
export function projectSegment(s: string): string {
  let out = s.replace(/[^A-Za-z0-9._-]/gu, '-');
  if (/^\.*$/.test(out)) return '';
  if (out.length > PROJECT_MAX_BYTES) {
    // Two long names sharing their first 111 characters still differ.
    const { createHash } = require('node:crypto') as typeof import('node:crypto');
    out = `${out.slice(0, PROJECT_MAX_BYTES - 17)}-${createHash('sha256').update(out).digest('hex').slice(0, 16)}`;
  }
  return out;
}

/**
 * The project a remote URL names: its path without the host, user, port, scheme and `.git`, the
 * components lowercased and joined with `.` (`git@github.com:Acme/Shop.git`,
 * `ssh://git@github.com/acme/shop`, `https://github.com/acme/shop/` → `acme.shop`;
 * `https://gitlab.com/group/sub/repo` → `group.sub.repo`). A local path (`/srv/git/alpha.git`,
 * `file:///srv/git/alpha.git`) has no host to leave out: its last two components (`git.alpha`).
 * A relative local path is resolved against `base`. '' when the URL names no path.
 */
export function projectOfRemote(url: string, base = '/'): string {
  const u = url.trim();
  let p: string;
  let local = false;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(u);
  if (scheme !== null) {
    const rest = u.slice(scheme[0].length);
    local = scheme[1]!.toLowerCase() === 'file';
    // `file:///p` and `file://host/p`; elsewhere user@host:port before the first `/`.
    const slash = rest.indexOf('/');
    p = slash === -1 ? '' : rest.slice(slash).replace(/[?#].*$/s, '');
    try {
      p = decodeURIComponent(p);
    } catch {
      // kept as written
    }
  } else {
    // scp-like `[user@]host:path` (a colon before any slash; `[user@][v6]:path` too), else a local path.
    const bracket = /^(?:[^@/]*@)?\[[^\]/]*\]:/.exec(u);
    const colon = u.indexOf(':');
    const slash = u.indexOf('/');
    if (bracket !== null) p = u.slice(bracket[0].length);
    else if (colon > 0 && (slash === -1 || colon < slash)) p = u.slice(colon + 1);
    else {
      local = true;
      p = path.resolve(base, u);
    }
  }
  let parts = p.split(/[\\/]/).filter((c) => c !== '' && c !== '.' && c !== '..');
  if (parts.length > 0) parts[parts.length - 1] = parts.at(-1)!.replace(/\.git$/i, '');
  parts = parts.filter((c) => c !== '');
  if (local) parts = parts.slice(-2);
  return projectSegment(parts.map((c) => c.toLowerCase()).join('.'));
}

/** A repository: its work tree's root and its git directory. */
export interface Repo {
  root: string;
  gitDir: string;
}

/** The repository `dir` is in: the nearest ancestor with a `.git` directory, or a `.git` file saying `gitdir: <path>`. */
function findRepo(dir: string): Repo | null {
  let d = path.resolve(dir);
  for (;;) {
    const dotGit = path.join(d, '.git');
    const st = fs.statSync(dotGit, { throwIfNoEntry: false });
    if (st?.isDirectory()) return { root: d, gitDir: dotGit };
    if (st?.isFile()) {
      const m = /^gitdir:[ \t]*(.+?)[ \t]*$/m.exec(readText(dotGit) ?? '');
      if (m !== null) return { root: d, gitDir: path.resolve(d, m[1]!) };
    }
    const up = path.dirname(d);
    if (up === d) return null;
    d = up;
  }
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** A git config value as written after `=`: quotes removed, escapes read, a comment cut, whitespace trimmed. */
function configValue(raw: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '#' || c === ';')) break;
    else if (c === '\\' && i + 1 < raw.length) {
      const n = raw[++i]!;
      out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'b' ? '\b' : n;
    } else out += c;
  }
  return out.trim();
}

/**
 * `remote.origin.url` in a git config file's text (its first value: the URL git fetches from), and
 * whether the file includes others (where it could be instead).
 */
export function originInConfig(text: string): { url: string | null; includes: boolean } {
  let section = '';
  let includes = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    // A value continued on the next line.
    while (/(^|[^\\])(\\\\)*\\$/.test(line) && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i]!;
    const head = /^\s*\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]\s*(.*)$/.exec(line);
    if (head !== null) {
      const name = head[1]!.toLowerCase();
      // `[remote "origin"]`, or the old `[remote.origin]` (its subsection lowercased).
      section = head[2] !== undefined ? `${name}\0${head[2].replace(/\\(.)/g, '$1')}` : name.replace('.', '\0');
      if (name === 'include' || name === 'includeif') includes = true;
      line = head[3]!;
      if (line.trim() === '') continue;
    }
    const kv = /^\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:=(.*))?$/.exec(line);
    if (kv !== null && section === 'remote\0origin' && kv[1]!.toLowerCase() === 'url' && kv[2] !== undefined) {
      const url = configValue(kv[2]);
      if (url !== '') return { url, includes };
    }
  }
  return { url: null, includes };
}

/** The origin remote's URL of a repository: read from its config (the common one of a worktree), else asked of git when only git can tell. */
function originOf(repo: Repo): string | null {
  const common = readText(path.join(repo.gitDir, 'commondir'));
  const dir = common === null ? repo.gitDir : path.resolve(repo.gitDir, common.trim());
  const text = readText(path.join(dir, 'config'));
  // No config: git would find no remote either.
  const found = text === null ? { url: null, includes: false } : originInConfig(text);
  if (found.url !== null || !found.includes) return found.url;
  try {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const out = execFileSync('git', ['-C', repo.root, 'config', '--get', 'remote.origin.url'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2_000 }).trim();
    return out === '' ? null : out;
  } catch {
    return null;
  }
}

/** A remote URL fit to print: no password or token (an http(s) URL's user part goes whole: a token may be the user). */
export function shownRemote(url: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/@]*@)/.exec(url);
  if (m === null) return url;
  const user = m[2]!.slice(0, -1);
  const keep = /^ssh$|^git\+ssh$|^ssh\+git$/i.test(m[1]!.slice(0, -3)) && !user.includes(':');
  return keep ? url : m[1]! + url.slice(m[0].length);
}

/**
 * The project of `dir` and why: `KOOR_PROJECT` (of `env`) when set; else the origin remote of the
 * repository `dir` is in; else that repository's folder name; else the folder name of `dir`.
 */
export function repoProject(dir: string, env: { KOOR_PROJECT?: string | undefined } = process.env): RepoProject {
  const override = (env.KOOR_PROJECT ?? '').replace(/[\r\n]/g, '').trim();
  if (override !== '') return { project: override, why: 'from KOOR_PROJECT' };
  const repo = findRepo(dir);
  if (repo !== null) {
    const url = originOf(repo);
    const fromUrl = url === null ? '' : projectOfRemote(url, repo.root);
    if (fromUrl !== '') return { project: fromUrl, why: `from the origin remote ${shownRemote(url!)}` };
    const folder = projectSegment(path.basename(repo.root));
    if (folder !== '') return { project: folder, why: url === null ? 'folder name: no origin remote' : `folder name: the origin remote ${shownRemote(url)} names no repository` };
  }
  return { project: projectSegment(path.basename(path.resolve(dir))) || 'repo', why: repo === null ? 'folder name: not in a git repository' : 'folder name' };
}

/** The one line `init` and `status` print. */
export function projectLine(p: RepoProject): string {
  return `project: ${p.project} (${p.why})`;
}
