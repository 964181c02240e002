import t from 'tap';
import { digestLines, type Me } from '../../src/domains/hooks/digest.js';
import { busyChange, type HookInput } from '../../src/domains/hooks/input.js';

/**
 * An agent in a long shell command is not judged stale (busyChange: which shell commands a hook
 * starts or ends), and an agent that went stale anyway is told, first, which of its claims
 * and leases Koor released and whose each task is now (digestLines). Through HTTP:
 * test/http/hooks.test.ts; with the real client: the swarm's long test run (bench/swarm).
 */

const me: Me = { id: 'i-a', name: 'agent-a', project: 'shop' };
let seq = 0;
const ev = (topic: string, data: Record<string, unknown>) => ({ id: ++seq, topic, data: JSON.stringify(data) });
const task = (what: string, o: Record<string, unknown>) => ev(`task.${what}`, { id: 7, project: 'shop', title: 'login page', priority: 0, attempts: 1, reason: '', ...o });
const lines = (events: ReturnType<typeof ev>[]) => digestLines({ me, messages: [], events, audit: [], edited: [] });

t.test('busyChange: a shell command holds its session busy for its timeout, capped; its end, failure or the turn lets go', async (t) => {
  const pre = (tool_input: Record<string, unknown>, tool_name = 'Bash'): HookInput => ({ session_id: 's', hook_event_name: 'PreToolUse', tool_name, tool_input });
  const idle = false;
  const running = true;
  t.same(busyChange(pre({ command: 'npm test', timeout: 480_000 }), idle), { ms: 480_000 }, 'its own timeout');
  t.same(busyChange(pre({ command: 'npm test' }), idle), { ms: 600_000 }, 'none named: the longest the client runs one');
  t.same(busyChange(pre({ command: 'sleep 1e9', timeout: 1e12 }), idle), { ms: 3_600_000 }, 'capped at an hour');
  t.same(busyChange(pre({ command: 'x', timeout: 'soon' }), idle), { ms: 600_000 }, 'a timeout that is no number: the default');
  t.same(busyChange(pre({ command: 'npm test' }), running), { ms: 600_000 }, 'another while one runs: counted too');
  t.equal(busyChange(pre({ command: 'npm run dev', run_in_background: true }), idle), null, 'in the background: it returns at once');
  t.equal(busyChange(pre({ file_path: '/r/a.ts' }, 'Write'), idle), null, 'not the shell');
  const post: HookInput = { session_id: 's', hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'npm test' } };
  t.equal(busyChange(post, running), 'end', 'its end: one fewer runs');
  t.equal(busyChange({ ...post, hook_event_name: 'PostToolUseFailure' }, running), 'end', 'a failed or interrupted one ends too');
  t.equal(busyChange({ ...post, tool_input: { command: 'npm run dev', run_in_background: true } }, running), null, 'a background one was never counted');
  t.equal(busyChange(post, idle), null, 'none may be counted: no write');
  t.equal(busyChange({ session_id: 's', hook_event_name: 'Stop' }, running), 'clear', 'the turn ended: none runs (hooks installed before failures were hooked end them here)');
  t.equal(busyChange({ session_id: 's', hook_event_name: 'Stop' }, idle), null);
  t.equal(busyChange({ session_id: 's', hook_event_name: 'PostToolUse', tool_name: 'Read', tool_input: {} }, running), null, 'another tool ending: the command may still run');
});

t.test('digestLines: claims and leases lost to staleness come first, with whose each task is now', async (t) => {
  const released = task('released', { status: 'ready', claimed_by: '', claimed_by_name: '', reason: 'stale', released_from: me.id });
  const lease = ev('lease.released', { id: 'l1', holder: me.id, holder_name: 'agent-a', resources: ['src/login.ts'], exclusive: true, reason: 'stale' });
  const taken = task('claimed', { status: 'claimed', claimed_by: 'i-b', claimed_by_name: 'agent-b' });
  const msg = { id: 3, from_name: 'agent-c', subject: 'hi', body: '', importance: 'normal', ack_required: 0 } as never;

  const all = digestLines({ me, messages: [msg], events: [released, lease, taken], audit: [], edited: [] });
  t.equal(all[0], 'You went stale (silent too long), so Koor released your claim: #7 "login page" went to agent-b: do not finish it. Your leases on src/login.ts ended too.');
  t.match(all[1], /^1 new message/, 'before its messages');

  t.match(lines([released]), [/your claim: #7 "login page" is ready again\. To go on with a ready one, claim it: koor-cli task claim shop$/], 'still ready: said once, not also as a ready task');
  t.equal(lines([released]).length, 1);
  t.same(lines([released, task('claimed', { status: 'claimed', claimed_by: me.id, claimed_by_name: 'agent-a' })]), [], 'claimed back by itself: nothing to say');
  t.match(lines([task('released', { status: 'failed', claimed_by: '', reason: 'stale', released_from: me.id })]), [/#7 "login page" failed \(out of attempts\)\.$/]);
  t.match(lines([released, taken, task('done', { status: 'done', claimed_by: 'i-b', claimed_by_name: 'agent-b' })]), [/#7 "login page" was done by agent-b\.$/], 'and finished since');
  const long = lines([task('released', { title: 'x'.repeat(200), status: 'ready', claimed_by: '', reason: 'stale', released_from: me.id })]);
  t.match(long, [/^You went stale \(silent too long\), so Koor released your claim: #7 "x{39}…" is ready again/], 'a long title is cut short: what to do comes early');
  t.match(lines([lease]), [/released your leases on src\/login\.ts\. Check before editing: koor-cli lease check <file>$/], 'leases only');

  const own = lines([task('released', { status: 'ready', claimed_by: '', reason: 'released', released_from: me.id })]);
  t.equal(own.length, 1);
  t.match(own, [/^Task ready in shop/], 'released by itself: only the ready task');
  const other = lines([task('released', { status: 'ready', claimed_by: '', reason: 'stale', released_from: 'i-z' })]);
  t.equal(other.length, 1);
  t.match(other, [/^Task ready in shop/], "another agent's claim: only the ready task");
  t.same(lines([ev('lease.released', { id: 'l2', holder: me.id, resources: ['a.ts'], reason: 'expired' })]), [], 'a lease that expired: not this news');
});
