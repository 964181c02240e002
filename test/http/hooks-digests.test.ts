import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { client, context } from '../helpers/hook-client.js';

/**
 * The Claude Code hook endpoint's digests through HTTP, fed the hook input the real client sends
 * (test/fixtures/claude-code): news said once, within its token budget (o200k), nothing in a quiet
 * turn, none lost to the event log's pruning or to a client that stopped waiting. Split from
 * hooks.test.ts, whose binding, edit guard and liveness cases took ~90 s of the cluster pass,
 * near tap's 120 s a file.
 */

const enc = new Tiktoken(o200k_base);
const tokens = (s: string): number => enc.encode(s).length;

t.test('hooks: news the event log pruned before a silent session read it is said, not skipped', async (t) => {
  const dataDir = tempDir(t);
  const opts = { dataDir, eventRetention: 5, pruneIntervalMs: 3_600_000 };
  const s1 = await startTestServer(t, opts);
  const a1 = client(s1.url).session('miss0000-0000-4000-8000-00000000000a', '/clone-a/shop', 'agent-a');
  await a1.hook('UserPromptSubmit');
  // A busy log while A is silent: more events than retention keeps (one may have released its claim).
  for (let i = 0; i < 12; i++) await client(s1.url).call('POST', '/api/events/publish', { topic: 'build.step', data: { i } });
  // A server that saw every event since keeps those a digest reads in memory: a restart has not seen them.
  await s1.close();
  const s = await startTestServer(t, opts);
  const a = client(s.url).session('miss0000-0000-4000-8000-00000000000a', '/clone-a/shop', 'agent-a');
  await s.events.prune();
  const text = context(await a.hook('UserPromptSubmit'))!;
  t.equal(text, "Koor:\n- You missed 7 events (Koor's log pruned them while you were silent), so this news may be incomplete: check your claims and leases: koor-cli task list shop; koor-cli lease list");
  t.ok(tokens(text) <= 50, `in few tokens (${tokens(text)}, o200k)`);
  t.same(await a.hook('UserPromptSubmit'), {}, 'said once');
});

t.test('hooks: a digest answered after the client may have stopped waiting is shown again by the next one', async (t) => {
  const s = await startTestServer(t);
  const { call, session } = client(s.url);
  const a = session('late0000-0000-4000-8000-00000000000a', '/clone-a/shop', 'agent-a');
  await a.hook('UserPromptSubmit');
  const bash = { tool_name: 'Bash', tool_input: { command: 'npm test', timeout: 60_000 } };
  await a.hook('PreToolUse', bash);
  await call('POST', '/api/messages', { to: ['agent-a'], subject: 'schema?', body: 'which schema do we use' });
  // The writer stalls (a slow disk): the digest waits 4.5 s for the write of its cursors, past the client's patience.
  const stall = s.writer.call('sys.sleep', { ms: 4500 });
  const slow = context(await a.hook('PostToolUse', { ...bash, tool_response: { stdout: 'ok' } }));
  await stall;
  t.match(slow, /1 new message: .*"schema\?"/, 'answered, maybe too late');
  t.match(context(await a.hook('UserPromptSubmit')), /1 new message: .*"schema\?"/, 'so the next digest shows it again');
  t.same(await a.hook('UserPromptSubmit'), {}, 'and then it has been told');
});

