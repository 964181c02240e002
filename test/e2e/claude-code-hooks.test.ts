/**
 * Koor's Claude Code hooks end to end, with the real client (pinned, offline against the
 * scripted fake Messages API; test/helpers/claude-code.ts) and a real Koor server, the hooks as
 * `koor-cli init --claude-code` writes them (the installer run in each clone, `koor-cli` on the client's PATH): two sessions in two clones of one repository — A's
 * edit leases the file, B's edit of it is refused naming A and the file stays as it was, A's
 * session end frees it and B's next edit succeeds; a message to B reaches B's next request to
 * the model and no other session's; a quiet session's requests carry no Koor text at all.
 * Skips with the reason when the client could not be installed (`npm run test:setup`).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { claudeCode, claudeTempDir, requestText, runClaude, startFakeApi, toolResults, type ApiRequest, type FakeApi } from '../helpers/claude-code.js';
import { installHooks } from '../helpers/koor-hooks.js';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/** One run of the client; far above the ~1 s it takes. */
const RUN_MS = 60_000;

/** Where the `koor-cli` shim of every session lives (on the client's PATH). */
let BIN = '';
let PATH = '';

/**
 * A clone of the repository `shop` (origin `git@github.com:acme/shop.git`, or `remote`) at
 * `<dir>/<folder>` (default `shop`), its hooks installed for the server at `url` by `koor-cli init
 * --claude-code`: its project is the origin remote's, whatever the folder is called.
 */
function clone(dir: string, url: string, o: { folder?: string; remote?: string } = {}): string {
  const root = path.join(fs.realpathSync(dir), o.folder ?? 'shop');
  fs.mkdirSync(path.join(root, 'src'), { recursive: true });
  execFileSync('git', ['init', '-q', root]);
  execFileSync('git', ['-C', root, 'remote', 'add', 'origin', o.remote ?? 'git@github.com:acme/shop.git']);
  fs.writeFileSync(path.join(root, 'src', 'app.ts'), 'export const app = 1;\n');
  PATH = installHooks(root, url, BIN).PATH;
  return root;
}

/** The pid of the session's background wake-up (the file `koor-wait-<session>.pid` it keeps), or null. */
function waiterPid(sessionId: string): number | null {
  for (const dir of new Set([os.tmpdir(), '/tmp'])) {
    try {
      const pid = Number(fs.readFileSync(path.join(dir, `koor-wait-${sessionId}.pid`), 'utf8'));
      if (Number.isInteger(pid) && pid > 1) return pid;
    } catch {
      // not there
    }
  }
  return null;
}

/**
 * Ends the session's background wake-up (`koor-cli wait --hook`, found by the pid file it keeps per
 * session) as its own timeout would, without waking anyone: a headless stream-json client whose
 * stdin closed waits up to 30 s for a pending asyncRewake hook before SessionEnd
 * (CLAUDE-CODE-FACTS.md), and these tests need the session's end, not that wait.
 */
