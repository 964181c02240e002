/**
 * A repository's project: the origin remote, normalised so every spelling of one
 * repository agrees and two repositories never do whatever their folders are called, the folder
 * name only without a remote, KOOR_PROJECT over both. Checked on the pure functions, on real git
 * repositories (clones, worktrees) in temp dirs, and through the CLI: `init` says the project and
 * writes it into the Claude Code hooks, `status` says it, the command bridge sends it (a real
 * server records the session's project), and the lease commands send it.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import { originInConfig, projectOfRemote, projectSegment, repoProject, shownRemote } from '../../cli/project.js';
import { cleanEnv, nodeCommand, startTestServer, tempDir } from '../helpers/server.js';
import { CLI_JS, runCli, writeSettings } from './helpers.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** A repository at `dir` (created), with `remote` as its origin when given. */
function repoAt(dir: string, remote?: string): string {
  fs.mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q');
  if (remote !== undefined) git(dir, 'remote', 'add', 'origin', remote);
  return fs.realpathSync(dir);
}

t.test('remote URLs: every spelling of one repository gives one project', async (t) => {
  const same: Array<[string, string]> = [
    ['git@github.com:Acme/Shop.git', 'acme.shop'],
    ['git@github.com:acme/shop', 'acme.shop'],
    ['ssh://git@github.com/acme/shop', 'acme.shop'],
    ['ssh://git@github.com:2222/acme/shop.git', 'acme.shop'],
    ['https://github.com/acme/shop/', 'acme.shop'],
    ['https://github.com/acme/shop.git/', 'acme.shop'],
    ['https://ann:s3cret@github.com/acme/shop.git', 'acme.shop'],
    ['http://10.0.0.5:3000/Acme/Shop.git', 'acme.shop'],
    ['git://github.com/acme/shop.git', 'acme.shop'],
    ['git+ssh://git@github.com/acme/shop.git', 'acme.shop'],
    ['  https://github.com/acme/shop  ', 'acme.shop'],
    ['https://github.com/acme/shop?x=1#frag', 'acme.shop'],
    ['https://github.com/acme/my%20shop', 'acme.my-shop'],
    ['git@[::1]:acme/shop.git', 'acme.shop'],
    ['github.com:acme/shop.git', 'acme.shop'],
  ];
  for (const [url, want] of same) t.equal(projectOfRemote(url), want, url);

  // Subgroups: every component, so two subgroups' `app` never meet.
  t.equal(projectOfRemote('git@gitlab.com:group/sub/repo.git'), 'group.sub.repo');
  t.equal(projectOfRemote('https://gitlab.com/group/sub/repo'), 'group.sub.repo');
  t.not(projectOfRemote('https://gitlab.com/group/a/app'), projectOfRemote('https://gitlab.com/group/b/app'));
  t.not(projectOfRemote('git@github.com:acme/app.git'), projectOfRemote('git@github.com:other/app.git'), 'same repository name, other owner');

  // Local paths: no host to leave out, the last two components.
  t.equal(projectOfRemote('/srv/git/alpha.git'), 'git.alpha');
  t.equal(projectOfRemote('/srv/git/alpha.git/'), 'git.alpha');
  t.equal(projectOfRemote('file:///srv/git/alpha.git'), 'git.alpha');
  t.equal(projectOfRemote('file://localhost/srv/git/Alpha'), 'git.alpha');
  t.equal(projectOfRemote('../git/alpha.git', '/home/ann/work'), 'git.alpha', 'relative: from the repository');
  t.equal(projectOfRemote('/alpha.git'), 'alpha');

  // Nothing usable: '' (the folder name is used instead).
  for (const url of ['', 'https://github.com', 'https://github.com/', 'git@github.com:', '/', 'https://host/.git']) t.equal(projectOfRemote(url), '', JSON.stringify(url));

  // One path segment of [A-Za-z0-9._-], at most 128 bytes.
  t.equal(projectOfRemote('git@host:ann/café été.git'), 'ann.caf---t-');
  t.equal(projectOfRemote('git@host:~ann/$x.git'), '-ann.-x');
  const long = projectOfRemote(`git@host:${'a'.repeat(200)}/shop.git`);
  t.equal(long.length, 128);
  t.match(long, /^a{111}-[0-9a-f]{16}$/);
  t.not(long, projectOfRemote(`git@host:${'a'.repeat(200)}/shop2.git`), 'two long names still differ');
  t.equal(projectSegment('my app'), 'my-app');
  t.equal(projectSegment('..'), '');
  t.equal(projectSegment('.'), '');
  t.equal(projectSegment('App'), 'App', 'a folder name keeps its case');
});

