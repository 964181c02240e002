import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import t from 'tap';
import { startTestServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { client, context, fixture } from '../helpers/hook-client.js';

/**
 * The Claude Code hook endpoint through HTTP, fed the hook input the real client sends
 * (test/fixtures/claude-code, captured from Claude Code 2.1.328): binding a session to an agent,
 * the edit guard and auto-leases, a session's liveness, its first digests within their token
 * budgets (o200k); the digests' own cases: hooks-digests.test.ts. The same endpoint driven by
 * the real client: test/e2e/claude-code-hooks.test.ts.
 */

const enc = new Tiktoken(o200k_base);
const tokens = (s: string): number => enc.encode(s).length;

t.test('hooks: a session binds to an agent at its first hook, every event answers Claude Code output', async (t) => {
  const s = await startTestServer(t);
  const { call, session } = client(s.url);
  const a = session('0e3c7a52-1111-4c7e-9a55-aaaaaaaaaaaa', '/home/ann/shop');
  t.same(await a.hook('UserPromptSubmit'), {}, 'a quiet session: nothing to say');
  const bound = (await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).body;
  t.match(bound, { session_id: a.id, client: 'claude-code', name: 'claude-shop-0e3c7a52', project: 'shop', repo_root: '/home/ann/shop' });
  const inst = (await call('GET', `/api/instances/${bound.instance_id}`)).body;
  t.match(inst, { name: 'claude-shop-0e3c7a52', workspace: 'shop', status: 'active' }, "its workspace is its project, the path is the session's repo_root");
  for (const event of ['SessionStart', 'PreToolUse', 'PostToolUse', 'PostToolUseFailure', 'PostToolBatch', 'MessageDisplay', 'Stop']) t.same(await a.hook(event), {}, `${event}: {}`);
  t.equal((await call('GET', '/api/instances')).body.length, 1, 'one instance per session, however many hooks');

  const named = session('5f00ba11-2222-4c7e-9a55-bbbbbbbbbbbb', '/home/ben/shop', 'ben');
  await named.hook('UserPromptSubmit');
  t.match((await call('GET', `/api/hooks/claude-code/sessions/${named.id}`)).body, { name: 'ben' }, 'X-Koor-Agent-Name names it');
  // An agent's name is bounded as a registration's (200 bytes): one made from a long folder's name
  // is cut to fit; one the client gives past it is refused, naming it.
  const folder = 'r'.repeat(250);
  const long = session('6a00ba11-3333-4c7e-9a55-cccccccccccc', `/home/cy/${folder}`);
  await long.hook('UserPromptSubmit');
  const longName = (await call('GET', `/api/hooks/claude-code/sessions/${long.id}`)).body.name as string;
  t.equal(longName, `claude-${'r'.repeat(184)}-6a00ba11`, 'the folder cut, the name 200 bytes');
  const tooLong = await call('POST', '/api/hooks/claude-code', { ...fixture('UserPromptSubmit'), session_id: '7b00ba11-4444-4c7e-9a55-dddddddddddd', cwd: '/home/dee/shop' }, { 'x-koor-repo-root': '/home/dee/shop', 'x-koor-agent-name': 'd'.repeat(201) });
  t.same([tooLong.status, tooLong.body], [400, { error: 'name too long: 201 bytes (max 200)', code: 400 }]);

  // SessionEnd deregisters the instance (and so lets go of what it held)
  t.same(await a.hook('SessionEnd'), {});
  t.equal((await call('GET', `/api/instances/${bound.instance_id}`)).status, 404);
  t.equal((await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).status, 404);
  t.same(await a.hook('SessionEnd'), {}, 'again: nothing to end');

  // bad input: a JSON error naming what was wrong (Claude Code treats any non-2xx as "no opinion")
  t.same((await call('POST', '/api/hooks/claude-code', { hook_event_name: 'Stop' })).body, { error: 'session_id is required', code: 400 });
  t.same((await call('POST', '/api/hooks/claude-code', { session_id: 'x' })).body, { error: 'hook_event_name is required', code: 400 });
  t.equal((await call('POST', '/api/hooks/claude-code', { session_id: 'x', hook_event_name: 'Stop', stop_hook_active: 'yes' })).status, 400);
  t.equal((await call('GET', '/api/hooks/claude-code/sessions/nope')).status, 404);
});

t.test('hooks: edits guarded before they happen — auto-lease, a refusal naming the holder, freed at session end', async (t) => {
  const s = await startTestServer(t);
  const { call, session } = client(s.url);
  const bus = [] as string[];
  const a = session('aaaa0000-0000-4000-8000-000000000001', '/clone-a/shop', 'agent-a');
  const b = session('bbbb0000-0000-4000-8000-000000000002', '/machine-b/work/shop', 'agent-b');
  await a.hook('UserPromptSubmit');
  await b.hook('UserPromptSubmit');

  t.same(await a.edit('src/app.ts'), {}, "A's first edit of a free file is allowed");
  const leases = (await call('GET', '/api/leases')).body;
  t.match(leases, [{ holder_name: 'agent-a', resources: ['src/app.ts'], exclusive: true, reason: 'editing (auto-lease)', expires_at: /^\d{4}-/ }], 'and leases it to A (repository-relative), for its idle lifetime');
  t.same(await a.edit('src/app.ts', 'Edit'), {}, 'A edits it again');
  t.equal((await call('GET', '/api/leases')).body.length, 1, 'one lease');

  // B, in another clone on another machine, edits the same repository-relative file: refused
  const denied = await b.edit('/machine-b/work/shop/src/app.ts');
  t.equal(denied.hookSpecificOutput?.permissionDecision, 'deny');
  const reason = denied.hookSpecificOutput!.permissionDecisionReason!;
  t.match(reason, /^Koor: src\/app\.ts is leased by agent agent-a since \d\d:\d\d UTC \("editing \(auto-lease\)"\)\. .*koor-cli send agent-a/);
  t.ok(tokens(reason) <= 80, `the reason is short: ${tokens(reason)} tokens`);
  t.same(await b.edit('src/other.ts'), {}, 'another file is fine');
  t.same(await b.edit('/elsewhere/notes.txt'), {}, 'a file outside the repository is not guarded');
  t.same(await b.hook('PreToolUse', { tool_name: 'Bash', tool_input: { command: 'echo x > src/app.ts' } }), {}, 'Bash is not parsed (the pre-commit guard is the backstop)');
  t.same(await b.edit('../shop/src/app.ts'.replace('../shop/', '')), denied, 'a path relative to the session cwd');

  // The refusal is answered before it is recorded (a writer that cannot write must not let the edit through).
  const history = await waitUntil('both refusals recorded', async () => {
    const h = (await call('GET', '/api/events/history?topic=lease.denied')).body;
    return h.length === 2 ? h : false;
  });
  t.match(history[0].data, { path: 'src/app.ts', tool: 'Write', agent_name: 'agent-b', holder_name: 'agent-a' });
  const audit = (await call('GET', '/api/audit?action=lease.denied')).body;
  t.equal(audit.length, 2, 'audited');
  t.match(await (await fetch(`${s.nodeUrls[0]}/metrics`)).text(), /koor_hook_denials_total [12]/);
  void bus;

  // A's session ends: its lease goes; B's next edit takes it
  await a.hook('SessionEnd');
  t.same(await b.edit('src/app.ts'), {}, 'free again');
  t.match((await call('GET', '/api/leases')).body.map((l: { holder_name: string; resources: string[] }) => [l.holder_name, l.resources[0]]).sort(), [
    ['agent-b', 'src/app.ts'],
    ['agent-b', 'src/other.ts'],
  ]);
});

t.test('hooks: an auto-lease ends once its holder stops editing the file; the agent it refused learns the file is free', async (t) => {
  // 4 s: long enough that a loaded machine's slow hooks do not let it lapse before the second edit.
  const s = await startTestServer(t, { autoLeaseIdleMs: 4000 });
  const { call, session } = client(s.url);
  const a = session('aaaa0000-0000-4000-8000-0000000000a1', '/clone-a/shop', 'agent-a');
  const b = session('bbbb0000-0000-4000-8000-0000000000b1', '/clone-b/shop', 'agent-b');
  await a.hook('UserPromptSubmit');
  await b.hook('UserPromptSubmit');
  t.same(await a.edit('package.json'), {});
  const first = (await call('GET', '/api/leases')).body[0];
  t.equal((await b.edit('package.json')).hookSpecificOutput?.permissionDecision, 'deny', 'B is refused while A edits it');
  // A edits it again: the idle lifetime runs from then (expires_at has a resolution of seconds).
  await new Promise((r) => setTimeout(r, 1100));
  t.same(await a.edit('package.json', 'Edit'), {});
  // The renewal is written off the hook's path: it lands just after the answer.
  const renewed = await waitUntil('the renewal', async () => {
    const l = (await call('GET', '/api/leases')).body[0];
    return Date.parse(l.expires_at) > Date.parse(first.expires_at) ? l : undefined;
  }, 5000, 20);
  t.equal(renewed.id, first.id, 'the same lease, renewed by the edit');
  // A goes on working (its hooks heartbeat) without touching the file: the lease ends anyway.
  const released = await waitUntil(
    'the idle auto-lease to end',
    async () => {
      await a.hook('UserPromptSubmit');
      const r = (await call('GET', '/api/events/history?topic=lease.released')).body as any[];
      return r.find((e) => e.data.id === first.id);
    },
    15_000,
    200,
  );
  t.equal(released.data.reason, 'expired', 'released as expired, though A stayed active');
  t.ok(Date.now() - Date.parse(renewed.expires_at) < 3000, 'within a sweep of its idle lifetime');
  const news = context(await b.hook('UserPromptSubmit'));
  t.match(news, /Free again, no longer leased: package\.json\. You may edit it now\./, 'the refused agent learns it is free');
  t.ok(tokens(news!) <= 60, `in few tokens (${tokens(news!)})`);
  t.same(await b.edit('package.json'), {}, 'and B may edit it');
  t.equal(context(await b.hook('UserPromptSubmit')), undefined, 'told once');
});

t.test('hooks: a task lease takes over its claimer\'s auto-lease on the task\'s files, so the file is free when the task ends', async (t) => {
  // An agent that auto-leased a shared file and then claims task after task touching it kept the
  // file through its auto-lease, renewed by each task's edit: the swarm saw one agent wait 150 s.
  const s = await startTestServer(t, { autoLeaseIdleMs: 60_000 });
  const { call, session } = client(s.url);
  const a = session('aaaa0000-0000-4000-8000-0000000000a2', '/clone-a/shop', 'agent-a');
  const b = session('bbbb0000-0000-4000-8000-0000000000b2', '/clone-b/shop', 'agent-b');
  await a.hook('UserPromptSubmit');
  await b.hook('UserPromptSubmit');
  t.same(await a.edit('src/index.ts'), {});
  const auto = (await call('GET', '/api/leases')).body[0];
  t.equal(auto.reason, 'editing (auto-lease)');
  t.equal((await b.edit('src/index.ts')).hookSpecificOutput?.permissionDecision, 'deny', 'B is refused');
  const aId = (await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).body.instance_id as string;
  await call('POST', '/api/tasks', { project: 'shop', title: 'export the cart', paths: ['src/cart/**', 'src/index.ts'] });
  const claim = await call('POST', '/api/tasks/claim', { project: 'shop' }, { 'x-koor-instance': aId });
  t.equal(claim.status, 200, claim.text);
  const held = (await call('GET', '/api/leases')).body as any[];
  t.same(held.map((l) => l.id), [claim.body.lease.id], 'the task lease alone holds the file now');
  const ended = ((await call('GET', '/api/events/history?topic=lease.released')).body as any[]).find((e) => e.data.id === auto.id);
  t.equal(ended?.data.reason, 'released', 'the auto-lease ended with the claim');
  t.equal(context(await b.hook('UserPromptSubmit')), undefined, 'B is not told the file is free: the task lease holds it');
  t.equal((await b.edit('src/index.ts')).hookSpecificOutput?.permissionDecision, 'deny', 'B is still refused');
  t.same(await a.edit('src/index.ts', 'Edit'), {}, 'A edits under its task lease');
  t.same(((await call('GET', '/api/leases')).body as any[]).map((l) => l.id), [claim.body.lease.id], 'and takes no auto-lease again');
  const done = await call('POST', `/api/tasks/${claim.body.id}/complete`, {}, { 'x-koor-instance': aId });
  t.equal(done.status, 200, done.text);
  t.same((await call('GET', '/api/leases')).body, [], 'free the moment the task ends (not an idle lifetime later)');
  t.match(context(await b.hook('UserPromptSubmit')), /Free again, no longer leased: src\/index\.ts\./, 'B learns it is free');
  t.same(await b.edit('src/index.ts'), {}, 'and may edit it');
});

t.test('hooks: an edit of a file another agent let go after this clone last pulled is refused once: pull first', async (t) => {
  // The swarm's one rebase conflict under Koor: an agent pulled, another pushed a change to the
  // shared file and its lease ended, then the first edited the file on its stale clone.
  const s = await startTestServer(t);
  const { call, session } = client(s.url);
  const a = session('aaaa0000-0000-4000-8000-0000000000a3', '/clone-a/shop', 'agent-a');
  const b = session('bbbb0000-0000-4000-8000-0000000000b3', '/clone-b/shop', 'agent-b');
  const bash = (x: typeof a, command: string) => x.hook('PostToolUse', { tool_name: 'Bash', tool_input: { command }, tool_response: { stdout: '', stderr: '' } });
  await a.hook('UserPromptSubmit');
  await b.hook('UserPromptSubmit');
  t.same(await a.edit('src/index.ts'), {}, 'no pull seen yet: nothing to compare with');
  await call('DELETE', `/api/leases/${(await call('GET', '/api/leases')).body[0].id}`, undefined, { 'x-koor-instance': (await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).body.instance_id });
  await bash(b, 'git pull --rebase -q');
  t.same(await b.edit('src/index.ts'), {}, 'A let it go before B pulled: B edits');
  await bash(a, 'git pull --rebase -q 2>&1; echo done');
  const bId = (await call('GET', `/api/hooks/claude-code/sessions/${b.id}`)).body.instance_id;
  const leaseOf = async (file: string) => ((await call('GET', '/api/leases')).body as Array<{ id: string; holder: string; resources: string[] }>).find((l) => l.resources.includes(file))!;
  // B also changed another file since A pulled, and let it go first.
  t.same(await b.edit('src/util.ts'), {}, 'B edits another file');
  t.equal((await call('DELETE', `/api/leases/${(await leaseOf('src/util.ts')).id}`, undefined, { 'x-koor-instance': bId })).status, 200);
  const bLease = await leaseOf('src/index.ts');
  t.equal((await call('DELETE', `/api/leases/${bLease.id}`, undefined, { 'x-koor-instance': bId })).status, 200, 'B pushed and let it go');
  const refused = (await a.edit('src/index.ts', 'Edit')).hookSpecificOutput;
  t.equal(refused?.permissionDecision, 'deny', 'A pulled before that: refused');
  t.equal(refused?.permissionDecisionReason, 'Koor: src/index.ts may have changed since your last git pull: agent-b held it and let it go since. Pull first (git pull --rebase), then make this edit again, or your push may conflict.');
  t.ok(tokens(refused!.permissionDecisionReason!) <= 50, `in few tokens (${tokens(refused!.permissionDecisionReason!)})`);
  const aId = (await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).body.instance_id;
  t.equal((await leaseOf('src/index.ts')).holder, aId, 'the file is held for A while it pulls');
  t.same(await a.edit('src/index.ts', 'Edit'), {}, 'once: the same edit again goes through');
  // The warning about index.ts is no pull: util.ts, let go before it, is still asked for.
  t.equal((await a.edit('src/util.ts', 'Edit')).hookSpecificOutput?.permissionDecision, 'deny', 'another file let go since the pull: refused too');
  t.same(await a.edit('src/util.ts', 'Edit'), {}, 'once');
  t.equal((await call('GET', '/api/leases')).body[0]?.holder, (await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).body.instance_id, 'and auto-leases the file');
  t.same(await a.edit('src/other.ts'), {}, 'other files are not concerned');
  // A holder that died pushed nothing: its lease's end is no reason to pull.
  await bash(b, 'git reset -q --hard @{u}');
  t.equal((await call('DELETE', '/api/instances/' + (await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).body.instance_id)).status, 200, 'A is gone');
  t.same(await b.edit('src/index.ts'), {}, 'a lease ended by its holder\'s end does not ask for a pull');
  // Counted by the node that refused (in cluster mode each node counts its own).
  let refusals = 0;
  for (const u of s.nodeUrls) refusals += Number(/koor_hook_pull_first_total (\d+)/.exec(await (await fetch(`${u}/metrics`)).text())?.[1] ?? 0);
  t.equal(refusals, 2, 'counted');
});

t.test('hooks: --hook-edits deny refuses only files others leased, and takes no lease itself', async (t) => {
  const s = await startTestServer(t, { hookEdits: 'deny' });
  const { call, session } = client(s.url);
  const holder = (await call('POST', '/api/instances/register', { name: 'human-ish', workspace: '/elsewhere/shop' })).body;
  await call('POST', '/api/leases', { resources: ['docs/**'], exclusive: true, reason: 'rewriting docs' }, { 'x-koor-instance': holder.id });
  const a = session('cccc0000-0000-4000-8000-000000000003', '/r/shop', 'agent-c');
  t.same(await a.edit('src/x.ts'), {});
  t.equal((await call('GET', '/api/leases')).body.length, 1, 'no auto-lease');
  const d = await a.edit('docs/guide/intro.md', 'MultiEdit');
  t.match(d.hookSpecificOutput?.permissionDecisionReason, /docs\/guide\/intro\.md is leased by agent human-ish .*"rewriting docs"/);
  t.same(await a.hook('PreToolUse', { tool_name: 'NotebookEdit', tool_input: { notebook_path: '/r/shop/docs/a.ipynb' } }).then((o) => o.hookSpecificOutput?.permissionDecision), 'deny', 'NotebookEdit: notebook_path');
});

t.test("hooks: another agent's shared lease lets an edit go, unleased; its exclusive one refuses it", async (t) => {
  const s = await startTestServer(t);
  const { call, session } = client(s.url);
  const other = (await call('POST', '/api/instances/register', { name: 'reader', workspace: '/elsewhere/shop' })).body;
  const shared = await call('POST', '/api/leases', { project: 'shop', resources: ['docs/**'], exclusive: false, reason: 'reading' }, { 'x-koor-instance': other.id });
  t.equal(shared.status, 200);
  const a = session('dddd0000-0000-4000-8000-000000000004', '/r/shop', 'agent-d');
  t.same(await a.edit('docs/intro.md'), {}, 'a shared lease does not refuse it');
  t.same(((await call('GET', '/api/leases')).body as Array<{ id: string }>).map((l) => l.id), [shared.body.id], 'and it takes no lease beside it');
  await call('POST', '/api/leases', { project: 'shop', resources: ['lib/**'], reason: 'refactoring' }, { 'x-koor-instance': other.id });
  t.match((await a.edit('lib/x.ts')).hookSpecificOutput?.permissionDecisionReason, /lib\/x\.ts is leased by agent reader .*"refactoring"/, 'an exclusive one does');
  t.same(await a.edit('src/y.ts'), {}, 'a free file');
  t.equal(((await call('GET', '/api/leases')).body as Array<{ holder_name: string }>).filter((l) => l.holder_name === 'agent-d').length, 1, 'is auto-leased');
});

t.test('hooks: a file named with glob characters is leased as itself; a session bound anew acts as its new agent', async (t) => {
  const s = await startTestServer(t);
  const { call, session } = client(s.url);
  const a = session('abab0000-0000-4000-8000-00000000000a', '/clone-a/web', 'agent-a');
  const b = session('baba0000-0000-4000-8000-00000000000b', '/clone-b/web', 'agent-b');
  await b.hook('UserPromptSubmit');

  // Next.js and SvelteKit route folders: `[id]` is a name here, not a class of characters.
  const file = 'app/[id]/page.tsx';
  t.same(await a.edit(file), {}, "A's first edit: allowed");
  t.match((await call('GET', '/api/leases')).body, [{ holder_name: 'agent-a', resources: ['app/\\[id]/page.tsx'] }], 'leased as a glob matching that path only');
  t.same(await a.edit(file, 'Edit'), {}, 'A edits it again');
  t.equal((await call('GET', '/api/leases')).body.length, 1, 'the same lease renewed, not a second one');
  const check = (await call('POST', '/api/leases/check', { project: 'web', paths: [file, 'app/i/page.tsx'] })).body;
  t.match(check, [{ path: file, leases: [{ holder_name: 'agent-a' }] }], 'the pre-commit check sees the file leased');
  t.equal(check.length, 1, 'and only it');
  t.equal((await b.edit(file)).hookSpecificOutput?.permissionDecision, 'deny', "B's edit of it: refused");
  t.same(await b.edit('app/i/page.tsx'), {}, 'a path the brackets would match as a class: not covered');

  // A's agent removed by hand while its session lives: the next hook binds the session anew, and acts as that agent.
  const first = (await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).body.instance_id;
  t.equal((await call('DELETE', `/api/instances/${first}`)).status, 200);
  t.same(await a.hook('UserPromptSubmit'), {}, 'bound anew: no news about itself');
  const second = (await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).body.instance_id;
  t.not(second, first, 'a new agent');
  t.same(await a.edit('lib/util.ts'), {}, 'its edit of a free file: allowed');
  const util = (await call('GET', '/api/leases')).body.filter((l: { resources: string[] }) => l.resources[0] === 'lib/util.ts');
  t.match(util, [{ holder: second, holder_name: 'agent-a' }], "and leased to the session's new agent");
  t.same(await a.edit('lib/util.ts'), {}, 'its own lease does not refuse it');
});

t.test('hooks: a session whose client was killed (no SessionEnd) ends once its agent has been stale for --stale-session-retention', async (t) => {
  const s = await startTestServer(t, { livenessTimeoutMs: 1000, livenessIntervalMs: 3_600_000, staleSessionRetentionMs: 1000 });
  const { call, session } = client(s.url);
  const killed = session('dead0000-0000-4000-8000-00000000000d', '/clone-k/shop', 'killed');
  await killed.hook('UserPromptSubmit');
  t.same(await killed.edit('src/app.ts'), {}, 'it auto-leased a file');
  const agent = (await call('GET', `/api/hooks/claude-code/sessions/${killed.id}`)).body.instance_id;
  const plain = (await call('POST', '/api/instances/register', { name: 'plain' })).body.id;
  await call('POST', `/api/instances/${plain}/activate`);
  // A session left open over a weekend, a message waiting for it: not ended (its inbox would go).
  const away = session('dead0000-0000-4000-8000-00000000000e', '/clone-w/shop', 'away');
  await away.hook('UserPromptSubmit');
  const awayId = (await call('GET', `/api/hooks/claude-code/sessions/${away.id}`)).body.instance_id;
  await call('POST', '/api/messages', { to: ['away'], subject: 'review?', body: 'please review my branch' });
  // last_seen has 1 s precision: checks until the session's agent is stale, then until it is ended.
  // (The plain and the away agents may have been seen a second later than the killed one — on
  // another node, in the cluster pass: waits for them too.)
  await waitUntil('the killed session to end, the plain and away agents to go stale', async () => {
    await call('POST', '/api/liveness/check');
    return (
      (await call('GET', `/api/instances/${agent}`)).status === 404 &&
      (await call('GET', `/api/instances/${plain}`)).body.status === 'stale' &&
      (await call('GET', `/api/instances/${awayId}`)).body.status === 'stale'
    );
  }, 15_000, 200);
  t.equal((await call('GET', `/api/hooks/claude-code/sessions/${killed.id}`)).status, 404, 'its session is gone with its agent');
  t.same((await call('GET', '/api/leases')).body, [], 'and nothing it held is left');
  // Stale past the retention too (last_seen has 1 s precision), and checked again: still kept.
  await new Promise((r) => setTimeout(r, 2100));
  await call('POST', '/api/liveness/check');
  t.equal((await call('GET', `/api/instances/${plain}`)).body.status, 'stale', 'an agent without a hook session is kept, stale');
  t.equal((await call('GET', `/api/instances/${awayId}`)).body.status, 'stale', 'so is one with an unread message');
  t.match(context(await away.hook('UserPromptSubmit')), /1 new message: .*"review\?"/, 'which it reads when it comes back');
  await killed.hook('UserPromptSubmit');
  t.not((await call('GET', `/api/hooks/claude-code/sessions/${killed.id}`)).body.instance_id, agent, 'a hook of the same session later binds it anew');
});

t.test('hooks: a long shell command keeps its agent from going stale; one that went stale is told what it lost', async (t) => {
  const s = await startTestServer(t, { livenessTimeoutMs: 1000, livenessIntervalMs: 3_600_000 });
  const { call, session } = client(s.url);
  const a = session('busy0000-0000-4000-8000-00000000000a', '/clone-a/shop', 'agent-a');
  const b = session('busy0000-0000-4000-8000-00000000000b', '/clone-b/shop', 'agent-b');
  await a.hook('UserPromptSubmit');
  const aId = (await call('GET', `/api/hooks/claude-code/sessions/${a.id}`)).body.instance_id;
  const taskId = (await call('POST', '/api/tasks', { project: 'shop', title: 'login page' })).body.id;
  t.equal((await call('POST', '/api/tasks/claim', { project: 'shop' }, { 'x-koor-instance': aId })).body.id, taskId, 'A claims the task');
  t.same(await a.edit('src/login.ts'), {}, 'and edits a file (auto-leased)');
  const stale = async () => (await call('POST', '/api/liveness/check')).body.newly_stale.map((i: { id: string }) => i.id) as string[];

  // A runs the test suite: no hook for longer than the liveness timeout (last_seen has 1 s precision).
  t.same(await a.hook('PreToolUse', { tool_name: 'Bash', tool_input: { command: 'npm test', timeout: 600_000 } }), {}, 'the shell command is not refused');
  await new Promise((r) => setTimeout(r, 2500));
  t.same(await stale(), [], 'past the timeout, its command still running: not stale');
  t.match((await call('GET', `/api/tasks/${taskId}`)).body, { status: 'claimed', claimed_by: aId }, 'its claim kept');

  // The command ends; A then falls silent (its client hangs): judged again from its last hook.
  await a.hook('PostToolUse', { tool_name: 'Bash', tool_input: { command: 'npm test', timeout: 600_000 }, tool_response: { stdout: 'ok' } });
  await waitUntil('A to go stale once its command ended', async () => (await stale()).includes(aId), 15_000, 250);
  await b.hook('UserPromptSubmit');
  const bId = (await call('GET', `/api/hooks/claude-code/sessions/${b.id}`)).body.instance_id;
  t.equal((await call('POST', '/api/tasks/claim', { project: 'shop' }, { 'x-koor-instance': bId })).body.id, taskId, 'B claims the released task');

  // A comes back: its first digest says, first, what it lost and whose the task is now.
  const back = context(await a.hook('PostToolUse', { tool_name: 'Read', tool_input: { file_path: '/clone-a/shop/README.md' } }))!;
  t.match(back, /^Koor:\n- You went stale \(silent too long\), so Koor released your claim: #\d+ "login page" went to agent-b: do not finish it\. Your leases on src\/login\.ts ended too\.\n/);
  t.ok(tokens(back) <= 200, `within the digest budget (${tokens(back)} tokens, o200k)`);
  t.equal((await call('GET', `/api/instances/${aId}`)).body.status, 'active', 'and it is active again');
  t.same(await a.hook('UserPromptSubmit'), {}, 'told once');
  t.notMatch(JSON.stringify(await b.hook('UserPromptSubmit')), /silent/, 'not news to B');

  // A command in the background returns at once: it holds nothing busy.
  await a.hook('PreToolUse', { tool_name: 'Bash', tool_input: { command: 'npm run dev', run_in_background: true } });
  await b.hook('PreToolUse', { tool_name: 'Bash', tool_input: { command: 'npm test' } });
  await waitUntil('A to go stale again', async () => (await stale()).includes(aId), 15_000, 250);
  t.equal((await call('GET', `/api/instances/${bId}`)).body.status, 'active', 'B, in a command named without a timeout, is not');

  // Two commands at once (parallel tool calls): the first to end does not let go of the other.
  const c = session('busy0000-0000-4000-8000-00000000000c', '/clone-c/shop', 'agent-c');
  await c.hook('UserPromptSubmit');
  const cId = (await call('GET', `/api/hooks/claude-code/sessions/${c.id}`)).body.instance_id;
  const build = { tool_name: 'Bash', tool_input: { command: 'npm run build', timeout: 600_000 } };
  const list = { tool_name: 'Bash', tool_input: { command: 'ls' } };
  await c.hook('PreToolUse', build);
  await c.hook('PreToolUse', list);
  await c.hook('PostToolUse', { ...list, tool_response: { stdout: 'src' } });
  await new Promise((r) => setTimeout(r, 2500));
  t.notOk((await stale()).includes(cId), 'past the timeout, the build still running: not stale');
  // The build fails (or is interrupted): the hook of its failure ends it.
  await c.hook('PostToolUseFailure', { ...build, error: 'Exit code 1', is_interrupt: false });
  await waitUntil('C to go stale once its last command failed', async () => (await stale()).includes(cId), 15_000, 250);
});
