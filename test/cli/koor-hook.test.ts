/**
 * koor-hook, the command hook `init` installs for Codex, Copilot CLI, Gemini CLI and Cursor: its
 * first call, with no helper yet, is answered by `koor-cli hook` (a Node start), which starts the
 * resident helper; the calls after it are answered by that helper without starting Node, with the
 * same answers (a refused edit, the session's agent name, the repository's project); a helper that
 * is gone, an impostor on its port, and an idle helper. A real server on an ephemeral port; the
 * script as an installed package has it (a link in a bin directory first on PATH).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { HELPER_ENV, parseRequest, serveHelper } from '../../cli/hooks/helper.js';
import { koorBin, KOOR_HOOK } from '../helpers/koor-hooks.js';
import { repoPath } from '../helpers/paths.js';
import { cleanEnv, startTestServer, tempDir } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { CLI_JS, runPiped, type PipedRun } from './helpers.js';

/** A repository, a bin with koor-hook and a koor-cli that logs its calls, and the helper file koor-hook names. */
function setup(t: { teardown(fn: () => unknown): void }, idleS = 60) {
  const dir = fs.realpathSync(tempDir(t, 'koor-hook-'));
  const root = path.join(dir, 'shop');
  fs.mkdirSync(root);
  fs.mkdirSync(path.join(root, '.git'));
  fs.writeFileSync(path.join(root, '.git', 'config'), '[remote "origin"]\n\turl = git@github.com:acme/shop.git\n');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const log = path.join(dir, 'cli.log');
  const PATH = koorBin(bin, `#!/bin/sh\necho "$*" >> '${log}'\nKOOR_HOOK_IDLE_S=${idleS} exec '${process.execPath}' '${CLI_JS}' "$@"\n`);
  const runtime = path.join(dir, 'run');
  fs.mkdirSync(runtime, { mode: 0o700 });
  const file = path.join(runtime, `koor-hook-${process.getuid!()}-${path.join(bin, 'koor-hook').replace(/[^A-Za-z0-9]/g, '_')}`);
  t.teardown(() => {
    const pid = Number(fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split(' ')[3] : NaN);
    if (pid > 1) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  const cliCalls = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []);
  return { dir, root, bin, PATH, runtime, file, cliCalls };
}

type Setup = ReturnType<typeof setup>;

function hook(s: Setup, url: string, client: string, input: object, env: NodeJS.ProcessEnv = {}): Promise<PipedRun> {
  return runPiped('koor-hook', [client], JSON.stringify(input), { env: cleanEnv({ PATH: s.PATH, XDG_RUNTIME_DIR: s.runtime, KOOR_SERVER: url, ...env }), cwd: s.root });
}

const edit = (session: string, file: string, content = 'x') => ({
  session_id: session,
  cwd: '',
  hook_event_name: 'BeforeTool',
  tool_name: 'write_file',
  tool_input: { file_path: file, content },
});

t.test('the first call starts the helper through koor-cli; the next ones are answered by it, the same way', async (t) => {
  const server = await startTestServer(t);
  const s = setup(t);
  const ask = (session: string, file: string, env: NodeJS.ProcessEnv = {}, content?: string) => hook(s, server.url, 'gemini', { ...edit(session, file, content), cwd: s.root }, env);

  const first = await ask('g-1', 'src/a.ts', { KOOR_AGENT_NAME: 'ann' });
  t.equal(first.code, 0);
  t.equal(first.stdout, '{}\n', 'a free file: go on');
  t.equal(s.cliCalls().length, 1, 'koor-cli answered the first call');
  t.match(s.cliCalls()[0], new RegExp(`^hook gemini --helper ${s.file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`), 'naming the helper file to start');
  await waitUntil('the helper wrote its file', () => fs.existsSync(s.file), 10_000);
  const st = fs.statSync(s.file);
  t.equal(st.mode & 0o777, 0o600, 'the helper file is the user\'s alone');
  t.match(fs.readFileSync(s.file, 'utf8'), /^\d+ [\w-]{16,} [\w-]{16,} \d+\n$/, 'port, key, proof, pid');

  const denied = await ask('g-2', 'src/a.ts', { KOOR_AGENT_NAME: 'ben' });
  t.equal(denied.code, 0);
  t.equal(s.cliCalls().length, 1, 'the helper answered: no koor-cli');
  const reply = JSON.parse(denied.stdout) as { decision?: string; reason?: string };
  t.equal(reply.decision, 'deny', "another agent's file is refused through the helper");
  t.match(reply.reason, /src\/a\.ts is leased by agent ann/, 'naming the holder, the name the first call carried');

  // The environment of each call, not of the helper: another repository's project, another name.
  const other = path.join(s.dir, 'other');
  fs.mkdirSync(path.join(other, '.git'), { recursive: true });
  const r = await hook(s, server.url, 'gemini', { ...edit('g-3', 'src/a.ts'), cwd: other }, { KOOR_AGENT_NAME: 'cy', KOOR_PROJECT: 'acme.other' });
  t.equal(r.stdout, '{}\n', 'the same path in another project is free');
  const leases = async (project: string) => ((await (await fetch(`${server.url}/api/leases?project=${project}`)).json()) as Array<{ resources: string[] }>).map((l) => l.resources);
  t.same(await leases('acme.other'), [['src/a.ts']], 'leased in the project the call named');
  t.same(await leases('acme.shop'), [['src/a.ts']], "the first one, in the repository's own project (its origin remote)");

  // A whole file's text in the input (a Write of 1 MB) goes through too.
  const big = await ask('g-1', 'src/big.ts', { KOOR_AGENT_NAME: 'ann' }, 'y'.repeat(1 << 20));
  t.equal(big.stdout, '{}\n');
  t.equal(s.cliCalls().length, 1, 'still no koor-cli');

  // The server down: the helper fails open as koor-cli does, and says why on stderr.
  const down = await hook(s, 'http://127.0.0.1:9', 'gemini', { ...edit('g-4', 'src/b.ts'), cwd: s.root });
  t.equal(down.code, 0);
  t.equal(down.stdout, '{}\n', "Gemini's go on");
  t.match(down.stderr, /^koor: hook not delivered \(request failed: .*\); the session goes on\n$/);
  t.equal(s.cliCalls().length, 1);
});

t.test('a helper that is gone, or an impostor on its port: koor-cli answers, sends nothing to the impostor, and a new helper starts', async (t) => {
  const server = await startTestServer(t);
  const s = setup(t);
  const ask = (session: string, file: string) => hook(s, server.url, 'gemini', { ...edit(session, file), cwd: s.root }, { KOOR_TOKEN: 'secret-token' });
  await ask('g-1', 'src/a.ts');
  await waitUntil('the helper wrote its file', () => fs.existsSync(s.file), 10_000);
  const [, key, proof, pid] = fs.readFileSync(s.file, 'utf8').trim().split(' ');
  process.kill(Number(pid), 'SIGKILL');
  await waitUntil('the helper is gone', () => {
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch {
      return true;
    }
  }, 10_000);

  // Someone else listens on a port the file names (as if they took the dead helper's).
  const got: Buffer[] = [];
  const impostor = net.createServer((c) => {
    c.on('data', (d: Buffer) => {
      got.push(d);
      c.write('not-the-proof\n');
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
  t.teardown(() => impostor.close());
  const port = (impostor.address() as net.AddressInfo).port;
  fs.writeFileSync(s.file, `${port} ${key} ${proof} ${pid}\n`, { mode: 0o600 });

  const r = await ask('g-2', 'src/a.ts');
  t.equal(r.code, 0);
  t.equal(JSON.parse(r.stdout).decision, 'deny', 'answered all the same (by koor-cli)');
  t.equal(s.cliCalls().length, 2, 'koor-cli answered it');
  t.equal(Buffer.concat(got).toString(), `KOOR-HOOK 1 ${key}\n`, 'the impostor got the key line and nothing else: no environment, no token, no input');
  await waitUntil('a new helper took the file over', () => fs.readFileSync(s.file, 'utf8').split(' ')[0] !== String(port), 10_000);
  const again = await ask('g-3', 'src/c.ts');
  t.equal(again.stdout, '{}\n');
  t.equal(s.cliCalls().length, 2, 'and answers the next call');

  // A file of another user's is not read at all (only root can make one here: skip otherwise).
  if (process.getuid!() === 0) {
    fs.chownSync(s.file, 65534, 65534);
    const r2 = await ask('g-4', 'src/d.ts');
    t.equal(r2.stdout, '{}\n');
    t.equal(s.cliCalls().length, 3, "a helper file owned by someone else: koor-cli");
  }
});

t.test('an idle helper leaves and takes its file with it', async (t) => {
  const server = await startTestServer(t);
  const s = setup(t, 1);
  await hook(s, server.url, 'gemini', { ...edit('g-1', 'src/a.ts'), cwd: s.root });
  await waitUntil('the helper wrote its file', () => fs.existsSync(s.file), 10_000);
  await waitUntil('gone after 1 s without a call', () => !fs.existsSync(s.file), 15_000);
  t.pass();
});

t.test('the script passes on exactly the environment the helper reads', async (t) => {
  const script = fs.readFileSync(repoPath('cli', 'koor-hook.sh'), 'utf8');
  const m = /for name in ([^;]+);/.exec(script);
  t.ok(m, 'the loop over the names');
  t.same(m![1]!.replace(/\\\n/g, ' ').trim().split(/\s+/), [...HELPER_ENV]);
  t.equal(fs.readFileSync(KOOR_HOOK, 'utf8'), script, 'the built koor-hook is the script');
  t.ok((fs.statSync(KOOR_HOOK).mode & 0o111) !== 0, 'executable');
});

t.test('the helper: a request parsed; a wrong key, a malformed request and new code on disk refused', async (t) => {
  t.same(parseRequest(Buffer.from('gemini\x1fPWD=/r\x1fKOOR_TOKEN=a=b\x1fEVIL=1\x1f\x1f{"x":1}\0')), { client: 'gemini', env: { PWD: '/r', KOOR_TOKEN: 'a=b' }, input: '{"x":1}' }, 'names the helper does not read are dropped');
  t.equal(parseRequest(Buffer.from('gemini\x1fPWD=/r\x1f\x1f{"x"')), null, 'not all there yet');
  t.throws(() => parseRequest(Buffer.from('gemini\x1fPWD\x1f\x1f{}\0')), /malformed/);

  const dir = tempDir(t, 'koor-hook-helper-');
  const file = path.join(dir, 'helper');
  const code = path.join(dir, 'code.js');
  fs.writeFileSync(code, '');
  const done = serveHelper(file, { KOOR_HOOK_IDLE_S: '30' }, code);
  await waitUntil('listening', () => fs.existsSync(file), 5_000);
  const [port, key, proof] = fs.readFileSync(file, 'utf8').trim().split(' ');
  const talk = (parts: string[]) =>
    new Promise<string>((resolve) => {
      const c = net.connect(Number(port), '127.0.0.1');
      let out = '';
      c.on('data', (d: Buffer) => {
        out += d.toString();
        if (out === `${proof}\n` && parts.length > 0) c.write(parts.shift()!);
      });
      c.on('close', () => resolve(out));
      c.write(parts.shift()!);
    });
  t.equal(await talk([`KOOR-HOOK 1 ${crypto.randomBytes(18).toString('base64url')}\n`]), 'NO key\n', 'a wrong key: no proof');
  t.equal(await talk([`KOOR-HOOK 1 ${key}\n`, 'nobody\x1fPWD=/\x1f\x1f{}\0']), `${proof}\nNO unknown client nobody\n`);
  t.equal(await talk([`KOOR-HOOK 1 ${key}\n`, 'gemini\x1fPWD\x1f\x1f{}\0']), `${proof}\nNO malformed request\n`);
  // An upgrade rewrote the code: the helper says so and leaves (koor-cli answers and starts the new one).
  fs.utimesSync(code, new Date(), new Date(Date.now() + 5_000));
  t.equal(await talk([`KOOR-HOOK 1 ${key}\n`, 'gemini\x1fPWD=/\x1f\x1f{}\0']), `${proof}\nNO stale\n`);
  await done;
  t.notOk(fs.existsSync(file), 'its file went with it');
});