t.test('a remote URL is printed without a password or token', async (t) => {
  t.equal(shownRemote('https://ann:s3cret@github.com/acme/shop.git'), 'https://github.com/acme/shop.git');
  t.equal(shownRemote('https://ghp_T0KEN@github.com/acme/shop.git'), 'https://github.com/acme/shop.git', 'a token as the user');
  t.equal(shownRemote('ssh://git@github.com/acme/shop'), 'ssh://git@github.com/acme/shop', "ssh's user is no secret");
  t.equal(shownRemote('ssh://git:pw@github.com/acme/shop'), 'ssh://github.com/acme/shop');
  t.equal(shownRemote('git@github.com:acme/shop.git'), 'git@github.com:acme/shop.git');
});

t.test('the origin URL in a git config file', async (t) => {
  const cfg = [
    '[core]',
    '\tbare = false',
    '[remote "upstream"]',
    '\turl = git@github.com:up/stream.git',
    '[Remote "origin"]',
    '\t# url = git@github.com:not/this.git',
    '\tURL = "git@github.com:Acme/Shop.git" ; a comment',
    '\turl = git@github.com:second/url.git',
    '\tfetch = +refs/heads/*:refs/remotes/origin/*',
  ].join('\n');
  t.same(originInConfig(cfg), { url: 'git@github.com:Acme/Shop.git', includes: false }, 'the first url of [remote "origin"], section and key case-insensitive');
  t.same(originInConfig('[remote "Origin"]\nurl = x:y/z\n'), { url: null, includes: false }, 'the remote name is case-sensitive');
  t.same(originInConfig('[remote.origin]\n\turl=https://h/a/b\n'), { url: 'https://h/a/b', includes: false }, 'the old [remote.origin] form');
  t.same(originInConfig('[remote "origin"] url = https://h/a/b\n'), { url: 'https://h/a/b', includes: false }, 'a key on the header line');
  t.same(originInConfig('[remote "origin"]\n\turl = https://h/a\\\n/b\n'), { url: 'https://h/a/b', includes: false }, 'a continued line');
  t.same(originInConfig('[include]\n\tpath = more.cfg\n'), { url: null, includes: true }, 'an include: git is asked');
});