t.test('hooks: digests put news into the model context once, within budget, and nothing otherwise', async (t) => {
  const s = await startTestServer(t);
  const { call, session } = client(s.url);
  const a = session('dddd0000-0000-4000-8000-000000000004', '/x/shop', 'agent-a');
  const b = session('eeee0000-0000-4000-8000-000000000005', '/y/shop', 'agent-b');
  await a.hook('UserPromptSubmit');
  t.match(context(await b.hook('SessionStart')), /Also working in this repository: agent-a/, 'session start: who else is here');
  const aId = (await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).body.instance_id;
  t.same(await b.hook('UserPromptSubmit'), {}, 'nothing new since');

  // a message to B: in B's next context, not in A's, and only once
  const bId = (await call('GET', `/api/hooks/claude-code/sessions/${b.id}`)).body.instance_id;
  await call('POST', '/api/messages', { to: ['agent-b'], subject: 'users contract', body: 'the /users contract changed, please regenerate the client', ack_required: true }, { 'x-koor-instance': aId });
  const news = context(await b.hook('PostToolUse'));
  t.match(news, /^Koor:\n- 1 new message: agent-a: "users contract" \(#\d+, ack requested\)\. Read: koor-cli inbox$/);
  t.notMatch(JSON.stringify(await a.hook('UserPromptSubmit')), /contract/, "not in A's");
  t.same(await b.hook('PostToolUse'), {}, 'told once');
  t.equal((await call('GET', '/api/inbox?unread=1', undefined, { 'x-koor-instance': bId })).body.length, 1, 'still unread: a digest does not read it for the agent');

  // Stop: news keeps the agent at work for one more turn; never twice in a row
  await call('POST', '/api/tasks', { project: 'shop', title: 'login page' });
  const stop = await b.hook('Stop', { stop_hook_active: true });
  t.same(stop, {}, 'stop_hook_active: let it stop');
  const block = await b.hook('Stop', { stop_hook_active: false });
  t.equal(block.decision, 'block');
  t.match(block.reason, /Task ready in shop: #\d+ "login page"\. Claim: koor-cli task claim shop/);

  // leases of others on a file this session edited; rules accepted, specs changed in its project
  await b.edited('src/api/users.ts');
  await a.edit('lib/orders.ts');
  const cId = (await call('POST', '/api/instances/register', { name: 'agent-c', workspace: '/z/shop' })).body.id;
  await call('POST', '/api/leases', { resources: ['src/api/*.ts'], exclusive: true, reason: 'api refactor' }, { 'x-koor-instance': cId });
  await call('POST', '/api/rules/propose', { project: 'shop', rule_id: 'no-console', pattern: 'console\\.log', message: 'no console', severity: 'error' });
  await call('POST', '/api/rules/shop/no-console/accept', {});
  await call('PUT', '/api/specs/shop/users', { openapi: '3.1.0' }, { 'x-koor-instance': cId });
  const many = context(await b.hook('UserPromptSubmit'))!;
  t.match(many, /agent-c leased src\/api\/\*\.ts \("api refactor"\), covering src\/api\/users\.ts you edited/);
  t.match(many, /Rule accepted in shop: no-console/);
  t.match(many, /Spec shop\/users updated by agent-c/);
  t.match(many, /Now also working in this repository: agent-c/);
  t.notMatch(many, /agent-a leased/, "A's auto-lease of a file B never edited is not B's news");
  t.ok(tokens(many) <= 200, `${tokens(many)} tokens`);

  const digest = (await call('GET', `/api/agents/${bId}/digest`)).body;
  t.match(digest, { agent: bId, name: 'agent-b', text: null, lines: [] }, 'the same digest over REST: nothing since the last one');
});

t.test('hooks: every digest shape stays within its token budget at its largest', async (t) => {
  const s = await startTestServer(t);
  const { call, session } = client(s.url);
  const long = (n: number) => `${'x'.repeat(n - 8)}-agent-1`;
  const me = session('ffff0000-0000-4000-8000-000000000006', '/w/a-repository-with-a-rather-long-name', long(60));
  await me.hook('UserPromptSubmit');
  const meId = (await call('GET', `/api/hooks/claude-code/sessions/${me.id}`)).body.instance_id;
  for (let i = 0; i < 12; i++) await me.edited(`src/very/deeply/nested/module-${i}/implementation-file-${i}.ts`);
  const others: string[] = [];
  for (let i = 0; i < 10; i++) {
    const o = (await call('POST', '/api/instances/register', { name: `${long(50)}${i}`, workspace: '/v/a-repository-with-a-rather-long-name', intent: 'implementing something fairly elaborate with a long description' })).body.id;
    others.push(o);
    await call('POST', '/api/messages', { to: [meId], subject: `subject ${'s'.repeat(150)}`, body: 'b'.repeat(5000), importance: 'high', ack_required: true }, { 'x-koor-instance': o });
    await call('POST', '/api/leases', { resources: [`src/very/deeply/nested/module-${i}/**`, `docs/${i}/**`, `tests/${i}/**`], exclusive: true, reason: 'r'.repeat(200) }, { 'x-koor-instance': o });
    await call('POST', '/api/tasks', { project: 'a-repository-with-a-rather-long-name', title: `t${'t'.repeat(300)}` });
    await call('POST', '/api/rules/propose', { project: 'a-repository-with-a-rather-long-name', rule_id: `rule-${i}-${'q'.repeat(80)}`, pattern: 'x', message: 'm' });
    await call('POST', `/api/rules/a-repository-with-a-rather-long-name/rule-${i}-${'q'.repeat(80)}/accept`, {});
    await call('PUT', `/api/specs/a-repository-with-a-rather-long-name/spec-${i}-${'n'.repeat(80)}`, { a: 1 }, { 'x-koor-instance': o });
  }
  const fresh = session('ffff0000-0000-4000-8000-000000000007', '/w2/a-repository-with-a-rather-long-name', long(60).replace('agent-1', 'agent-2'));
  const orientation = context(await fresh.hook('SessionStart'))!;
  t.ok(orientation, 'session start has much to say');
  t.ok(tokens(orientation) <= 400, `session start: ${tokens(orientation)} tokens (budget 400)`);
  t.comment(orientation);
  const news = context(await me.hook('UserPromptSubmit'))!;
  t.ok(tokens(news) <= 200, `digest: ${tokens(news)} tokens (budget 200)`);
  t.comment(news);
  t.match(news, /10 new messages/);
  t.match(news, /more: koor-cli digest/);
  // What it had no room for is held, not lost: `koor-cli digest` lists it, and the next digests tell it, each line once.
  const rest = (await call('GET', `/api/agents/${meId}/digest`)).body.lines.join('\n');
  for (const kind of [/Rules accepted in/, /Specs /, /Now also working in this repository/]) t.match(rest, kind, `koor-cli digest: ${kind.source}`);
  const later: string[] = [];
  for (let i = 0; i < 10; i++) {
    const next = context(await me.hook('UserPromptSubmit'));
    if (next === undefined) break;
    t.ok(tokens(next) <= 200, `digest ${i + 2}: ${tokens(next)} tokens`);
    later.push(...next.split('\n').slice(1).filter((l) => l !== '- more: koor-cli digest'));
  }
  t.equal(context(await me.hook('UserPromptSubmit')), undefined, 'then nothing more');
  for (const kind of [/^- Rules accepted in/, /^- Specs /, /^- Now also working in this repository/]) t.equal(later.filter((l) => kind.test(l)).length, 1, `told once in the next digests: ${kind.source}`);
  t.notOk(later.some((l) => /new messages|Tasks ready/.test(l)), 'what the first showed is not told again');
});
