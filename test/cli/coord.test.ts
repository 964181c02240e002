import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { cleanEnv, startTestServer, tempDir } from '../helpers/server.js';
import { cliFor, runCli } from './helpers.js';

async function register(url: string, name: string, capabilities: string[] = []): Promise<{ id: string }> {
  const r = await fetch(`${url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name, capabilities }) });
  return (await r.json()) as { id: string };
}

t.test('lease acquire --wait takes the files the moment they are free, and gives up with the last refusal', async (t) => {
  const s = await startTestServer(t);
  const alice = await register(s.url, 'alice');
  const bob = await register(s.url, 'bob');
  const carol = await register(s.url, 'carol');
  const dir = tempDir(t);
  const as = (id: string) => cliFor(s.url, dir, { KOOR_INSTANCE: id });
  t.equal((await as(alice.id)('lease', 'acquire', 'package.json', '--ttl', '1s')).code, 0);
  const waited = await as(bob.id)('lease', 'acquire', 'package.json', '--wait', '20s', '--reason', 'bump');
  t.equal(waited.code, 0, waited.stderr);
  t.match(JSON.parse(waited.stdout), { holder: bob.id, resources: ['package.json'], reason: 'bump' }, 'taken once alice\'s lease ran out');
  const t0 = Date.now();
  const gaveUp = await as(carol.id)('lease', 'acquire', 'package.json', '--wait', '1200ms');
  t.equal(gaveUp.code, 1, 'still held when the time is up: exit 1');
  t.match(JSON.parse(gaveUp.stdout), { code: 409, conflicts: [{ holder: bob.id }] }, 'with the last refusal');
  t.ok(Date.now() - t0 >= 1200, 'after trying for the whole --wait');
  const leases = JSON.parse((await as(carol.id)('lease', 'list')).stdout) as Array<{ holder: string }>;
  t.same(leases.map((l) => l.holder), [bob.id], 'nothing taken by the one that gave up');
  const bad = await as(carol.id)('lease', 'acquire', 'x', '--wait', 'soon');
  t.match(bad.stderr, /--wait must be a duration such as 90s, 10m or 2h, got soon/);
  t.not(bad.code, 0);
});

t.test('lease and task commands act for the agent in KOOR_INSTANCE or --instance', async (t) => {
  const s = await startTestServer(t);
  const alice = await register(s.url, 'alice');
  const bob = await register(s.url, 'bob');
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir, { KOOR_INSTANCE: alice.id });
  const anon = cliFor(s.url, dir);

  const acq = await cli('lease', 'acquire', 'src/**, docs/a.md', '--reason', 'task 1');
  t.equal(acq.code, 0, acq.stderr);
  const lease = JSON.parse(acq.stdout);
  t.match(lease, { holder: alice.id, holder_name: 'alice', resources: ['src/**', 'docs/a.md'], exclusive: true, reason: 'task 1' });
  const refused = await cli('lease', 'acquire', 'src/x.ts', '--instance', bob.id);
  t.equal(refused.code, 1, 'a conflict exits 1');
  t.match(JSON.parse(refused.stdout), { error: 'lease conflict: src/x.ts held by alice', code: 409, conflicts: [{ id: lease.id }] });
  t.equal((await cli('lease', 'acquire', 'lib/**', '--shared', '--instance', bob.id)).code, 0, '--shared');
  const noId = await anon('lease', 'acquire', 'x');
  t.same([noId.code, JSON.parse(noId.stdout)], [1, { error: 'lease requires an agent identity', code: 400 }]);

  t.same(JSON.parse((await anon('lease', 'check', 'src/deep/x.ts')).stdout).map((l: any) => l.id), [lease.id]);
  t.same(JSON.parse((await anon('lease', 'list', '--resource', 'docs/*')).stdout).map((l: any) => l.id), [lease.id]);
  t.same(JSON.parse((await anon('lease', 'list', '--holder', bob.id)).stdout).map((l: any) => l.resources), [['lib/**']]);
  const renewed = JSON.parse((await cli('lease', 'renew', lease.id, '--ttl', '10m')).stdout);
  t.not(renewed.expires_at, '', 'renewed with a TTL');
  const wrong = await cli('lease', 'release', lease.id, '--instance', bob.id);
  t.same([wrong.code, JSON.parse(wrong.stdout).code], [1, 403]);
  t.same(JSON.parse((await cli('lease', 'release', lease.id)).stdout), { released: lease.id });

  // Tasks.
  const add = await anon('task', 'add', 'web', 'login page', '--data', '{"n": 1.50}', '--priority', '3', '--capabilities', 'ts,react');
  t.equal(add.code, 0, add.stderr);
  const t1 = JSON.parse(add.stdout);
  t.match(t1, { project: 'web', title: 'login page', priority: 3, capabilities: ['ts', 'react'], status: 'ready' });
  t.match(add.stdout, /"data":\{"n": ?1\.50\}/, 'data sent as written');
  const t2 = JSON.parse((await anon('task', 'add', 'web', 'after login', '--deps', String(t1.id), '--max-attempts', '1')).stdout);
  t.match(t2, { status: 'blocked', deps: [t1.id], max_attempts: 1 });
  const badData = await anon('task', 'add', 'web', 'x', '--data', '{bad');
  t.same([badData.code, badData.stderr.split('\n')[0]!.startsWith('error: invalid task data JSON')], [1, true]);
  const badPrio = await anon('task', 'add', 'web', 'x', '--priority', 'high');
  t.same([badPrio.code, badPrio.stderr.split('\n')[0]], [1, 'error: --priority must be a whole number, got high']);

  const none = await cli('task', 'claim', 'web');
  t.same([none.code, JSON.parse(none.stdout)], [1, { error: 'no task ready in web', code: 404 }], 'alice lacks the capabilities');
  const dev = await register(s.url, 'dev', ['ts', 'react', 'go']);
  const devCli = cliFor(s.url, dir, { KOOR_INSTANCE: dev.id });
  const claimed = JSON.parse((await devCli('task', 'claim', 'web')).stdout);
  t.match(claimed, { id: t1.id, status: 'claimed', claimed_by: dev.id });
  t.equal((await cli('task', 'done', String(t1.id))).code, 1, 'only the claimer');
  t.match(JSON.parse((await devCli('task', 'done', String(t1.id))).stdout), { status: 'done' });
  t.match(JSON.parse((await devCli('task', 'claim', 'web')).stdout), { id: t2.id });
  t.match(JSON.parse((await devCli('task', 'release', String(t2.id), '--reason', 'lunch')).stdout), { status: 'failed', reason: 'lunch' }, 'released after its last attempt (max 1): parked as failed');
  const t3 = JSON.parse((await anon('task', 'add', 'web', 'retry me')).stdout);
  await devCli('task', 'claim', 'web');
  t.match(JSON.parse((await devCli('task', 'fail', String(t3.id), '--permanent')).stdout), { status: 'failed', attempts: 1 }, '--permanent');
  t.same(JSON.parse((await anon('task', 'list', 'web', '--status', 'failed')).stdout).map((x: any) => x.id), [t2.id, t3.id]);
  t.same(JSON.parse((await anon('task', 'list', '--claimed-by', dev.id, '--limit', '1')).stdout).map((x: any) => x.id), [t1.id]);
  t.equal(JSON.parse((await anon('task', 'get', String(t1.id))).stdout).status, 'done');
  const help = await runCli(['task', '--help']);
  t.match(help.stderr, /usage: koor-cli task claim \[--instance <instance>\] <project>/);

  // A task's paths are leased by its claim; checkpoints hand the work over.
  const t4 = JSON.parse((await anon('task', 'add', 'files', 'api and manifest', '--paths', 'src/api/**, package.json')).stdout);
  t.same(t4.paths, ['src/api/**', 'package.json']);
  const c4 = JSON.parse((await devCli('task', 'claim', 'files')).stdout);
  t.match(c4, { id: t4.id, lease: { holder: dev.id, resources: ['src/api/**', 'package.json'] }, checkpoint: null });
  const cp = await devCli('task', 'checkpoint', String(t4.id), '--done', 'route', '--next', 'manifest', '--data', '{"files": 2}');
  t.equal(cp.code, 0, cp.stderr);
  t.match(JSON.parse(cp.stdout), { seq: 1, done: 'route', next: 'manifest', data: { files: 2 }, by_name: 'dev' });
  t.equal((await cli('task', 'checkpoint', String(t4.id), '--done', 'x')).code, 1, 'only the claimer checkpoints');
  t.same([(await devCli('task', 'checkpoint', String(t4.id), '--data', '{bad')).code], [1], 'bad data JSON');
  await devCli('task', 'release', String(t4.id));
  const handed = JSON.parse((await cli('task', 'claim', 'files')).stdout);
  t.match(handed, { id: t4.id, checkpoint: { seq: 1, next: 'manifest' } }, 'the next claimant gets the checkpoint');
  t.same(JSON.parse((await anon('task', 'checkpoints', String(t4.id))).stdout).map((c: any) => c.done), ['route']);
});

/**
 * Runs git in `cwd` with a clean, self-contained environment (no user or system config).
 * Asynchronous: the server under test runs in this process, and the hook calls it.
 */
function git(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stderr: string; stdout: string }> {
  const child = spawn('git', args, {
    cwd,
    env: cleanEnv({ HOME: cwd, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'agent', GIT_AUTHOR_EMAIL: 'agent@example.invalid', GIT_COMMITTER_NAME: 'agent', GIT_COMMITTER_EMAIL: 'agent@example.invalid', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    }),
  );
}

t.test('lease guard: the pre-commit hook from `init --hooks` refuses files another agent leased', async (t) => {
  const s = await startTestServer(t);
  const alice = await register(s.url, 'alice');
  const bob = await register(s.url, 'bob');
  const repo = tempDir(t);
  t.equal((await git(repo, ['init', '-q'])).status, 0);
  for (const f of ['src/a.ts', 'src/b.ts', 'docs/readme.md', 'lib/x.ts']) {
    fs.mkdirSync(path.join(repo, path.dirname(f)), { recursive: true });
    fs.writeFileSync(path.join(repo, f), 'v1\n');
  }
  t.equal((await git(repo, ['add', '-A'])).status, 0);
  t.equal((await git(repo, ['commit', '-q', '-m', 'initial'])).status, 0);

  // The hook finds the server in ./settings.json, which init --server wrote.
  const init = await runCli(['init', '--hooks', '--server', s.url], { cwd: repo });
  t.equal(init.code, 0, init.stderr);
  t.match(init.stdout, /^created \.git\/hooks\/pre-commit$/m);
  const hook = path.join(repo, '.git', 'hooks', 'pre-commit');
  t.ok(fs.statSync(hook).mode & 0o100, 'the hook is executable');
  t.match(fs.readFileSync(hook, 'utf8'), /lease guard\n$/);
  t.match(fs.readFileSync(path.join(repo, 'AGENTS.md'), 'utf8'), /claim → lease → work → done/);

  // In the repository's project (no remote: its folder name), which the guard checks within.
  const lease = async (who: { id: string }, resources: string[], exclusive = true) =>
    (await (await fetch(`${s.url}/api/leases`, { method: 'POST', headers: { 'x-koor-instance': who.id }, body: JSON.stringify({ resources, exclusive, project: path.basename(repo) }) })).json()) as { id: string };
  const held = await lease(alice, ['src/**'], true);
  await lease(alice, ['lib/**'], false);
  const commit = async (files: string[], env: Record<string, string>) => {
    for (const f of files) fs.appendFileSync(path.join(repo, f), 'more\n');
    t.equal((await git(repo, ['add', ...files])).status, 0);
    return git(repo, ['commit', '-q', '-m', `change ${files.join(' ')}`], env);
  };

  const blocked = await commit(['src/a.ts', 'docs/readme.md'], { KOOR_INSTANCE: bob.id });
  t.not(blocked.status, 0, 'bob cannot commit a file alice leased');
  t.match(blocked.stderr, /koor: src\/a\.ts is leased by alice \[lease [0-9a-f-]+: src\/\*\*\]/);
  t.notMatch(blocked.stderr, /docs\/readme\.md is leased/, 'only the leased file is named');
  const anonymous = await git(repo, ['commit', '-q', '-m', 'x']);
  t.not(anonymous.status, 0);
  t.match(anonymous.stderr, /set KOOR_INSTANCE to your instance id/, 'without an identity every exclusive lease counts, and it says how to fix that');
  t.equal((await git(repo, ['commit', '-q', '-m', 'alice commits'], { KOOR_INSTANCE: alice.id })).status, 0, "the holder's own commit goes through");

  t.equal((await commit(['docs/readme.md'], { KOOR_INSTANCE: bob.id })).status, 0, 'files nobody leased');
  t.equal((await commit(['lib/x.ts'], { KOOR_INSTANCE: bob.id })).status, 0, 'a shared lease does not block');
  fs.rmSync(path.join(repo, 'src/b.ts'));
  t.equal((await git(repo, ['add', '-A', 'src'])).status, 0);
  t.match((await git(repo, ['commit', '-q', '-m', 'delete'], { KOOR_INSTANCE: bob.id })).stderr, /src\/b\.ts is leased by alice/, 'deleting a leased file is editing it');

  await fetch(`${s.url}/api/leases/${held.id}`, { method: 'DELETE', headers: { 'x-koor-instance': alice.id } }).then((r) => r.text());
  t.equal((await git(repo, ['commit', '-q', '-m', 'now free'], { KOOR_INSTANCE: bob.id })).status, 0, 'released: free for bob');
  t.match((await git(repo, ['log', '--format=%s'])).stdout, /now free/);

  // Rerunning keeps the hook; a hook that is not Koor's is never replaced.
  t.match((await runCli(['init', '--hooks'], { cwd: repo })).stdout, /^unchanged \.git\/hooks\/pre-commit$/m);
  fs.writeFileSync(hook, '#!/bin/sh\nrun-linters\n');
  const foreign = await runCli(['init', '--hooks'], { cwd: repo });
  t.same([foreign.code, foreign.stderr], [1, "error: .git/hooks/pre-commit exists and is not Koor's; add this line to it instead: koor-cli lease guard\n"]);
  const noRepo = await runCli(['init', '--hooks'], { cwd: tempDir(t) });
  t.same([noRepo.code, noRepo.stderr], [1, 'error: --hooks: not inside a git repository (run git init first)\n']);

  // A server that does not answer does not stop commits.
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  fs.appendFileSync(path.join(repo, 'src/a.ts'), 'again\n');
  await git(repo, ['add', 'src/a.ts']);
  const down = await runCli(['lease', 'guard'], { cwd: repo, env: { KOOR_SERVER: `http://127.0.0.1:${port}` } });
  t.equal(down.code, 0);
  t.match(down.stderr, /^koor: lease guard skipped, the server did not answer/);
});

t.test('an agent command without an identity says how to give one (--instance / KOOR_INSTANCE)', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir);
  await cli('task', 'add', 'web', 'one');
  const hint = 'hint: say which agent you are: --instance <instance_id>, or export KOOR_INSTANCE=<instance_id> (`koor-cli register <name>` makes one; `koor-cli instances list` shows them)\n';
  for (const args of [['task', 'claim', 'web'], ['lease', 'acquire', 'src/**']]) {
    const r = await cli(...args);
    t.equal(r.code, 1, args.join(' '));
    t.match(JSON.parse(r.stdout), { code: 400, error: /requires an agent identity/ }, `${args.join(' ')}: the error JSON on stdout, as always`);
    t.equal(r.stderr, hint, `${args.join(' ')}: names --instance and KOOR_INSTANCE`);
  }
  const alice = await register(s.url, 'alice');
  const claimed = await cliFor(s.url, dir, { KOOR_INSTANCE: alice.id })('task', 'claim', 'web');
  t.same([claimed.code, claimed.stderr], [0, ''], 'with one: no hint');
});