t.test('real repositories: clones agree whatever their folders; other repositories never share a project', async (t) => {
  const tmp = fs.realpathSync(tempDir(t, 'koor-project-'));
  // A repository to clone from, with a commit.
  const upstream = repoAt(path.join(tmp, 'seed'));
  fs.writeFileSync(path.join(upstream, 'package.json'), '{}\n');
  git(upstream, 'add', '.');
  git(upstream, 'commit', '-qm', 'seed');
  git(tmp, 'clone', '-q', '--bare', upstream, path.join(tmp, 'remotes', 'Shop.git'));

  git(tmp, 'clone', '-q', path.join(tmp, 'remotes', 'Shop.git'), path.join(tmp, 'ann', 'app'));
  git(tmp, 'clone', '-q', path.join(tmp, 'remotes', 'Shop.git'), path.join(tmp, 'bob', 'app-2'));
  const ann = repoProject(path.join(tmp, 'ann', 'app'), {});
  const bob = repoProject(path.join(tmp, 'bob', 'app-2'), {});
  t.same(ann, { project: 'remotes.shop', why: `from the origin remote ${path.join(tmp, 'remotes', 'Shop.git')}` }, 'a local remote: its last two components');
  t.same(bob, ann, 'two clones of one remote in folders app and app-2: one project');
  fs.mkdirSync(path.join(tmp, 'bob', 'app-2', 'src', 'deep'), { recursive: true });
  t.same(repoProject(path.join(tmp, 'bob', 'app-2', 'src', 'deep'), {}), ann, 'from a subdirectory too');

  // The same repository through a hosting service, by ssh in one clone and https in the other.
  git(path.join(tmp, 'ann', 'app'), 'remote', 'set-url', 'origin', 'git@github.com:Acme/Shop.git');
  git(path.join(tmp, 'bob', 'app-2'), 'remote', 'set-url', 'origin', 'https://github.com/acme/shop/');
  t.same(repoProject(path.join(tmp, 'ann', 'app'), {}), { project: 'acme.shop', why: 'from the origin remote git@github.com:Acme/Shop.git' });
  t.same(repoProject(path.join(tmp, 'bob', 'app-2'), {}), { project: 'acme.shop', why: 'from the origin remote https://github.com/acme/shop/' });
  t.equal(git(path.join(tmp, 'ann', 'app'), 'config', '--get', 'remote.origin.url'), 'git@github.com:Acme/Shop.git', 'what git itself reads');

  // A worktree (.git is a file, its config is the main repository's).
  git(path.join(tmp, 'ann', 'app'), 'worktree', 'add', '-q', path.join(tmp, 'wt', 'feature'));
  t.ok(fs.statSync(path.join(tmp, 'wt', 'feature', '.git')).isFile());
  t.equal(repoProject(path.join(tmp, 'wt', 'feature'), {}).project, 'acme.shop', 'a worktree is its repository');

  // Two other repositories, both in folders named app: never the same project.
  const web = repoAt(path.join(tmp, 'x', 'app'), 'git@github.com:acme/web.git');
  const api = repoAt(path.join(tmp, 'y', 'app'), 'https://gitlab.com/acme/api');
  t.equal(repoProject(web, {}).project, 'acme.web');
  t.equal(repoProject(api, {}).project, 'acme.api');

  // No origin remote: the repository's folder; outside any repository: the directory's.
  const lone = repoAt(path.join(tmp, 'z', 'Lone Repo'));
  git(lone, 'remote', 'add', 'upstream', 'git@github.com:acme/upstream.git');
  fs.mkdirSync(path.join(lone, 'src'));
  t.same(repoProject(path.join(lone, 'src'), {}), { project: 'Lone-Repo', why: 'folder name: no origin remote' });
  const plain = path.join(tmp, 'plain', 'notes');
  fs.mkdirSync(plain, { recursive: true });
  // tmp itself is in no repository (os.tmpdir()).
  t.same(repoProject(plain, {}), { project: 'notes', why: 'folder name: not in a git repository' });

  // KOOR_PROJECT overrides all of it.
  t.same(repoProject(web, { KOOR_PROJECT: ' web \n' }), { project: 'web', why: 'from KOOR_PROJECT' });
  t.same(repoProject(web, { KOOR_PROJECT: '' }).project, 'acme.web', 'an empty one is unset');
});

t.test('init prints the project it chose and why, and writes it into the Claude Code hooks as X-Koor-Repository', async (t) => {
  const tmp = fs.realpathSync(tempDir(t, 'koor-project-'));
  const dir = repoAt(path.join(tmp, 'app'), 'git@github.com:Acme/Shop.git');
  fs.mkdirSync(path.join(dir, 'src'));
  const env = { KOOR_SERVER: 'http://10.0.0.5:9800' };
  const r = await runCli(['init', '--claude-code'], { cwd: path.join(dir, 'src'), env });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /\nproject: acme\.shop \(from the origin remote git@github\.com:Acme\/Shop\.git\)\n$/, 'the last line');
  const settings = JSON.parse(fs.readFileSync(path.join(dir, '.claude', 'settings.json'), 'utf8'));
  const http = settings.hooks.PreToolUse[0].hooks[0];
  t.same(http.headers, {
    Authorization: 'Bearer $KOOR_TOKEN',
    'X-Koor-Agent-Name': '$KOOR_AGENT_NAME',
    'X-Koor-Project': '$KOOR_PROJECT',
    'X-Koor-Repository': 'acme.shop',
    'X-Koor-Repo-Root': '$KOOR_REPO_ROOT',
  });
  t.same(http.allowedEnvVars, ['KOOR_TOKEN', 'KOOR_AGENT_NAME', 'KOOR_PROJECT', 'KOOR_REPO_ROOT'], 'a literal: no variable to allow');
  for (const ev of ['UserPromptSubmit', 'PostToolUse', 'PostToolUseFailure', 'SessionEnd']) t.equal(settings.hooks[ev][0].hooks[0].headers['X-Koor-Repository'], 'acme.shop', ev);
  t.equal(settings.hooks.Stop[0].hooks.length, 2, 'Stop: the HTTP hook and the wake-up, nothing doubled');

  // A rerun recognises its hooks: nothing changes. KOOR_PROJECT is said, and stays out of the committed file.
  const before = fs.readFileSync(path.join(dir, '.claude', 'settings.json'), 'utf8');
  const again = await runCli(['init', '--claude-code'], { cwd: dir, env: { ...env, KOOR_PROJECT: 'web' } });
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, /^unchanged \.claude\/settings\.json$/m);
  t.match(again.stdout, /\nproject: web \(from KOOR_PROJECT; the repository's own: acme\.shop, from the origin remote git@github\.com:Acme\/Shop\.git\)\n$/);
  t.equal(fs.readFileSync(path.join(dir, '.claude', 'settings.json'), 'utf8'), before, 'byte-identical');

  // Another remote later: the header follows, in place.
  git(dir, 'remote', 'set-url', 'origin', 'https://github.com/acme/store');
  const moved = await runCli(['init', '--claude-code'], { cwd: dir, env });
  t.match(moved.stdout, /^updated \.claude\/settings\.json$/m);
  const m = JSON.parse(fs.readFileSync(path.join(dir, '.claude', 'settings.json'), 'utf8'));
  t.same(m.hooks.PreToolUse.map((g: any) => g.hooks.map((h: any) => h.headers['X-Koor-Repository'])), [['acme.store']], 'replaced, not added');

  // --remove takes the hooks out, and says no project.
  const rm = await runCli(['init', '--remove', '--claude-code'], { cwd: dir, env });
  t.equal(rm.code, 0, rm.stderr);
  t.notMatch(rm.stdout, /project:/);
  t.notOk(fs.existsSync(path.join(dir, '.claude', 'settings.json')));

  // Plain init, no repository: the folder.
  const plain = path.join(tmp, 'plain', 'notes');
  fs.mkdirSync(plain, { recursive: true });
  const p = await runCli(['init'], { cwd: plain, env });
  t.equal(p.stdout, 'created .mcp.json\ncreated .cursor/mcp.json\ncreated AGENTS.md\nproject: notes (folder name: not in a git repository)\n');
});

