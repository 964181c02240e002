import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import { cleanEnv, nodeCommand, startTestServer, tempDir } from '../helpers/server.js';
import { CLI_JS, exitWithin, cliFor, startCli, startProxy, type CliResult } from './helpers.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * The agent inbox through koor-cli: send, inbox, ack, thread and wait, each a
 * subprocess against a real server. `wait` is the inbox's and the event log's subscriptions,
 * which the cluster pass crosses nodes on in test/http (inbox, subscribe).
 */

type Agent = { id: string; name: string; token: string };

async function register(url: string, name: string, workspace = '', capabilities: string[] = []): Promise<Agent> {
  const r = await fetch(`${url}/api/instances/register`, { method: 'POST', body: JSON.stringify({ name, workspace, capabilities }) });
  return (await r.json()) as Agent;
}

async function api(url: string, method: string, path: string, as?: string, body?: unknown): Promise<any> {
  const r = await fetch(`${url}${path}`, { method, headers: as ? { 'x-koor-instance': as } : {}, body: body === undefined ? undefined : JSON.stringify(body) });
  return r.json();
}

const unreadIds = async (url: string, who: Agent): Promise<number[]> => ((await api(url, 'GET', '/api/inbox?unread=1', who.id)) as Array<{ id: number }>).map((m) => m.id);
const sentId = (r: CliResult): number => Number(/^sent #(\d+) /.exec(r.stdout)?.[1]);

/** `koor-cli …` with `input` on stdin. */
function runWithStdin(args: string[], input: string, cwd: string, env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(...nodeCommand(CLI_JS, args), { cwd, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('send, inbox (prints the unread, marks exactly those read; --peek leaves them), ack, thread', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const ann = await register(s.url, 'ann', '/home/ann/shop');
  const ben = await register(s.url, 'ben', '/home/ben/shop');
  const cat = await register(s.url, 'cat', '/srv/other');
  const asAnn = cliFor(s.url, dir, { KOOR_INSTANCE: ann.id });
  const asBen = cliFor(s.url, dir, { KOOR_INSTANCE: ben.id });

  const m1 = await asAnn('send', 'ben', 'the /users contract changed,\nplease regenerate the client\n', '--subject', 'contract', '--high', '--ack-required');
  t.same([m1.code, m1.stderr], [0, '']);
  t.match(m1.stdout, /^sent #\d+ to ben \(1 recipient\)\n$/, 'one short line');
  const id1 = sentId(m1);
  const m2 = await asAnn('send', `${ben.id}, cat`, 'to both');
  t.equal(m2.stdout, `sent #${sentId(m2)} to ${ben.id.slice(0, 8)},cat (2 recipients)\n`, 'a comma list; ids shortened');
  const m3 = await runWithStdin(['send', 'project:shop', '-', '--reply-to', String(id1)], 'from stdin\n', dir, { KOOR_SERVER: s.url, KOOR_INSTANCE: ann.id });
  t.equal(m3.code, 0, m3.stderr);
  t.equal(m3.stdout, `sent #${sentId(m3)} to project:shop (1 recipient, thread #${id1})\n`, '- reads the body from stdin; a reply joins the thread');
  const stored = await api(s.url, 'GET', `/api/messages/${sentId(m3)}`);
  t.match(stored, { body: 'from stdin\n', reply_to: id1, thread_id: id1, from_name: 'ann' });

  const unknown = await asAnn('send', 'ben,nobody', 'x');
  t.same([unknown.code, JSON.parse(unknown.stdout)], [1, { error: 'unknown recipients: nobody', code: 400 }], 'refused: the error JSON, exit 1');
  const anon = await cliFor(s.url, dir)('inbox');
  t.same([anon.code, JSON.parse(anon.stdout)], [1, { error: 'reading the inbox requires an agent identity', code: 400 }]);

  // --peek: printed, still unread
  const ids = [id1, sentId(m2), sentId(m3)];
  const peek = await asBen('inbox', '--peek');
  t.equal(peek.code, 0, peek.stderr);
  t.match(
    peek.stdout,
    new RegExp(
      `^#${id1} ann \\(\\d+s ago\\) \\[high\\] \\[ack required\\]: contract\\n  the /users contract changed,\\n  please regenerate the client\\n` +
        `#${ids[1]} ann -> ${ben.id.slice(0, 8)},cat \\(\\d+s ago\\)\\n  to both\\n` +
        `#${ids[2]} ann \\(\\d+s ago\\) re #${id1}\\n  from stdin\\n` +
        `ack required: koor-cli ack ${id1}\\n$`,
    ),
    'a header line per message, the body indented, the ack hint',
  );
  t.same(await unreadIds(s.url, ben), ids, '--peek leaves them unread');

  // --limit: only what was printed is marked read
  const one = await asBen('inbox', '--limit', '1');
  t.match(one.stdout, new RegExp(`^#${id1} ann [^\\n]*\\n(  .*\\n)+ack required: koor-cli ack ${id1}\\n2 more unread: koor-cli inbox\\n$`));
  t.same(await unreadIds(s.url, ben), ids.slice(1), 'the one printed is read, the others not');
  const rest = await asBen('inbox');
  t.match(rest.stdout, new RegExp(`^#${ids[1]} [^\\n]*\\n  to both\\n#${ids[2]} [^\\n]*\\n  from stdin\\n$`));
  t.same(await unreadIds(s.url, ben), [], 'all read now');
  t.same((await asBen('inbox')).stdout, 'no unread messages\n');
  t.same((await asBen('inbox', '--thread', String(id1))).stdout, `no unread messages in thread #${id1}\n`);
  const all = await asBen('inbox', '--all', '--limit', '2');
  t.match(all.stdout, new RegExp(`^#${ids[1]} [^\\n]*\\[read\\]\\n  to both\\n#${ids[2]} [^\\n]*\\[read\\] re #${id1}\\n  from stdin\\n\\(the newest 2; --limit N for more\\)\\n$`), '--all: the newest, read ones too');

  // ack
  const ack = await asBen('ack', String(id1));
  t.same([ack.code, ack.stdout], [0, `acked #${id1}\n`]);
  const receipts = (await api(s.url, 'GET', `/api/messages/${id1}`)).receipts as Array<{ name: string; acked_at: string }>;
  t.match(receipts, [{ name: 'ben', acked_at: /Z$/ }]);
  const badAck = await asBen('ack', '999999');
  t.same([badAck.code, JSON.parse(badAck.stdout)], [1, { error: 'message not found: 999999', code: 404 }]);
  t.match((await asBen('inbox', '--all', '--thread', String(id1))).stdout, new RegExp(`^#${id1} ann [^\\n]*\\[high\\] \\[acked\\] \\[read\\]: contract\\n`), 'acked shows');

  // thread: oldest first, with whom each went to; participants only
  const reply = await asBen('send', 'ann', 'regenerated', '--reply-to', String(id1));
  const th = await asAnn('thread', String(id1));
  t.equal(th.code, 0, th.stderr);
  t.match(
    th.stdout,
    new RegExp(
      `^#${id1} ann -> ben \\(\\d+s ago\\) \\[high\\] \\[ack required\\]: contract\\n  the /users contract changed,\\n  please regenerate the client\\n` +
        `#${ids[2]} ann -> project:shop \\(\\d+s ago\\) re #${id1}\\n  from stdin\\n` +
        `#${sentId(reply)} ben -> ann \\(\\d+s ago\\) re #${id1}\\n  regenerated\\n$`,
    ),
  );
  const notMine = await cliFor(s.url, dir, { KOOR_INSTANCE: cat.id })('thread', String(id1));
  t.same([notMine.code, JSON.parse(notMine.stdout)], [1, { error: `thread not found: ${id1}`, code: 404 }]);
});

t.test('send: an Idempotency-Key per run, a fresh UUID each time', async (t) => {
  const keys: string[] = [];
  const server = http.createServer((req, res) => {
    keys.push(String(req.headers['idempotency-key']));
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 7, from: 'human', from_name: 'human', to: ['ben'], recipients: ['b'], thread_id: 7, reply_to: null, subject: '', body: 'x', importance: 'normal', ack_required: false, created_at: '2025-01-01T00:00:00Z' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const cli = cliFor(`http://127.0.0.1:${(server.address() as { port: number }).port}`, tempDir(t));
  t.equal((await cli('send', 'ben', 'x')).stdout, 'sent #7 to ben (1 recipient)\n');
  await cli('send', 'ben', 'x');
  t.equal(keys.length, 2);
  for (const k of keys) t.match(k, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.not(keys[0], keys[1], 'one key per run');
});

t.test('wait: returns within a second of a message, marks nothing read; exits 1 at the timeout', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const ann = await register(s.url, 'ann');
  const ben = await register(s.url, 'ben');
  const env = { KOOR_SERVER: s.url, KOOR_INSTANCE: ben.id };
  const teardown = t.teardown.bind(t);

  const timeout = Date.now();
  const idle = startCli(['wait', '--timeout', '700ms'], { cwd: dir, env, teardown });
  const idleExit = await exitWithin(idle, 10_000);
  const took = Date.now() - timeout;
  t.same(idleExit, { code: 1, signal: null }, 'exit 1 at the timeout');
  t.same(idle.lines(), ['nothing arrived in 700ms (messages)'], 'one short line (no project known: messages only)');
  t.ok(took >= 600 && took < 5_000, `waited about the timeout (${took} ms)`);

  const w = startCli(['wait', '--timeout', '20s'], { cwd: dir, env, teardown });
  await sleep(500); // connected, waiting
  t.equal(w.child.exitCode, null, 'still waiting with nothing unread');
  const sent = await fetch(`${s.url}/api/messages`, { method: 'POST', headers: { 'x-koor-instance': ann.id }, body: JSON.stringify({ to: ['ben'], subject: 'ping', body: 'are you there?\nsecond line' }) });
  const arrived = Date.now();
  const m = (await sent.json()) as { id: number };
  const exit = await exitWithin(w, 10_000);
  const latency = Date.now() - arrived;
  t.same(exit, { code: 0, signal: null }, 'exit 0 when the message arrives');
  t.ok(latency < 1_000, `within a second of the message (${latency} ms)`);
  t.match(w.lines(), [new RegExp(`^message #${m.id} ann \\(\\ds ago\\): ping$`), '  are you there?…', 'read it: koor-cli inbox'], 'what arrived, the command to read it');
  t.equal(w.lines().length, 3);
  t.same(await unreadIds(s.url, ben), [m.id], 'nothing marked read');

  // Something unread already: at once, counted.
  await fetch(`${s.url}/api/messages`, { method: 'POST', headers: { 'x-koor-instance': ann.id }, body: JSON.stringify({ to: ['ben'], body: 'two', importance: 'high' }) });
  const start = Date.now();
  const again = startCli(['wait', '--timeout', '20s', '--instance', ben.id], { cwd: dir, env: { KOOR_SERVER: s.url }, teardown });
  t.same(await exitWithin(again, 10_000), { code: 0, signal: null });
  t.ok(Date.now() - start < 3_000, 'at once');
  t.match(again.lines()[0], new RegExp(`^message #${m.id} ann \\(\\d+s ago\\): ping$`), 'the oldest unread');
  t.same(again.lines().at(-1), `2 unread: koor-cli inbox --instance ${ben.id}`, 'how many; the command as this agent');

  const anon = startCli(['wait', '--timeout', '10s'], { cwd: dir, env: { KOOR_SERVER: s.url }, teardown });
  t.same(await exitWithin(anon, 10_000), { code: 1, signal: null }, 'no identity: fatal, not a wait');
  t.same(JSON.parse(anon.lines()[0]!), { error: 'an inbox subscription requires an agent identity', code: 400 });
  t.match(anon.stderr(), /^error: the inbox stream was refused \(HTTP 400\)\n$/);

  const usage = startCli(['wait', '--timeout', 'soon'], { cwd: dir, env, teardown });
  t.same(await usage.exited, { code: 1, signal: null });
  t.match(usage.stderr(), /^error: --timeout must be a duration such as 90s, 10m or 2h, got soon\nusage: koor-cli wait /);
});

t.test('wait --hook: what arrived on stderr with exit 2; the timeout exits 0 silently', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const ann = await register(s.url, 'ann');
  const ben = await register(s.url, 'ben');
  const env = { KOOR_SERVER: s.url, KOOR_INSTANCE: ben.id };
  const teardown = t.teardown.bind(t);

  const quiet = startCli(['wait', '--hook', '--timeout', '500ms'], { cwd: dir, env, teardown });
  t.same(await exitWithin(quiet, 10_000), { code: 0, signal: null });
  t.same([quiet.lines(), quiet.stderr()], [[], ''], 'nothing said');

  const hook = startCli(['wait', '--hook', '--timeout', '20s'], { cwd: dir, env, teardown });
  await sleep(300);
  const m = (await api(s.url, 'POST', '/api/messages', ann.id, { to: [ben.id], body: 'wake up', ack_required: true })) as { id: number };
  t.same(await exitWithin(hook, 10_000), { code: 2, signal: null }, 'exit 2 wakes Claude Code');
  t.same(hook.lines(), [], 'nothing on stdout');
  t.match(hook.stderr(), new RegExp(`^message #${m.id} ann \\(\\ds ago\\) \\[ack required\\]\n  wake up\nread it: koor-cli inbox\n$`));
  // Sent before the exit (its reply is not awaited: it must not hold up the wake), recorded as the
  // agent (the dashboard's team page marks it); the quiet timeout recorded nothing.
  const woken = await waitUntil(
    'the hook.woken record',
    async () => {
      const r = (await api(s.url, 'GET', '/api/events/history?topic=hook.woken')) as Array<{ data: unknown; source: string }>;
      return r.length > 0 ? r : undefined;
    },
    5_000,
    50,
  );
  t.same(
    woken.map((e) => [e.source, e.data]),
    [['ben', { agent: ben.id, agent_name: 'ben', reason: 'message', message_id: m.id, from_name: 'ann' }]],
    'the wake-up is recorded as a hook.woken event',
  );
});

t.test('wait --hook: a wake-up whose client is gone (it was reparented: killed, no SessionEnd) ends instead of waiting out its timeout', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const session = 'cli-orphan-session-0001';
  const bound = await fetch(`${s.url}/api/hooks/claude-code`, { method: 'POST', headers: { 'x-koor-agent-name': 'cc-orphan' }, body: JSON.stringify({ session_id: session, hook_event_name: 'UserPromptSubmit', cwd: '/w/shop', prompt: 'hi' }) });
  t.equal(bound.status, 200);
  fs.writeFileSync(path.join(dir, 'stop.json'), JSON.stringify({ session_id: session, hook_event_name: 'Stop', stop_hook_active: false }));
  // A stand-in for the client: a shell that runs the hook in the background, prints its pid once
  // it waits (its per-session pid file written), and exits, as a killed client leaves its hooks.
  const pidFile = path.join(dir, `koor-wait-${session}.pid`);
  const [cmd, args] = nodeCommand(CLI_JS, ['wait', '--hook', '--timeout', '60s']);
  const line = [cmd, ...args].map((a) => `'${a}'`).join(' ');
  const sh = spawn('sh', ['-c', `${line} < stop.json > /dev/null 2>&1 & i=0; while [ ! -s '${pidFile}' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; echo $! $(cat '${pidFile}' 2>/dev/null)`], { cwd: dir, env: cleanEnv({ KOOR_SERVER: s.url, TMPDIR: dir }), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  sh.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise((r) => sh.once('exit', r));
  // Its pid and its pid file as the shell saw them before exiting: the hook may notice its parent
  // gone and take the file with it before this process reads it (a loaded machine, as CI is).
  const [pid, written] = out.trim().split(/\s+/).map(Number) as [number, number | undefined];
  t.equal(written, pid, 'the hook was waiting as the session when its parent went');
  // Running, not a zombie its new parent has yet to reap.
  const alive = () => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  };
  t.teardown(() => {
    if (alive()) process.kill(pid, 'SIGKILL');
  });
  await waitUntil('the orphaned wake-up ended', () => !alive(), 20_000);
  t.notOk(fs.existsSync(pidFile), 'and took its pid file with it');
});

t.test('wait for tasks: a task this agent may claim becoming ready, also by its last dependency being done', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const ops = await register(s.url, 'ops');
  const dev = await register(s.url, 'dev', '/home/dev/web', ['ts']);
  const teardown = t.teardown.bind(t);
  const asOps = cliFor(s.url, dir, { KOOR_INSTANCE: ops.id });

  const t1 = await api(s.url, 'POST', '/api/tasks', undefined, { project: 'web', title: 'schema' });
  t.equal((await asOps('task', 'claim', 'web')).code, 0, 'ops holds t1');
  const t2 = await api(s.url, 'POST', '/api/tasks', undefined, { project: 'web', title: 'Paginate /api/trucks', deps: [t1.id], priority: 2 });
  t.equal(t2.status, 'blocked');

  // The project comes from dev's workspace (web); messages are watched as well.
  const w = startCli(['wait', '--timeout', '20s'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_INSTANCE: dev.id }, teardown });
  await sleep(500);
  await api(s.url, 'POST', '/api/tasks', undefined, { project: 'web', title: 'needs go', capabilities: ['go'] });
  await api(s.url, 'POST', '/api/tasks', undefined, { project: 'api', title: 'another project' });
  await sleep(500);
  t.equal(w.child.exitCode, null, 'not for a task it cannot claim, nor for another project');

  t.equal((await asOps('task', 'done', String(t1.id))).code, 0);
  const done = Date.now();
  t.same(await exitWithin(w, 10_000), { code: 0, signal: null });
  t.ok(Date.now() - done < 1_000, `within a second (${Date.now() - done} ms)`);
  t.same(w.lines(), [`task #${t2.id} ready in web [priority 2]: Paginate /api/trucks`, 'claim: koor-cli task claim web']);

  // Ready already: at once. --for tasks only, another project by --project.
  const now = startCli(['wait', '--for', 'tasks', '--project', 'api', '--timeout', '20s'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_INSTANCE: dev.id }, teardown });
  t.same(await exitWithin(now, 10_000), { code: 0, signal: null });
  t.match(now.lines()[0], /^task #\d+ ready in api: another project$/);
  const none = startCli(['wait', '--for', 'tasks', '--project', 'nothing-here', '--timeout', '500ms'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_INSTANCE: dev.id }, teardown });
  t.same(await exitWithin(none, 10_000), { code: 1, signal: null });
  t.same(none.lines(), ['nothing arrived in 500ms (tasks in nothing-here)']);
  const noProject = startCli(['wait', '--for', 'tasks'], { cwd: dir, env: { KOOR_SERVER: s.url, KOOR_INSTANCE: ops.id }, teardown });
  t.same(await noProject.exited, { code: 1, signal: null });
  t.match(noProject.stderr(), /^error: --for tasks needs --project \(or an agent registered with a workspace\)\n/);
});

t.test('wait: a dropped connection reconnects; a message sent meanwhile still ends the wait', async (t) => {
  const s = await startTestServer(t);
  const proxy = await startProxy(t, Number(new URL(s.url).port));
  const ann = await register(s.url, 'ann');
  const ben = await register(s.url, 'ben', '/home/ben/web');
  const w = startCli(['wait', '--timeout', '30s'], { cwd: tempDir(t), env: { KOOR_SERVER: proxy.url, KOOR_INSTANCE: ben.id }, teardown: t.teardown.bind(t) });
  // Cut only once it is waiting (its inbox stream open): on a loaded machine start-up can take longer than any fixed sleep.
  await waitUntil('the wait is connected', async () => {
    let open = 0;
    for (const u of s.nodeUrls) open += Number(/^koor_inbox_subscribers (\d+)$/m.exec(await (await fetch(`${u}/metrics`)).text())?.[1] ?? 0);
    return open >= 1;
  }, 15_000);
  await sleep(200);
  proxy.refuse = true;
  proxy.drop(); // abrupt: both streams (inbox and task events) cut
  await w.until(() => /koor: inbox: disconnected \(code 1006\); retrying/.test(w.stderr()), 'the drop noticed', 10_000);
  const m = (await api(s.url, 'POST', '/api/messages', ann.id, { to: ['ben'], body: 'sent while cut off' })) as { id: number };
  await sleep(600); // a reconnect or two fails
  t.equal(w.child.exitCode, null, 'still waiting while cut off');
  proxy.refuse = false;
  t.same(await exitWithin(w, 15_000), { code: 0, signal: null }, 'back, and the message ends the wait');
  t.match(w.lines()[0], new RegExp(`^message #${m.id} ann \\(\\d+s ago\\)$`));
});

t.test('digest: what the hooks would tell the agent, nothing when there is no news; inside a Claude Code session the session is the agent', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  // A Claude Code session bound by its first hook.
  const session = 'cli-digest-session-0001';
  const hook = await fetch(`${s.url}/api/hooks/claude-code`, { method: 'POST', headers: { 'x-koor-agent-name': 'cc-agent' }, body: JSON.stringify({ session_id: session, hook_event_name: 'UserPromptSubmit', cwd: '/w/shop', prompt: 'hi' }) });
  t.equal(hook.status, 200);
  const bound = (await api(s.url, 'GET', `/api/hooks/claude-code/sessions/${session}`)) as { instance_id: string };
  const quiet = await cliFor(s.url, dir, { CLAUDE_CODE_SESSION_ID: session })('digest');
  t.same([quiet.code, quiet.stdout], [0, ''], 'no news: no output');
  await api(s.url, 'POST', '/api/messages', undefined, { to: ['cc-agent'], subject: 'schema', body: 'who owns the schema?' });
  const news = await cliFor(s.url, dir, { CLAUDE_CODE_SESSION_ID: session })('digest');
  t.equal(news.code, 0, news.stderr);
  t.match(news.stdout, /^- 1 new message: human: "schema" \(#\d+\)\. Read: koor-cli inbox\n$/);
  const inbox = await cliFor(s.url, dir, { CLAUDE_CODE_SESSION_ID: session })('inbox');
  t.match(inbox.stdout, /who owns the schema\?/, '`koor-cli inbox` in the session reads the session agent’s inbox');
  t.same(await unreadIds(s.url, { id: bound.instance_id, name: 'cc-agent', token: '' }), [], 'and marks it read');
  const none = await cliFor(s.url, dir)('digest');
  t.equal(none.code, 1, 'no identity: a usage error');
});
