import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import t from 'tap';
import { cleanEnv, MAIN_JS, runServer, spawnServer, startTestServer, tempDir } from './helpers/server.js';
import { REPO } from './helpers/paths.js';

/** Start-up and shutdown as an operator sees them: one server per port, no hangs, clean stops. */

const PKG = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };

/** Answers on fresh connections (a shared port would spread them over both processes). */
async function readsOnFreshConnections(url: string, key: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${url}/api/state/${key}`, { headers: { connection: 'close' } });
    out.push(`${r.status} ${await r.text()}`);
  }
  return out;
}

t.test('one server per port: a second server on a taken port exits 1 and the first keeps serving its data', async (t) => {
  const first = await spawnServer(['--data-dir', tempDir(t), '--dashboard-bind', '127.0.0.1:0']);
  t.teardown(() => first.child.kill('SIGKILL'));
  const port = Number(new URL(first.url).port);
  const dashPort = Number(/"dashboard":"127\.0\.0\.1:(\d+)"/.exec(first.stderr())![1]);
  t.equal((await fetch(`${first.url}/api/state/who`, { method: 'PUT', body: 'first' })).status, 200);

  const onApi = await runServer(['--bind', `127.0.0.1:${port}`, '--dashboard-bind', '', '--data-dir', tempDir(t)]);
  t.equal(onApi.code, 1, 'second server on the API port exits 1');
  t.equal(onApi.stderr, `koor-server: cannot listen on 127.0.0.1:${port} (API): address already in use or not available\n`, 'one line');

  const onDash = await runServer(['--bind', '127.0.0.1:0', '--dashboard-bind', `127.0.0.1:${dashPort}`, '--data-dir', tempDir(t)]);
  t.equal(onDash.code, 1, 'second server on the dashboard port exits 1');
  t.equal(onDash.stderr, `koor-server: cannot listen on 127.0.0.1:${dashPort} (dashboard): address already in use or not available\n`);

  // Anything else holding the port counts too.
  const other = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => other.once('listening', r));
  t.teardown(() => other.close());
  const otherPort = (other.address() as net.AddressInfo).port;
  const onOther = await runServer(['--bind', `127.0.0.1:${otherPort}`, '--dashboard-bind', '', '--data-dir', tempDir(t)]);
  t.equal(onOther.code, 1);
  t.match(onOther.stderr, /address already in use/);

  t.same(new Set(await readsOnFreshConnections(first.url, 'who', 20)), new Set(['200 first']), 'every connection reaches the first server and its data');
  t.equal(first.child.exitCode, null, 'the first server is still running');
});

t.test('one server per data directory: a second server on another port but the same data exits 1', async (t) => {
  const dir = tempDir(t);
  const first = await spawnServer(['--data-dir', dir]);
  t.teardown(() => first.child.kill('SIGKILL'));
  t.equal((await fetch(`${first.url}/api/state/k`, { method: 'PUT', body: 'one' })).status, 200);
  const second = await runServer(['--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', dir]);
  t.equal(second.code, 1);
  t.equal(second.stderr, `koor-server: data directory ${dir} is in use by another koor-server (${path.join(dir, 'koor.lock')} is locked)\n`);
  t.equal(await (await fetch(`${first.url}/api/state/k`)).text(), 'one', 'the first server is unaffected');

  // The lock dies with its process, even on kill -9: no stale lock to clean up by hand.
  const gone = new Promise((r) => first.child.once('exit', r));
  first.child.kill('SIGKILL');
  await gone;
  const after = await spawnServer(['--data-dir', dir]);
  t.teardown(() => after.child.kill('SIGKILL'));
  t.equal(await (await fetch(`${after.url}/api/state/k`)).text(), 'one', 'a new server takes over the data after a crash');

  // In-process too (one process, two servers): refused; free again after close().
  const dir2 = tempDir(t);
  const a = await startTestServer(t, { dataDir: dir2 });
  await t.rejects(startTestServer(t, { dataDir: dir2 }), { message: /is in use by another koor-server/ });
  await a.close();
  const b = await startTestServer(t, { dataDir: dir2 });
  t.equal((await fetch(`${b.url}/health`)).status, 200, 'after close() the directory is free');
});

t.test('never hang at start-up: a data dir that cannot hold a database fails in one line', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, '');
  const cases: Array<[string, string, RegExp]> = [
    ['/proc/nope', 'a path under /proc (recursive mkdir would spin forever)', /^koor-server: data directory \/proc\/nope cannot hold a database: cannot create \/proc\/nope: .+\n$/],
    [file, 'a file', new RegExp(`^koor-server: data directory ${file} cannot hold a database: ${file} is not a directory\\n$`)],
    [path.join(file, 'x', 'y'), 'a path through a file', new RegExp(`^koor-server: data directory ${file}/x/y cannot hold a database: ${file} is not a directory\\n$`)],
  ];
  for (const [dataDir, what, message] of cases) {
    const r = await runServer(['--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', dataDir], { timeoutMs: 10_000 });
    t.equal(r.code, 1, `${what}: exit 1 (not killed by the test's 10 s timer)`);
    t.match(r.stderr, message, `${what}: one clear line`);
  }

  await t.test('a read-only mount', async (t) => {
    const ro = path.join(tempDir(t), 'ro');
    fs.mkdirSync(ro);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro', 'tmpfs', ro], { stdio: 'ignore' });
    } catch {
      t.skip('cannot mount a read-only tmpfs here (needs root with mount rights)');
      return;
    }
    t.teardown(() => execFileSync('umount', [ro]));
    const r = await runServer(['--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', ro], { timeoutMs: 10_000 });
    t.equal(r.code, 1);
    t.equal(r.stderr, `koor-server: data directory ${ro} cannot hold a database: not writable: read-only file system (EROFS)\n`);
  });

  await t.test('a directory without permission (as an unprivileged user)', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to run the server as the unprivileged user "nobody"');
      return;
    }
    const locked = path.join(tempDir(t), 'locked');
    fs.mkdirSync(locked, { mode: 0o700 }); // root's, so nobody may not write it
    fs.chmodSync(path.dirname(locked), 0o755);
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      // setpriv drops to "nobody"; `env -i` gives node a bare environment (tap's spawn hooks
      // would otherwise make it write test bookkeeping as "nobody", and fail).
      const argv = ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`];
      const child = spawn('setpriv', [...argv, process.execPath, MAIN_JS, '--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', locked], {
        cwd: '/',
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    t.equal(r.code, 1);
    t.equal(r.stderr, `koor-server: data directory ${locked} cannot hold a database: not writable: permission denied (EACCES)\n`);
  });
});

t.test('--version', async (t) => {
  const r = await runServer(['--version']);
  t.same([r.code, r.stdout, r.stderr], [0, `koor-server ${PKG.version}\n`, '']);
  const bad = await runServer(['--version', '--log-level', 'nope']);
  t.equal(bad.code, 0, '--version answers without judging other settings');
});

t.test('npm start: builds only when needed, passes flags after --, and SIGTERM stops the server too', async (t) => {
  const dataDir = tempDir(t);
  // `npm test` built dist/ just now: start must find it current and write nothing.
  const outputs = ['dist/tsconfig.tsbuildinfo', 'dist/src/main.js', 'dist/cli-cjs/tsconfig.tsbuildinfo'].map((f) => path.join(REPO, f));
  const mtimes = () => outputs.map((f) => fs.statSync(f).mtimeMs);
  const before = mtimes();
  const npm = spawn('npm', ['start', '--silent', '--', '--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', dataDir], {
    cwd: REPO,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // However the test ends (a start too slow on a loaded machine included), npm and the server it
  // started do not outlive it: a timed-out run left one serving for hours.
  t.teardown(() => {
    if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGTERM');
  });
  let out = '';
  npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
  npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const listening = await new Promise<{ pid: number; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not come up: ${out}`)), 60_000);
    const check = () => {
      const m = /"pid":(\d+),[^\n]*"api":"127\.0\.0\.1:(\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ pid: Number(m[1]), port: Number(m[2]) });
      }
    };
    npm.stdout.on('data', check);
    npm.stderr.on('data', check);
    npm.once('exit', (code) => reject(new Error(`npm start exited ${code}: ${out}`)));
  });
  t.teardown(() => {
    try {
      process.kill(listening.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  t.same(mtimes(), before, 'dist/ is current: nothing was compiled or rewritten');
  t.equal((await fetch(`http://127.0.0.1:${listening.port}/health`)).status, 200, 'the flags after -- reached the server');

  const npmExit = new Promise<number | null>((r) => npm.once('exit', r));
  npm.kill('SIGTERM');
  await npmExit;
  // The server (npm's child) must be gone too: poll the process table, bounded.
  let alive = true;
  for (let i = 0; i < 100 && alive; i++) {
    try {
      process.kill(listening.pid, 0);
      await new Promise((r) => setTimeout(r, 50));
    } catch {
      alive = false;
    }
  }
  t.notOk(alive, 'the node server exited with npm');
  t.match(out, /"msg":"stopped"/, 'it shut down cleanly (SIGTERM reached it)');
  await t.rejects(fetch(`http://127.0.0.1:${listening.port}/health`), undefined, 'and the port is free');
});

t.test('tests are not polluted by the developer environment', async (t) => {
  // A settings.json with a token where tests run, and KOOR_* in the shell: neither may reach a
  // server a test starts, in-process or as a subprocess.
  const settings = path.join(process.cwd(), 'settings.json');
  if (fs.existsSync(settings)) {
    t.skip(`${settings} exists (the developer's own); not touching it`);
    return;
  }
  fs.writeFileSync(settings, JSON.stringify({ auth_token: 'from-file', bind: '127.0.0.1:1' }));
  t.teardown(() => fs.rmSync(settings, { force: true }));
  process.env.KOOR_AUTH_TOKEN = 'from-env';
  t.teardown(() => delete process.env.KOOR_AUTH_TOKEN);

  const inProcess = await startTestServer(t);
  t.equal((await fetch(`${inProcess.url}/api/state`)).status, 200, 'in-process server: open, on its own port');
  const sub = await spawnServer(['--data-dir', tempDir(t)]);
  t.teardown(() => sub.child.kill('SIGKILL'));
  t.equal((await fetch(`${sub.url}/api/state`)).status, 200, 'subprocess: neither the file nor the env token applied');
});