function bridge(args: string[], input: unknown, env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(...nodeCommand(CLI_JS, args), { cwd, env: cleanEnv({ CLAUDE_PROJECT_DIR: '', ...env }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(JSON.stringify(input));
  });
}

t.test('status shows the project of the current directory; the bridge sends it, and a real server binds the session to it', async (t) => {
  const s = await startTestServer(t);
  const tmp = fs.realpathSync(tempDir(t, 'koor-project-'));
  const ann = repoAt(path.join(tmp, 'ann', 'app'), 'git@github.com:Acme/Shop.git');
  const bob = repoAt(path.join(tmp, 'bob', 'app-2'), 'https://github.com/acme/shop');
  const other = repoAt(path.join(tmp, 'carl', 'app'), 'git@github.com:acme/web.git');
  const lone = repoAt(path.join(tmp, 'dan', 'app'));

  const st = await runCli(['status'], { cwd: ann, env: { KOOR_SERVER: s.url } });
  t.equal(st.code, 0, st.stderr);
  t.match(JSON.parse(st.stdout), { status: 'ok' }, 'stdout: the health reply, as before');
  t.equal(st.stderr, 'project: acme.shop (from the origin remote git@github.com:Acme/Shop.git)\n');
  const over = await runCli(['status'], { cwd: ann, env: { KOOR_SERVER: s.url, KOOR_PROJECT: 'web' } });
  t.equal(over.stderr, 'project: web (from KOOR_PROJECT)\n');
  t.equal((await runCli(['status'], { cwd: lone, env: { KOOR_SERVER: s.url } })).stderr, 'project: app (folder name: no origin remote)\n');

  const start = (id: string, cwd: string) => ({ session_id: id, transcript_path: '/tmp/x.jsonl', cwd, hook_event_name: 'SessionStart', source: 'startup' });
  const project = async (id: string) => {
    const r = await fetch(`${s.url}/api/hooks/claude-code/sessions/${id}`);
    t.equal(r.status, 200, `session ${id} bound`);
    return ((await r.json()) as { project: string }).project;
  };
  for (const [id, dir] of [['s-ann', ann], ['s-bob', bob], ['s-other', other], ['s-lone', lone]] as const) {
    const r = await bridge(['hook', 'claude-code'], start(id, dir), { KOOR_SERVER: s.url, CLAUDE_PROJECT_DIR: dir }, dir);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stderr, '', `${id}: delivered`);
  }
  t.equal(await project('s-ann'), 'acme.shop');
  t.equal(await project('s-bob'), 'acme.shop', 'a clone in app-2: the same project');
  t.equal(await project('s-other'), 'acme.web', 'another repository in a folder named app: another project');
  t.equal(await project('s-lone'), 'app', 'no remote: the folder name');

  // Codex: from the session's directory (no CLAUDE_PROJECT_DIR); KOOR_PROJECT still overrides.
  fs.mkdirSync(path.join(bob, 'src'));
  const cx = await bridge(['hook', 'codex'], { ...start('s-codex', path.join(bob, 'src')), model: 'gpt-5' }, { KOOR_SERVER: s.url }, path.join(bob, 'src'));
  t.equal(cx.code, 0, cx.stderr);
  t.equal(await project('s-codex'), 'acme.shop');
  const named = await bridge(['hook', 'claude-code'], start('s-named', ann), { KOOR_SERVER: s.url, CLAUDE_PROJECT_DIR: ann, KOOR_PROJECT: 'web' }, ann);
  t.equal(named.code, 0, named.stderr);
  t.equal(await project('s-named'), 'web');

  // --server beats KOOR_SERVER and ./settings.json.
  writeSettings(lone, { server: 'http://127.0.0.1:9' });
  const flagged = await bridge(['hook', 'claude-code', '--server', `${s.url}/`], start('s-flag', lone), { CLAUDE_PROJECT_DIR: lone }, lone);
  t.equal(flagged.code, 0);
  t.equal(flagged.stderr, '', 'posted to the server given, not the one of settings.json');
  t.equal(await project('s-flag'), 'app');
  const envToo = await bridge(['hook', 'claude-code', '--server', s.url], start('s-flag2', lone), { KOOR_SERVER: 'http://127.0.0.1:9', CLAUDE_PROJECT_DIR: lone }, lone);
  t.equal(envToo.stderr, '', 'nor the one of KOOR_SERVER');
  t.equal(await project('s-flag2'), 'app');
});