function endWaiter(sessionId: string): void {
  const pid = waiterPid(sessionId);
  if (pid !== null) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

/** Every text the model was sent in this session's requests. */
const sent = (api: FakeApi): string => api.agentRequests().map(requestText).join('\n');

const cc = claudeCode();
if ('skip' in cc) t.plan(0, cc.skip);
else {
  BIN = claudeTempDir(t, 'koor-cc-bin-');
  t.test('two clones: an edit leased by A is refused for B before it happens, and free again when A ends; another repository of that name and layout is never refused', async (t) => {
    const s = await startTestServer(t);
    const a = clone(claudeTempDir(t), s.url);
    // One repository's clones share a project whatever their folders are called.
    const b = clone(claudeTempDir(t), s.url, { folder: 'shop-2' });
    const target = 'src/app.ts';

    // A: a session kept open (stream-json input held) until endA, whose first turn writes the file.
    let endA: () => void = () => {};
    const closeA = new Promise<void>((r) => (endA = r));
    const apiA = await startFakeApi(t, [{ tool: 'Write', input: { file_path: path.join(a, target), content: 'export const app = "A";\n' } }, 'A wrote it.']);
    const sessionA = randomUUID();
    const runA = runClaude({
      cwd: a,
      sessionId: sessionA,
      api: apiA,
      env: { PATH, KOOR_AGENT_NAME: 'agent-a' },
      inputFormat: 'stream-json',
      outputFormat: 'stream-json',
      input: [{ type: 'user', message: { role: 'user', content: 'Update src/app.ts' } }],
      holdStdinMs: RUN_MS,
      closeStdin: closeA,
      timeoutMs: RUN_MS * 2,
    });
    await waitUntil('A wrote src/app.ts', () => fs.readFileSync(path.join(a, target), 'utf8') === 'export const app = "A";\n', 30_000);
    const held = (await (await fetch(`${s.url}/api/leases`)).json()) as Array<{ holder_name: string; resources: string[] }>;
    t.match(held, [{ holder_name: 'agent-a', resources: [target] }], "A's first edit leased the file to A (repository-relative)");

    // B, in the other clone, edits the same file while A lives: refused, the file unchanged.
    const apiB = await startFakeApi(t, [{ tool: 'Write', input: { file_path: path.join(b, target), content: 'export const app = "B";\n' } }, 'I will wait.']);
    const rB = await runClaude({ cwd: b, prompt: 'Update src/app.ts', api: apiB, env: { PATH, KOOR_AGENT_NAME: 'agent-b' }, timeoutMs: RUN_MS });
    t.equal(rB.code, 0, rB.stderr);
    t.equal(fs.readFileSync(path.join(b, target), 'utf8'), 'export const app = 1;\n', "B's file is unchanged");
    const [denial] = toolResults(apiB.agentRequests()[1]!);
    t.match(denial, { is_error: true, text: /^PreToolUse:Write hook error: Koor: src\/app\.ts is leased by agent agent-a since .*koor-cli send agent-a/ }, 'the model reads who holds it and how to reach them');
    t.match(rB.json?.permission_denials, [{ tool_name: 'Write' }]);

    // C, in another repository also cloned into a folder named shop, with the same file: never refused by A's lease.
    const c = clone(claudeTempDir(t), s.url, { remote: 'https://github.com/other/shop' });
    const apiC = await startFakeApi(t, [{ tool: 'Write', input: { file_path: path.join(c, target), content: 'export const app = "C";\n' } }, 'Done.']);
    const rC = await runClaude({ cwd: c, prompt: 'Update src/app.ts', api: apiC, env: { PATH, KOOR_AGENT_NAME: 'agent-c' }, timeoutMs: RUN_MS });
    t.equal(rC.code, 0, rC.stderr);
    t.equal(fs.readFileSync(path.join(c, target), 'utf8'), 'export const app = "C";\n', "another repository's src/app.ts: written while A holds its own");
    const taken = ((await (await fetch(`${s.url}/api/events/history?topic=lease.acquired`)).json()) as Array<{ data: { holder_name: string; project: string } }>).map((e) => [e.data.holder_name, e.data.project]).sort();
    t.same(taken, [['agent-a', 'acme.shop'], ['agent-c', 'other.shop']], 'each lease in its repository');
    t.notOk(JSON.stringify(apiC.agentRequests()).includes('agent-a'), "nothing C's model read names the other repository's agent");

    // A's session ends (stdin closes): its lease goes, B's next edit succeeds.
    const ended = await Promise.race([runA.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]);
    t.notOk(ended, 'A was alive while B was refused');
    await waitUntil("A's wake-up waits in the background", () => waiterPid(sessionA) !== null, 10_000).catch(() => {});
    endA();
    endWaiter(sessionA);
    const rA = await runA;
    t.equal(rA.code, 0, rA.stderr);
    const leasesAfter = (await (await fetch(`${s.url}/api/leases?project=acme.shop`)).json()) as unknown[];
    t.same(leasesAfter, [], "A's session end released its lease");
    const apiB2 = await startFakeApi(t, [{ tool: 'Write', input: { file_path: path.join(b, target), content: 'export const app = "B";\n' } }, 'Done.']);
    const rB2 = await runClaude({ cwd: b, prompt: 'Update src/app.ts again', api: apiB2, env: { PATH, KOOR_AGENT_NAME: 'agent-b' }, timeoutMs: RUN_MS });
    t.equal(rB2.code, 0, rB2.stderr);
    t.equal(fs.readFileSync(path.join(b, target), 'utf8'), 'export const app = "B";\n', 'now B writes it');
  });

  t.test('pull first: after its git pull, another agent took the file and let it go; the edit is refused once, the model pulls and edits', async (t) => {
    const s = await startTestServer(t);
    const a = clone(claudeTempDir(t), s.url);
    const target = path.join(a, 'src', 'app.ts');
    const pull = 'git pull --rebase -q 2>/dev/null; true';
    const api = await startFakeApi(t, async (_req: ApiRequest, turn: number) => {
      if (turn === 0) return { tool: 'Bash', input: { command: pull, description: 'Sync with the team' } };
      if (turn === 1) {
        // Meanwhile another agent leases the file (its change pushed) and lets it go.
        // In agent-a's project (its workspace, as its hook session bound it).
        const project = ((await (await fetch(`${s.url}/api/instances`)).json()) as Array<{ name: string; workspace: string }>).find((i) => i.name === 'agent-a')!.workspace;
        const other = (await (await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name: 'agent-b', workspace: project }) })).json()) as { id: string };
        const lease = (await (await fetch(`${s.url}/api/leases`, { method: 'POST', headers: { 'x-koor-instance': other.id }, body: JSON.stringify({ resources: ['src/app.ts'] }) })).json()) as { id: string };
        await fetch(`${s.url}/api/leases/${lease.id}`, { method: 'DELETE', headers: { 'x-koor-instance': other.id } });
        return { tool: 'Write', input: { file_path: target, content: 'export const app = "A";\n' } };
      }
      if (turn === 2) return { tool: 'Bash', input: { command: pull, description: 'Pull first, as Koor asks' } };
      if (turn === 3) return { tool: 'Write', input: { file_path: target, content: 'export const app = "A";\n' } };
      return 'Done.';
    });
    const r = await runClaude({ cwd: a, prompt: 'Update src/app.ts', api, env: { PATH, KOOR_AGENT_NAME: 'agent-a' }, settings: { permissions: { allow: ['Bash'] } }, timeoutMs: RUN_MS });
    t.equal(r.code, 0, r.stderr);
    const reqs = api.agentRequests();
    t.ok(reqs.length >= 5, `five requests (${reqs.length})`);
    const refused = toolResults(reqs[2]!).at(-1);
    t.match(
      refused,
      { is_error: true, text: /^PreToolUse:Write hook error: Koor: src\/app\.ts may have changed since your last git pull: agent-b held it and let it go since\. Pull first \(git pull --rebase\), then make this edit again, or your push may conflict\./ },
      'the real client refused the edit and the model reads why',
    );
    t.notMatch(toolResults(reqs[4]!).at(-1)?.text ?? '', /Koor:/, 'after the pull the same edit goes through');
    t.equal(fs.readFileSync(target, 'utf8'), 'export const app = "A";\n', 'written once pulled');
    const m = await (await fetch(`${s.url}/metrics`)).text();
    t.match(m, /koor_hook_pull_first_total 1\b/);
  });

  t.test('a message to B reaches B’s next request to the model, and no other session’s; a quiet session sees no Koor text', async (t) => {
    const s = await startTestServer(t);
    const b = clone(claudeTempDir(t), s.url);
    const c = clone(claudeTempDir(t), s.url);
    const body = 'the users contract changed, please regenerate the client';
    let sentMessage: Promise<unknown> | null = null;
    const apiB = await startFakeApi(t, async (_req: ApiRequest, turn: number) => {
      if (turn === 0) {
        // The message arrives while B is at work: B's next request carries it.
        sentMessage = fetch(`${s.url}/api/messages`, { method: 'POST', body: JSON.stringify({ to: ['agent-b'], subject: 'users contract', body }) });
        await sentMessage;
        return { tool: 'Write', input: { file_path: path.join(b, 'src', 'client.ts'), content: 'export {};\n' } };
      }
      return 'Regenerating.';
    });
    const apiC = await startFakeApi(t, [{ tool: 'Write', input: { file_path: path.join(c, 'src', 'other.ts'), content: 'export {};\n' } }, 'Done.']);
    const [rB, rC] = await Promise.all([
      runClaude({ cwd: b, prompt: 'Work on the client', api: apiB, env: { PATH, KOOR_AGENT_NAME: 'agent-b' }, timeoutMs: RUN_MS }),
      runClaude({ cwd: c, prompt: 'Work on other things', api: apiC, env: { PATH, KOOR_AGENT_NAME: 'agent-c' }, timeoutMs: RUN_MS }),
    ]);
    t.equal(rB.code, 0, rB.stderr);
    t.equal(rC.code, 0, rC.stderr);
    t.ok(sentMessage, 'the message was sent during B’s session');
    const requests = apiB.agentRequests();
    t.notMatch(requestText(requests[0]!), /users contract/, 'not before it was sent');
    t.match(requestText(requests[1]!), /PostToolUse:Write hook additional context: Koor:\n- 1 new message: human: "users contract" \(#\d+\)\. Read: koor-cli inbox/);
    t.notMatch(sent(apiC), /users contract/, 'no other session sees it');

    // A session alone, with nothing going on: not one Koor word reaches its model.
    const quietServer = await startTestServer(t);
    const q = clone(claudeTempDir(t), quietServer.url);
    const apiQ = await startFakeApi(t, [{ tool: 'Write', input: { file_path: path.join(q, 'src', 'app.ts'), content: 'export const app = 2;\n' } }, 'Done.']);
    const rQ = await runClaude({ cwd: q, prompt: 'Change src/app.ts', api: apiQ, env: { PATH }, timeoutMs: RUN_MS });
    t.equal(rQ.code, 0, rQ.stderr);
    t.equal(apiQ.agentRequests().length, 2);
    const koorText = sent(apiQ).match(/.{0,80}(Koor:|koor-cli|hook additional context|hook success).{0,80}/s);
    t.equal(koorText?.[0] ?? null, null, 'no Koor text in any request');
    t.equal(fs.readFileSync(path.join(q, 'src', 'app.ts'), 'utf8'), 'export const app = 2;\n');
    const instances = (await (await fetch(`${quietServer.url}/api/instances`)).json()) as unknown[];
    t.same(instances, [], 'and its agent is gone with its session');
  });

  t.test('an idle session is woken by a message: the Stop hook `koor-cli wait --hook` (asyncRewake) starts a new turn with it', async (t) => {
    const s = await startTestServer(t);
    const root = clone(claudeTempDir(t), s.url);
    let woken: () => void = () => {};
    const wokenUp = new Promise<void>((r) => (woken = r));
    const api = await startFakeApi(t, (req: ApiRequest, turn: number) => {
      if (turn > 0 && /wake me: build is green/.test(requestText(req))) woken();
      return turn === 0 ? 'Nothing to do; waiting.' : 'Thanks, on it.';
    });
    const session = randomUUID();
    const run = runClaude({
      cwd: root,
      sessionId: session,
      api,
      env: { PATH, KOOR_AGENT_NAME: 'idle-agent' },
      inputFormat: 'stream-json',
      outputFormat: 'stream-json',
      input: [{ type: 'user', message: { role: 'user', content: 'Wait for news' } }],
      holdStdinMs: RUN_MS,
      closeStdin: wokenUp,
      timeoutMs: RUN_MS * 2,
    });
    // The turn ended (its Stop hook now waits in the background); then a message arrives.
    await waitUntil('the first turn ended', () => api.agentRequests().length >= 1 && fs.existsSync(path.join(root, '.claude')), 30_000);
    await waitUntil('the agent is bound', async () => (await fetch(`${s.url}/api/instances?name=idle-agent`).then((r) => r.json()) as unknown[]).length === 1, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    const firstWaiter = waiterPid(session);
    const sentAt = Date.now();
    const r = await fetch(`${s.url}/api/messages`, { method: 'POST', body: JSON.stringify({ to: ['idle-agent'], subject: 'wake me: build is green', body: 'you can deploy now' }) });
    t.equal(r.status, 200);
    let notWoken: NodeJS.Timeout | undefined;
    await Promise.race([wokenUp, new Promise((_, rej) => (notWoken = setTimeout(() => rej(new Error('not woken within 30 s')), 30_000)))]).finally(() => clearTimeout(notWoken));
    t.pass(`woken ${Date.now() - sentAt} ms after the message was sent`);
    // The woken turn ends with a Stop, whose wake-up then waits in the background: end it.
    await waitUntil('the woken turn ended', () => api.agentRequests().length >= 2 && ![null, firstWaiter].includes(waiterPid(session)), 30_000).catch(() => {});
    endWaiter(session);
    const rr = await run;
    t.equal(rr.code, 0, rr.stderr);
    const wake = api.agentRequests().find((q) => /wake me: build is green/.test(requestText(q)))!;
    t.match(requestText(wake), /Stop hook blocking error from command "Stop": message #\d+ human \(\d+s ago\): wake me: build is green/, 'the model is told what arrived and how to read it');
    t.match(requestText(wake), /read it: koor-cli inbox/);
  });
}
