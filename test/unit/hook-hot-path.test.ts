import t from 'tap';
import { Hub } from '../../src/bus/hub.js';
import { NewsClock } from '../../src/domains/hooks/news-clock.js';
import { Shells } from '../../src/domains/hooks/shells.js';
import { EditLeases } from '../../src/domains/hooks/edit-leases.js';
import { HOOK_SESSIONS_REMEMBERED } from '../../src/shared/limits-features.js';
import type { HookBusy } from '../../schemas/rpc/writer-hooks.js';
import { silentLogger } from '../../src/log.js';

/**
 * What lets a hook that changes nothing answer without reading or writing (src/domains/hooks):
 * the news clock a digest's mark is compared with, the shell commands written only once they
 * run long, the leases an agent holds on the files it edits. Through HTTP: test/http/hooks-quiet.test.ts.
 */

const frame = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const sent = (id: number, recipients: string[]) => frame({ id: 900 + id, topic: 'message.sent', data: { id, recipients } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('news clock: a mark is passed by a digest topic, a message to that agent, or a write that may store news', async (t) => {
  const c = new NewsClock();
  let m = c.mark('a');
  t.notOk(c.since(m, 'a'), 'nothing since');
  c.published(10, 'ci.build', frame({ id: 10 }));
  c.published(11, 'lease.denied', frame({ id: 11 }));
  t.notOk(c.since(m, 'a'), 'events a digest does not read');
  c.published(12, 'task.created', frame({ id: 12 }));
  t.ok(c.since(m, 'a'), 'a task event');
  m = c.mark('a');
  c.published(13, 'lease.released', frame({ id: 13 }));
  t.ok(c.since(m, 'a'), 'a lease let go');
  t.equal(c.newestDigestEvent(), 13);
  m = c.mark('a');
  const mb = c.mark('b');
  c.published(14, 'message.sent', sent(5, ['b']));
  t.notOk(c.since(m, 'a'), 'a message to another agent');
  t.ok(c.since(mb, 'b'), 'one to this agent');
  t.notOk(c.since(c.mark('b'), 'b'), 'read since');
  m = c.mark('a');
  c.moved();
  t.ok(c.since(m, 'a'), 'an audited write (a spec, a rule, an agent joining), a pruning, an unknown outcome');
  m = c.mark('a');
  c.published(15, 'message.sent', Buffer.from('{not json'));
  t.ok(c.since(m, 'a'), 'a message frame it cannot read: every agent may have news');
  t.ok(c.since({ event: -1, epoch: c.mark('a').epoch, message: 99 }, 'a'), 'a mark a full scan left: read again');
  c.seen(500);
  t.equal(c.newestDigestEvent(), 500, 'events stored before it started count as news');
});

t.test('news clock: the agents it remembers are bounded; one forgotten reads the newest message it forgot', async (t) => {
  const c = new NewsClock();
  const old = c.mark('z');
  c.published(1, 'message.sent', sent(7, ['z']));
  const many = Array.from({ length: HOOK_SESSIONS_REMEMBERED }, (_, i) => `agent-${i}`);
  c.published(2, 'message.sent', sent(8, many));
  t.ok(c.since(old, 'z'), 'z was forgotten: its mark is below the floor');
  t.notOk(c.since(c.mark('z'), 'z'), 'and a new mark holds');
  t.ok(c.since({ ...c.mark('agent-1'), message: 7 }, 'agent-1'), 'a remembered agent still reads its own');
});

t.test('shells: a command that ends soon writes nothing; one that runs long is written once, with its end', async (t) => {
  const writes: Array<[string, HookBusy]> = [];
  const write = async (id: string, busy: HookBusy) => void writes.push([id, busy]);
  const sh = new Shells(write, 30);
  sh.start('s', 60_000);
  t.equal(sh.count('s'), 1);
  t.ok(sh.end('s'), 'known here');
  await sleep(60);
  t.same(writes, [], 'ended before it mattered: nothing written');
  t.notOk(sh.end('s'), 'none running here: the row is the caller’s');

  sh.start('s', 60_000);
  sh.start('s', 1_000);
  t.ok(sh.end('s'), 'the short one ends first');
  await sleep(60);
  t.equal(writes.length, 1, 'the long one written once it ran long');
  t.match(writes[0], ['s', { ms: Number }]);
  t.ok((writes[0]![1] as { ms: number }).ms > 50_000, 'for what its timeout leaves');
  sh.start('s', 1_000);
  t.equal(writes.length, 2, 'another while the row says busy: counted at once');
  t.ok(sh.end('s'));
  t.ok(sh.end('s'));
  t.same(writes.slice(2).map((w) => w[1]), ['end', 'end'], 'each end written');
  t.equal(sh.count('s'), 0);

  sh.start('s', 60_000);
  t.notOk(sh.clear('s'), 'the turn ended before it was written: nothing to clear');
  await sleep(60);
  t.equal(writes.length, 4, 'and nothing written later');
  sh.start('s', 60_000);
  await sleep(60);
  t.ok(sh.clear('s'), 'written, then the turn ended: cleared');
  t.same(writes.at(-1), ['s', 'clear']);

  const at = writes.length;
  sh.start('t', 60_000);
  await sh.close();
  t.match(writes.slice(at), [['t', { ms: Number }]], 'closing writes what is pending');
  t.equal(writes.length, at + 1, 'once');

  const cluster: Array<[string, HookBusy]> = [];
  const now = new Shells(async (id, busy) => void cluster.push([id, busy]), null);
  now.start('c', 5_000);
  t.same(cluster, [['c', { ms: 5_000 }]], 'in a cluster, written as it starts');
  t.notOk(now.end('c'), 'and its end is the caller’s, wherever it lands');
});

t.test('edit leases: a file the agent leases is known until its lease ends or runs out', async (t) => {
  const hub = new Hub({ maxEvents: 100, maxBytes: 1 << 20 });
  const renewals: string[] = [];
  let renewed = () => {};
  const renew = (id: string) => {
    renewals.push(id);
    return new Promise<void>((r) => (renewed = r));
  };
  const own = new EditLeases(hub, renew, { exact: true, idleMs: 120_000, log: silentLogger() });
  const expires = new Date(Date.now() + 60_000).toISOString();
  own.set('s1', 'src/a.ts', { id: 'L1', expires_at: expires }, true);
  own.set('s1', 'src/b.ts', { id: 'L2', expires_at: '' }, false);
  t.match(own.get('s1', 'src/a.ts', Date.now()), { id: 'L1', auto: true });
  t.notOk(own.get('s2', 'src/a.ts', Date.now()), "another session's: not known");
  t.notOk(own.get('s1', 'src/a.ts', Date.now() + 61_000), 'past its time: not used');
  t.match(own.get('s1', 'src/b.ts', Date.now() + 1e9), { id: 'L2', auto: false }, 'none: held with its holder');
  // A renewal is written once a tenth of the idle lifetime (at most 10 s) has passed: here 60 s of 120.
  own.renew(own.get('s1', 'src/a.ts', Date.now())!, 'agent-1');
  own.renew(own.get('s1', 'src/a.ts', Date.now())!, 'agent-1');
  t.same(renewals, ['L1'], 'one renewal in flight at a time');
  renewed();
  await sleep(0);
  t.notOk(own.get('s1', 'src/a.ts', Date.now()), 'renewed: read again at the next edit');
  own.set('s1', 'src/a.ts', { id: 'L1', expires_at: new Date(Date.now() + 115_000).toISOString() }, true);
  own.renew(own.get('s1', 'src/a.ts', Date.now())!, 'agent-1');
  t.same(renewals, ['L1'], 'renewed 5 s ago: nothing written');
  hub.publish(1, 'lease.released', frame({ id: 1, topic: 'lease.released', data: { id: 'L1', reason: 'released' } }));
  t.notOk(own.get('s1', 'src/a.ts', Date.now()), 'its end, told by its event');
  t.ok(own.get('s1', 'src/b.ts', Date.now()), 'the others kept');
  hub.publish(2, 'lease.released', Buffer.from('{oops'));
  t.notOk(own.get('s1', 'src/b.ts', Date.now()), 'an event it cannot read: all forgotten');

  const cluster = new EditLeases(hub, renew, { exact: false, idleMs: 120_000, log: silentLogger() });
  t.match(cluster.set('s1', 'src/a.ts', { id: 'L3', expires_at: expires }, true), { id: 'L3' }, 'in a cluster, a copy to decide with');
  t.notOk(cluster.get('s1', 'src/a.ts', Date.now()), 'but none kept: another node may end it');
});