t.test('the lease commands send the project of the current directory unless --project names one; list filters only when asked', async (t) => {
  const calls: Array<{ method: string; url: string; body: any }> = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      calls.push({ method: req.method!, url: req.url!, body: text === '' ? null : JSON.parse(text) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(req.url!.startsWith('/api/leases/check') && req.method === 'POST' ? '[]' : req.method === 'POST' ? '{}' : '[]');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const tmp = fs.realpathSync(tempDir(t, 'koor-project-'));
  const dir = repoAt(path.join(tmp, 'app-2'), 'ssh://git@github.com/acme/shop.git');
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env: { KOOR_SERVER: url, KOOR_INSTANCE: 'i-1' } });

  t.equal((await cli('lease', 'acquire', 'package.json,src/**')).code, 0);
  t.same(calls.at(-1), { method: 'POST', url: '/api/leases', body: { resources: ['package.json', 'src/**'], exclusive: true, project: 'acme.shop' } });
  await cli('lease', 'acquire', 'x', '--project', 'web');
  t.equal(calls.at(-1)!.body.project, 'web');

  await cli('lease', 'check', 'src/a.ts');
  t.equal(calls.at(-1)!.url, '/api/leases/check?path=src%2Fa.ts&project=acme.shop');
  await cli('lease', 'check', 'src/a.ts', '--project', 'web');
  t.equal(calls.at(-1)!.url, '/api/leases/check?path=src%2Fa.ts&project=web');

  await cli('lease', 'list');
  t.equal(calls.at(-1)!.url, '/api/leases', 'every project by default');
  await cli('lease', 'list', '--project', 'acme.shop');
  t.equal(calls.at(-1)!.url, '/api/leases?project=acme.shop');
  await cli('lease', 'list', '--resource', 'src/**');
  t.equal(calls.at(-1)!.url, '/api/leases?resource=src%2F**&project=acme.shop', 'a path filter: within this repository');
  await cli('lease', 'list', '--resource', 'src/**', '--project', 'web');
  t.equal(calls.at(-1)!.url, '/api/leases?resource=src%2F**&project=web');

  // The pre-commit guard checks within the repository's project.
  fs.writeFileSync(path.join(dir, 'package.json'), '{}\n');
  git(dir, 'add', 'package.json');
  const guard = await cli('lease', 'guard');
  t.equal(guard.code, 0, guard.stderr);
  t.same(calls.at(-1), { method: 'POST', url: '/api/leases/check', body: { paths: ['package.json'], project: 'acme.shop' } });
  await runCli(['lease', 'guard'], { cwd: dir, env: { KOOR_SERVER: url, KOOR_PROJECT: 'web' } });
  t.equal(calls.at(-1)!.body.project, 'web', 'KOOR_PROJECT overrides the repository');
});
