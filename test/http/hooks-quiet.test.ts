import t from 'tap';
import { metric, startTestServer, TEST_BACKEND } from '../helpers/server.js';
import { client, context } from '../helpers/hook-client.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * The hook is Koor's hot path: a hook whose answer changes nothing durable (another edit of a
 * file the agent holds, a shell command that ends soon, a PostToolUse, a turn with no news)
 * makes no write — counted by the writer's calls, `koor_writer_calls_total` — and reads no
 * news it has read; yet news of every kind reaches the next hook after it is acknowledged.
 * A cluster's node cannot know what the others wrote, so there hooks read (and a shell command's
 * end that reaches another node than its start is written) — one statement a hook, the session's
 * row with whether anything past its cursors is news (`koor_db_reads_total`, every node's); news
 * reaches them all the same.
 */
const ONE_WRITER = TEST_BACKEND !== 'cluster';

t.test('hooks: a hook that changes nothing writes nothing; news still reaches the next hook', async (t) => {
  const s = await startTestServer(t, { eventRetention: 100, pruneIntervalMs: 3_600_000 });
  const { call, session } = client(s.url);
  const a = session('quiet000-0000-4000-8000-00000000000a', '/clone-a/shop', 'agent-a');
  const b = session('quiet000-0000-4000-8000-00000000000b', '/clone-b/shop', 'agent-b');
  const bash = (command: string) => ({ tool_name: 'Bash', tool_input: { command, description: command } });
  const bound = Date.now();
  // Each binds, edits a file of its own (an auto-lease), reports the edit, and reads what is news to it.
  for (const x of [a, b]) await x.hook('UserPromptSubmit');
  t.same(await a.edit('src/a.ts'), {});
  t.same(await b.edit('src/b.ts'), {});
  await a.edited('src/a.ts');
  await b.edited('src/b.ts');
  for (const x of [a, b]) while (context(await x.hook('UserPromptSubmit')) !== undefined);

  // A cluster's balancer sends each request to any node: counted on the one writer only.
  const counts = async () => (ONE_WRITER ? { calls: await metric(s.url, 'koor_writer_calls_total'), quiet: await metric(s.url, 'koor_hook_quiet_total'), kept: await metric(s.url, 'koor_hook_kept_total') } : null);
  /** A counter summed over every node. */
  const everyNode = async (name: string) => (await Promise.all(s.nodeUrls.map((u) => metric(u, name)))).reduce((x, y) => x + y, 0);
  // Read statements, every node's: a cluster's node reads a hook's session and what its digest would find in one.
  const reads = () => everyNode('koor_db_reads_total');
  const before = await counts();
  // What reading the counters reads itself (a scrape's gauges), taken off.
  const scrape = -(await reads()) + (await reads());
  const read0 = await reads();
  for (let i = 0; i < 3; i++) {
    t.same(await a.edit('src/a.ts'), {}, 'another edit of its own file');
    t.same(await a.edited('src/a.ts'), {}, 'its report');
    t.same(await a.hook('PreToolUse', bash('ls')), {}, 'a shell command starts');
    t.same(await a.hook('PostToolUse', { ...bash('ls'), tool_response: { stdout: 'a.ts\n' } }), {}, 'and ends');
    t.same(await a.hook('UserPromptSubmit'), {}, 'a turn with no news');
    t.same(await a.hook('Stop'), {}, 'its end');
  }
  const after = await counts();
  const read = (await reads()) - read0 - scrape;
  // One a hook, its session (a cluster's: with what its digest would find), and an edit's lease check: 21, with some to spare. Reading each of a digest's sources was 72.
  t.ok(read <= 27, `eighteen hooks, a read and a half each at most (${read}; what a scrape reads, ${scrape}, taken off)`);
  // A's heartbeat, and the renewal of the auto-lease its edits keep using, are each written at most every 10 s from its first hook: a slow machine may see them.
  const heartbeats = () => 2 * Math.floor((Date.now() - bound) / 10_000);
  if (before && after) {
    t.ok(after.calls - before.calls <= heartbeats(), `eighteen hooks, not one write (${after.calls - before.calls}; heartbeats allowed: ${heartbeats()})`);
    t.equal(after.quiet - before.quiet, 12, 'the news of twelve of them not read either');
    t.equal(after.kept - before.kept, 18, 'all eighteen answered from what the server keeps, with no read at all');
  } else t.comment('cluster: writes and reads are not counted (see above)');
  // Another edit of a file it holds writes nothing on either backend (a cluster's node reads the
  // lease table where one writer's node keeps a copy): every node's writer counted.
  const edits0 = await everyNode('koor_writer_calls_total');
  for (let i = 0; i < 4; i++) t.same(await a.edit('src/a.ts'), {}, 'an edit of its own file');
  const editWrites = (await everyNode('koor_writer_calls_total')) - edits0;
  t.ok(editWrites <= heartbeats(), `four edits of a file it holds, not one write (${editWrites}; heartbeats allowed: ${heartbeats()})`);

  // News of each kind reaches A's next hook, though A's hooks read none since.
  await call('POST', '/api/messages', { to: ['agent-a'], subject: 'lunch?', body: 'at noon' });
  t.match(context(await a.edited('src/a.ts')), /1 new message: .*"lunch\?"/, 'a message to it');
  await call('POST', '/api/tasks', { project: 'shop', title: 'Fix the cart total' });
  t.match(context(await a.hook('UserPromptSubmit')), /Fix the cart total/, 'a task ready in its project');
  await call('PUT', '/api/specs/shop/checkout', { openapi: '3.1.0' }, { 'content-type': 'application/json' });
  t.match(context(await a.hook('UserPromptSubmit')), /shop\/checkout updated/, 'a spec of its project changed');
  t.same(await a.hook('UserPromptSubmit'), {}, 'each told once');
  t.equal((await a.edit('src/b.ts')).hookSpecificOutput?.permissionDecision, 'deny', 'and the guard still refuses a file another agent holds');

  // Others' news that does not concern A (B takes a file A never edited, a task is ready in another
  // project): told apart from the events kept in memory, not read.
  t.same(await b.edit('src/b2.ts'), {});
  await call('POST', '/api/tasks', { project: 'elsewhere', title: 'Not in shop' });
  const quiet0 = await counts();
  t.same(await a.hook('UserPromptSubmit'), {}, 'news of nothing that concerns it');
  const quiet1 = await counts();
  if (quiet0 && quiet1) t.equal(quiet1.quiet - quiet0.quiet, 1, 'and not read');
  // More such news than a digest reads from the database at once, then some that concerns it.
  for (let i = 0; i < 600; i += 25) await Promise.all(Array.from({ length: 25 }, (_, j) => call('POST', '/api/tasks', { project: 'elsewhere', title: `Elsewhere ${i + j}` })));
  const quiet2 = await counts();
  t.same(await a.hook('UserPromptSubmit'), {}, 'six hundred events, none of them its news');
  const quiet3 = await counts();
  if (quiet2 && quiet3) t.equal(quiet3.quiet - quiet2.quiet, 1, 'told apart without reading');
  // Retention (the newest 100 kept) prunes events past A's stored cursor (written only now and then) that A has read: nothing missed, nothing read.
  t.ok((await s.events.prune()) > 0, 'the log pruned');
  const pruned0 = await counts();
  t.same(await a.hook('UserPromptSubmit'), {}, 'a pruning of what it has read is not news');
  const pruned1 = await counts();
  if (pruned0 && pruned1) t.equal(pruned1.quiet - pruned0.quiet, 1, 'and not read');
  for (let i = 0; i < 600; i += 25) await Promise.all(Array.from({ length: 25 }, (_, j) => call('POST', '/api/tasks', { project: 'elsewhere', title: `Further ${i + j}` })));
  await call('POST', '/api/tasks', { project: 'shop', title: 'Ship the badge' });
  // A node that keeps them parsed reads them in one digest; a cluster's node, from the database, at most a digest's worth a hook.
  let told = context(await a.hook('UserPromptSubmit'));
  for (let i = 0; !ONE_WRITER && told === undefined && i < 2; i++) told = context(await a.hook('UserPromptSubmit'));
  t.match(told, /Ship the badge/, 'the task in its project after them, told');
  // B's session ends: its lease on the file A was refused ends — news to A, from the same events.
  await b.hook('SessionEnd');
  t.match(context(await a.hook('UserPromptSubmit')), /Free again, no longer leased: src\/b\.ts/, 'the file it was refused is free');
});
